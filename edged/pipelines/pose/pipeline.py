"""The ``pose`` pipeline: trt_pose model -> exact trt_pose parse -> people in frame pixels."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edged.config.pose import PosePipelineConfig
from edged.frames import Frame
from edged.pipelines.base import Pipeline, stage_timings_ms
from edged.pipelines.pose.draw import draw_persons
from edged.pipelines.pose.parse import ParseFunction, parse_objects, selected_implementation
from edged.pipelines.pose.preprocess import preprocessor_for
from edged.pipelines.pose.topology import Topology
from edged.results import Result

__all__ = ["PosePipeline", "persons_from_parse"]

log = logging.getLogger(__name__)

#: Frames per engine call when ``process_batch`` is used without a ``batch:`` setting.
MAX_BATCH = 64


class PosePipeline(Pipeline):
    """Runs any trt_pose-style model (input ``input``, outputs ``cmap`` and ``paf``)."""

    kind = "pose"

    def __init__(self, config: PosePipelineConfig, engine_factory: Any = None):
        super().__init__(config)
        self.topology = (
            Topology.from_json(config.topology) if config.topology else Topology.human_pose()
        )
        self._topology_array = self.topology.to_array()
        self._engine_factory = engine_factory
        self.engine: Any = None
        self._owns_engine = True
        self.preprocessor: Optional[Callable[[np.ndarray], np.ndarray]] = None
        self._input_name = "input"
        # the parse implementation, chosen in open() ($EDGED_POSE_PARSE)
        self._parse: ParseFunction = parse_objects
        self._parse_name: Optional[str] = None
        # process_batch: frames stacked here (grown on demand), and how calls are made
        self._stacked: Optional[np.ndarray] = None
        self._batching: Optional[str] = None

    def model_request(self) -> Optional[Tuple[str, Any]]:
        if self._engine_factory is not None:
            return None
        return self.config.model, self.config.engine

    def use_engine(self, engine: Any) -> None:
        self.engine = engine
        self._owns_engine = False

    def open(self) -> None:
        self._choose_parse()  # before the model: a bad setting fails at once
        if self.engine is None:
            if self._engine_factory is not None:
                self.engine = self._engine_factory(self.config)
            else:  # standalone use (edged infer): open it here, blocking
                from edged.engines import create_engine

                self.engine = create_engine(
                    self.config.model, options=self.config.engine, name=self.config.id
                )
        spec = self.engine.inputs[0]
        self._input_name = spec.name
        self.preprocessor = preprocessor_for(spec, self.config.model)
        self._check_outputs()
        if self.config.batch is not None:
            self._batch_limit()  # says now (and once) when the model cannot batch

    def _choose_parse(self) -> None:
        """Resolve ``$EDGED_POSE_PARSE`` once, so a bad value fails the pipeline at start
        (naming the variable and its values) instead of every frame and the status page."""
        try:
            self._parse_name, self._parse = selected_implementation()
        except (ValueError, ImportError) as exc:
            raise ValueError(f"pose pipeline {self.config.id}: {exc}") from exc

    def _check_outputs(self) -> None:
        names = [o.name for o in self.engine.outputs]
        if "cmap" not in names or "paf" not in names:
            raise ValueError(
                f"model {self.config.model} outputs {names}; a pose model must output "
                "'cmap' and 'paf' (export it with edged export pose)"
            )
        cmap_channels = dict((o.name, o.shape) for o in self.engine.outputs)["cmap"][1]
        if isinstance(cmap_channels, int) and cmap_channels != len(self.topology.keypoints):
            raise ValueError(
                f"model {self.config.model} has {cmap_channels} CMAP channels but the topology "
                f"has {len(self.topology.keypoints)} keypoints; set `topology:` to the model's "
                "task JSON"
            )

    def preprocess(self, frame: Frame) -> np.ndarray:
        return self.preprocessor(frame.image)

    def infer(self, batch: np.ndarray) -> Dict[str, np.ndarray]:
        return self.engine.infer({self._input_name: batch})

    def postprocess(self, outputs: Dict[str, np.ndarray], frame: Frame) -> Dict[str, Any]:
        return self._payloads(outputs, [frame])[0]

    def process_batch(self, frames: Sequence[Frame]) -> List[Result]:
        """Frames of several cameras through the model in as few calls as it allows.

        Each result equals what ``process`` gives for its frame; the timings are those
        of the call that carried it (shared by the frames in it). A model with a fixed
        batch axis gets one call per frame.
        """
        limit = self._batch_limit()
        if limit <= 1:
            return super().process_batch(frames)
        results: List[Result] = []
        for start in range(0, len(frames), limit):
            results.extend(self._process_together(frames[start : start + limit]))
        return results

    def _process_together(self, frames: Sequence[Frame]) -> List[Result]:
        """One engine call and one batched parse for up to ``_batch_limit()`` frames."""
        if len(frames) == 1:
            return [self.process(frames[0])]
        t0 = time.perf_counter()
        batch = self._stack(frames)
        t1 = time.perf_counter()
        outputs = self.infer(batch)
        t2 = time.perf_counter()
        payloads = self._payloads(outputs, frames)
        t3 = time.perf_counter()
        timings = stage_timings_ms(t0, t1, t2, t3)
        return [
            Result(self.id, self.kind, frame, payload, dict(timings))
            for frame, payload in zip(frames, payloads)
        ]

    def _stack(self, frames: Sequence[Frame]) -> np.ndarray:
        """Preprocess each frame into one [N, ...] array.

        The preprocessor refills the same [1, ...] buffer every call, so each frame is
        copied out of it before the next; the stack itself is reused between batches.
        """
        first = self.preprocess(frames[0])
        count = len(frames)
        if self._stacked is None or self._stacked.shape[0] < count:
            self._stacked = np.empty((count, *first.shape[1:]), first.dtype)
        stacked = self._stacked[:count]
        stacked[0] = first[0]
        for index in range(1, count):
            stacked[index] = self.preprocess(frames[index])[0]
        return stacked

    def _batch_limit(self) -> int:
        """Frames per engine call: what ``batch.max`` asks, as far as the model allows.

        Read before every batch: the model manager may swap ONNX Runtime (no limit) for a
        TensorRT plan (its profile's maximum).
        """
        wanted = self.config.batch.max if self.config.batch is not None else MAX_BATCH
        engine_limit, why = self._engine_limit()
        limit = wanted if engine_limit is None else max(1, min(wanted, engine_limit))
        self._note_batching(limit, why if limit < wanted else None)
        return limit

    def _engine_limit(self) -> Tuple[Optional[int], str]:
        """Frames the model takes in one call (None: any number), and what limits it."""
        first = self.engine.inputs[0].shape[0]
        if isinstance(first, int):  # trt_pose exports have batch 1 unless told otherwise
            return 1, (
                f"its input has a fixed batch axis ({first}); "
                "export it with edged export pose --dynamic-batch"
            )
        limit = getattr(self.engine, "max_batch", None)
        return limit, (
            f"its engine takes at most {limit} per call; "
            "build the TensorRT plan with a batch range in engine.shapes"
        )

    def _note_batching(self, limit: int, why: Optional[str]) -> None:
        """Keep how frames go through the model for ``describe``; log it when it changes."""
        note = f"up to {limit} frames per engine call" if limit > 1 else "one call per frame"
        if why is not None:
            note += f" ({why})"
        if note == self._batching:
            return
        self._batching = note
        if why is None:
            log.info("pose pipeline %s: %s", self.id, note)
        else:
            log.warning(
                "pose pipeline %s: batch.max is %s but model %s runs %s",
                self.id,
                self.config.batch.max if self.config.batch is not None else MAX_BATCH,
                self.config.model,
                note,
            )

    def _payloads(
        self, outputs: Dict[str, np.ndarray], frames: Sequence[Frame]
    ) -> List[Dict[str, Any]]:
        """People per frame from one call's outputs (item i of the batch is frame i)."""
        config = self.config
        counts, objects, peaks = self._parse(
            outputs["cmap"],
            outputs["paf"],
            self._topology_array,
            cmap_threshold=config.cmap_threshold,
            link_threshold=config.link_threshold,
            cmap_window=config.cmap_window,
            line_integral_samples=config.line_integral_samples,
            max_num_parts=config.max_num_parts,
            max_num_objects=config.max_num_objects,
        )
        cmap = outputs["cmap"]
        return [
            {
                "persons": persons_from_parse(
                    cmap[index],
                    int(counts[index]),
                    objects[index],
                    peaks[index],
                    self.topology.keypoints,
                    frame.width,
                    frame.height,
                    config.min_keypoints,
                )
            }
            for index, frame in enumerate(frames)
        ]

    def close(self) -> None:
        if self.engine is not None and self._owns_engine:
            self.engine.close()
        self.engine = None

    def describe(self) -> Dict[str, Any]:
        # which parse runs (compiled or numpy) decides how much CPU a frame costs; None until
        # open() has chosen it (or when the choice failed: last_error says why)
        info: Dict[str, Any] = {"model": self.config.model, "parse": self._parse_name}
        if self.config.batch is not None:
            info["batching"] = self._batching  # None until open() has seen the model
        engine = self.engine  # read once: close() may clear it on the pipeline's thread
        if engine is not None:
            described = engine.describe()
            info["backend"] = described.get("backend")
            info["engine"] = described
        return info

    def draw(self, image: np.ndarray, result: Result) -> np.ndarray:
        return draw_persons(
            image, result.payload["persons"], self.topology.keypoints, self.topology.skeleton
        )

    def summary(self, result: Result) -> Dict[str, Any]:
        return {"persons": len(result.payload["persons"])}


def persons_from_parse(
    cmap: np.ndarray,
    count: int,
    objects: np.ndarray,
    peaks: np.ndarray,
    names: List[str],
    width: int,
    height: int,
    min_keypoints: int = 1,
) -> List[Dict[str, Any]]:
    """People as ``{score, keypoints: {name: [x, y, score]}}`` in frame pixels, best first.

    A keypoint's score is the CMAP value at its refined peak (bilinear); a
    person's score is the mean of its keypoints' scores. All keypoints of all people are
    looked up in one batch of numpy calls: per person, the calls cost more than the
    arithmetic (about 0.1 ms a person, most of a frame's overhead with the compiled parse).
    """
    _, map_h, map_w = cmap.shape
    objs = objects[:count]
    found = objs >= 0
    owner, parts = np.nonzero(found)  # row-major: by person, then by part
    yx = peaks[parts, objs[owner, parts]]  # normalised (y, x) in [0, 1]
    scores = _bilinear(cmap, parts, yx[:, 0] * map_h - 0.5, yx[:, 1] * map_w - 0.5)
    xs = (yx[:, 1].astype(np.float64) * width).tolist()
    ys = (yx[:, 0].astype(np.float64) * height).tolist()
    part_list, score_list = parts.tolist(), scores.tolist()
    persons = []
    end = 0
    for n in found.sum(axis=1).tolist():
        start, end = end, end + n
        if n < min_keypoints or n == 0:
            continue
        keypoints = {
            names[part_list[i]]: [round(xs[i], 2), round(ys[i], 2), round(score_list[i], 4)]
            for i in range(start, end)
        }
        score = round(float(scores[start:end].mean()), 4)
        persons.append({"score": score, "keypoints": keypoints})
    persons.sort(key=lambda person: -person["score"])
    return persons


def _bilinear(cmap: np.ndarray, parts: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> Any:
    _, h, w = cmap.shape
    rows = np.clip(rows, 0, h - 1)
    cols = np.clip(cols, 0, w - 1)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, h - 1)
    c1 = np.minimum(c0 + 1, w - 1)
    fr = rows - r0
    fc = cols - c0
    top = cmap[parts, r0, c0] * (1 - fc) + cmap[parts, r0, c1] * fc
    bottom = cmap[parts, r1, c0] * (1 - fc) + cmap[parts, r1, c1] * fc
    return top * (1 - fr) + bottom * fr
