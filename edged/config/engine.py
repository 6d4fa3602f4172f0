"""Per-pipeline inference-engine settings (``pipelines[].engine``).

The same model runs as a TensorRT engine on a Jetson and on ONNX Runtime
elsewhere; these knobs cover both, and a knob that does not apply to the
backend in use is ignored (a TensorRT build flag on a laptop, ONNX Runtime
threads on a Jetson). ``backend: auto`` is resolved by the engine factory at
load time, never here: loading config must not probe hardware.

Imports only pydantic and the standard library, so ``edged check`` and the
schema export run on any laptop.
"""

from __future__ import annotations

from typing import Dict, List, Literal, Optional

from pydantic import Field, field_validator, model_validator

from edged.config.base import EdgedModel
from edged.config.triton import TritonConfig, check_triton_section

__all__ = ["EngineConfig", "ShapeRange"]


class ShapeRange(EdgedModel):
    """A TensorRT optimisation-profile range for one dynamic input."""

    min: List[int] = Field(
        ..., description="smallest shape the engine must accept, e.g. [1, 3, 224, 224]"
    )
    opt: List[int] = Field(..., description="shape TensorRT tunes kernels for (the common case)")
    max: List[int] = Field(..., description="largest shape; pinned buffers are sized for it")

    @model_validator(mode="after")
    def _ordered(self) -> ShapeRange:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError("min, opt and max must have the same rank")
        for lo, mid, hi in zip(self.min, self.opt, self.max):
            if lo < 1 or not lo <= mid <= hi:
                raise ValueError(
                    "each dimension needs 1 <= min <= opt <= max, "
                    f"got {self.min} / {self.opt} / {self.max}"
                )
        return self


class EngineConfig(EdgedModel):
    """How a pipeline's model is loaded and run."""

    backend: Literal["auto", "tensorrt", "onnxruntime", "triton"] = Field(
        "auto",
        description=(
            "inference backend; 'auto' uses TensorRT when tensorrt and pycuda import and a "
            "GPU is present, else ONNX Runtime; 'triton' sends the tensors to the server in "
            "`triton`"
        ),
    )
    triton: Optional[TritonConfig] = Field(
        None, description="the inference server, for backend: triton"
    )
    fp16: bool = Field(
        False,
        description="TensorRT build: allow FP16 kernels (TensorRT < 11; for 11.x convert the ONNX)",
    )
    int8: bool = Field(
        False, description="TensorRT build: allow INT8 kernels, calibrated on calibration_dir"
    )
    calibration_dir: Optional[str] = Field(
        None,
        description="directory of .npy (single input) or .npz (by input name) calibration batches",
    )
    workspace_mb: int = Field(
        512, gt=0, description="TensorRT build: scratch GPU memory the builder may use, in MiB"
    )
    shapes: Dict[str, ShapeRange] = Field(
        default_factory=dict,
        description="TensorRT build: optimisation-profile ranges for inputs with dynamic dims",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime threads inside one operator; 0 = one per physical core"
    )
    inter_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime threads across operators (parallel mode only); 0 = auto"
    )
    allow_spinning: bool = Field(
        False,
        description=(
            "ONNX Runtime worker threads busy-wait between calls: slightly lower latency, "
            "but a paced pipeline burns a core while it waits for frames"
        ),
    )
    providers: List[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description=(
            "ONNX Runtime execution providers in order of preference; ones not installed are "
            "skipped with a warning and CPUExecutionProvider is always the last resort"
        ),
    )
    warmup_iters: int = Field(3, ge=0, description="calls on zeros right after loading")
    warmup_shapes: Dict[str, List[int]] = Field(
        default_factory=dict,
        description="input shapes for warmup where the model has dynamic dims (default: 1)",
    )
    cache_dir: Optional[str] = Field(
        None,
        description=(
            "where built TensorRT plans are cached; default /var/cache/edged/engines, else "
            "$XDG_CACHE_HOME/edged/engines or ~/.cache/edged/engines"
        ),
    )
    fallback_while_building: bool = Field(
        True,
        description=(
            "serve the ONNX model on ONNX Runtime while its TensorRT plan builds in the "
            "background (minutes on a Jetson), then switch over"
        ),
    )

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, value: List[str]) -> List[str]:
        bad = [p for p in value if not p.endswith("ExecutionProvider")]
        if bad:
            raise ValueError(
                f"unknown provider name(s) {bad}; use ONNX Runtime names such as "
                "CUDAExecutionProvider, CPUExecutionProvider"
            )
        return value

    @model_validator(mode="after")
    def _triton_needs_a_server(self) -> EngineConfig:
        check_triton_section(self.backend, self.triton)
        return self

    @model_validator(mode="after")
    def _calibration_needed(self) -> EngineConfig:
        if self.int8 and not self.calibration_dir:
            raise ValueError("int8: true needs calibration_dir (a directory of sample batches)")
        return self
