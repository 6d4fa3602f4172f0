"""The pipeline interface: preprocess -> engine -> postprocess -> Result, off the event loop."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edged.engines.errors import EngineUnavailableError
from edged.frames import Frame
from edged.results import Result

__all__ = ["PartialBatchError", "Pipeline", "stage_timings_ms"]


def stage_timings_ms(t0: float, t1: float, t2: float, t3: float) -> Dict[str, float]:
    """The three stages' times in ms, from ``perf_counter`` stamps taken between them."""
    return {
        "preprocess": (t1 - t0) * 1000.0,
        "infer": (t2 - t1) * 1000.0,
        "postprocess": (t3 - t2) * 1000.0,
    }


class Pipeline:
    """One model (or none) applied to frames; subclasses override the three stages.

    All three stages run on the pipeline's own single thread (``executor``):
    an engine's CUDA context belongs to one thread, and the event loop must
    never wait on inference. ``process`` times each stage; ``process_batch``
    runs frames of several sources together (``batch:`` in the config).
    """

    kind = "base"

    def __init__(self, config: Any):
        self.config = config
        self.id: str = config.id
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pipeline-{self.id}")
        self.processed = 0
        self.errors = 0
        self.last_result: Optional[Result] = None
        self.timings_ms: Dict[str, float] = {}

    # -- the model, for kinds that have one ---------------------------------------

    def model_request(self) -> Optional[Tuple[str, Any]]:
        """``(model path, EngineConfig)`` for the daemon's model manager, or None.

        When a pipeline asks, the daemon loads the model through its
        ``ModelManager`` (which builds TensorRT plans in the background and
        serves ONNX Runtime meanwhile) and hands the engine over with
        ``use_engine`` before ``open``.
        """
        return None

    def use_engine(self, engine: Any) -> None:
        """Take an engine owned by someone else (the daemon's model manager)."""
        raise NotImplementedError

    # -- stages, overridden by each kind -------------------------------------------

    def open(self) -> None:
        """Load models; runs on the executor before the first frame."""

    def preprocess(self, frame: Frame) -> Any:
        return frame.image

    def infer(self, batch: Any) -> Any:
        return batch

    def postprocess(self, outputs: Any, frame: Frame) -> Dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release models; runs on the executor after the last frame."""

    def describe(self) -> Dict[str, Any]:
        """Model and backend facts for the status page."""
        return {}

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        """Overlay this result on a copy of the frame (previews); default: unchanged."""
        return image

    def summary(self, result: Result) -> Dict[str, Any]:
        """A few fields of the last result worth showing on the status page."""
        return {}

    # -- the driver ----------------------------------------------------------------

    def process(self, frame: Frame) -> Result:
        """Run the three stages on one frame (call on ``executor``)."""
        t0 = time.perf_counter()
        batch = self.preprocess(frame)
        t1 = time.perf_counter()
        outputs = self.infer(batch)
        t2 = time.perf_counter()
        payload = self.postprocess(outputs, frame)
        t3 = time.perf_counter()
        return Result(self.id, self.kind, frame, payload, stage_timings_ms(t0, t1, t2, t3))

    def process_batch(self, frames: Sequence[Frame]) -> List[Result]:
        """Results for several frames, in their order (call on ``executor``).

        The default runs ``process`` on each: right for pipelines without a model,
        or whose model cannot take a batch. Kinds whose engine takes several frames
        in one call override it; each result must equal what ``process`` gives.
        A frame that fails does not cost the others their results: they come in a
        ``PartialBatchError`` with the frames that failed.
        """
        results: List[Result] = []
        failed: List[Frame] = []
        error: Optional[Exception] = None
        for i, frame in enumerate(frames):
            try:
                results.append(self.process(frame))
            except EngineUnavailableError as exc:  # the rest would wait on the server too
                raise PartialBatchError(results, list(frames[i:]), exc) from exc
            except Exception as exc:
                failed.append(frame)
                error = error or exc
        if error is not None:
            raise PartialBatchError(results, failed, error) from error
        return results


class PartialBatchError(Exception):
    """Some frames of a batch failed: the others' ``results``, the ``failed`` frames and the
    first ``error`` (the runner publishes the results and counts the failures)."""

    def __init__(self, results: List[Result], failed: List[Frame], error: Exception):
        super().__init__(f"{len(failed)} of {len(results) + len(failed)} frames failed: {error}")
        self.results = results
        self.failed = failed
        self.error = error
