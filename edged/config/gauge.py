"""Config of the ``gauge`` pipeline: the models and the gauges it reads.

A gauge entry is a dial (``type: analog``, the default) or a seven-segment
display (``type: digital``) read from its ``roi`` with the display model.

Angles are degrees, clockwise, 0 = 12 o'clock in the picture. ``start_angle``
is where the scale's minimum sits and ``sweep`` how far (clockwise when
positive, counter-clockwise when negative) its maximum lies; without them the
model's own scale endpoints are used. Full-circle dials (water meters), whose
start and end coincide, read better with them set.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional, Tuple, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator
from typing_extensions import Annotated, Literal

from edged.config.base import EdgedModel
from edged.config.pipeline_base import PipelineBase
from edged.config.sources import ID_DESCRIPTION, ID_PATTERN
from edged.config.triton import TritonConfig, check_triton_section

__all__ = [
    "DEFAULT_DIRECTION_MODEL",
    "DEFAULT_DISPLAY_MODEL",
    "DEFAULT_GAUGE_MODEL",
    "DEFAULT_PANEL_MODEL",
    "DEFAULT_POINTER_MODEL",
    "DigitalGaugeConfig",
    "GaugeConfig",
    "GaugeEntry",
    "GaugePipelineConfig",
]

DEFAULT_GAUGE_MODEL = "weights/gauge_kp_w32.onnx"
DEFAULT_POINTER_MODEL = "weights/gauge_pointer.onnx"
DEFAULT_PANEL_MODEL = "weights/gauge_panel_pointer.onnx"
DEFAULT_DISPLAY_MODEL = "weights/display_crnn.onnx"
DEFAULT_DIRECTION_MODEL = "weights/gauge_direction.onnx"

#: Largest scale value: far beyond any dial, small enough that the span and the
#: interpolated readings stay finite and exact to many digits.
MAX_SCALE_VALUE = 1e12
#: Smallest span relative to the scale's magnitude: below it readings are rounding noise.
MIN_SCALE_SPAN = 1e-9


class GaugeConfig(EdgedModel):
    """One gauge the pipeline reads, and how its scale maps to values."""

    type: Literal["analog"] = Field(
        "analog", description="analog: a dial with a needle (the default); digital: see below"
    )
    id: str = Field(pattern=ID_PATTERN, description=ID_DESCRIPTION)
    name: Optional[str] = Field(None, description="Human-readable name (status page)")
    unit: str = Field("", description="Unit of the value, e.g. 'bar'")
    min_value: float = Field(
        ge=-MAX_SCALE_VALUE,
        le=MAX_SCALE_VALUE,
        description="Value at the scale's start (may exceed max_value on a reversed scale)",
    )
    max_value: float = Field(
        ge=-MAX_SCALE_VALUE, le=MAX_SCALE_VALUE, description="Value at the scale's end"
    )
    start_angle: Optional[float] = Field(
        None, ge=0, lt=360, description="Where the minimum sits: degrees clockwise from 12 o'clock"
    )
    sweep: Optional[float] = Field(
        None,
        ge=-360,
        le=360,
        description="Degrees from minimum to maximum, clockwise if positive, counter-clockwise if "
        "negative; set with start_angle",
    )
    roi: Optional[Tuple[int, int, int, int]] = Field(
        None, description="[x, y, w, h] in frame pixels where this gauge is (fixed cameras)"
    )
    position: Optional[Tuple[float, float]] = Field(
        None,
        description="[x, y] in frame pixels near the gauge's centre: picks this gauge among "
        "several found outside any roi",
    )
    table: Optional[List[Tuple[float, float]]] = Field(
        None,
        description="Non-linear scale: [[angle from the start along the scale (deg), value], …]; "
        "replaces min/max interpolation",
    )
    smoothing: float = Field(
        1.0,
        gt=0,
        le=1,
        description="EMA weight of a new reading (1 = no smoothing); a reading by another model, "
        "or ok after readings that were not (or the other way round), starts the average afresh",
    )
    max_rate: Optional[float] = Field(
        None, gt=0, description="Plausibility: largest believable change in value units per second"
    )
    min_confidence: float = Field(
        0.4, ge=0, le=1, description="Below this a reading is reported as low_confidence"
    )
    reader: Literal["auto", "keypoints", "pointer", "panel"] = Field(
        "auto",
        description="Which model reads this gauge: 'keypoints' finds the dial and reads thin "
        "needles; 'pointer' reads a tight roi around one dial from the whole crop (the broad "
        "paddle pointers of water/gas meter sub-dials); 'panel' reads a panel meter (ammeter, "
        "voltmeter: rectangular face, pivot hidden at its edge or corner) in its roi, its "
        "scale from start_angle/sweep (seen from the pivot) or, without them, from where the "
        "model sees the scale begin and end (an roi it reads unsure it searches for the meter, "
        "zooming in, and the next frames read first the window where it found it; a tight roi "
        "is still the most accurate and the cheapest); 'auto' uses the "
        "pointer model for a full-circle dial (sweep 360 or -360) with a roughly square roi "
        "(sides within 1.6x), else the keypoints, and where they read a dial with an roi (or "
        "a pipeline's only gauge, whose roi for this is the frame, or the square 2.4 times "
        "the dial's radius around it where the dial is small in the frame, the frame where "
        "that square gives no value) unsure or not at all (or "
        "read a dial without a round rim, a panel meter, on a scale of their own, even ok), "
        "the panel model's reading of the roi (searched as with "
        "'panel') if it is sure of it, or if both read it unsure and see the needle in about "
        "the same place (a value flagged low_confidence; a panel meter the keypoints miss; "
        "the panel model says unreadable of round dials; two unsure needles far apart give "
        "unreadable), or if the keypoints found the needle but no scale and the panel model "
        "sees the same needle, or if the keypoints read no value (or found a needle within "
        "45 degrees of the panel model's) and at least 8 of 9 framings of the roi (shifted, "
        "zoomed, turned a little) give the panel model a value within 5 % of the span of one "
        "framing's (an unsure panel reading takes the value most framings agree on). The "
        "pointer and "
        "panel models report the roi's centre (the panel model's: that of the window it "
        "searched) as the dial's centre",
    )

    @model_validator(mode="after")
    def _reader(self) -> GaugeConfig:
        if self.reader in ("pointer", "panel") and self.roi is None:
            raise ValueError(
                f"reader '{self.reader}' reads one dial in its roi: set roi "
                "[x, y, w, h], or use reader 'keypoints' to find the dial in the whole frame"
            )
        return self

    @model_validator(mode="after")
    def _scale(self) -> GaugeConfig:
        span = abs(self.max_value - self.min_value)
        if span <= MIN_SCALE_SPAN * max(abs(self.min_value), abs(self.max_value)):
            raise ValueError(
                "min_value and max_value must differ by more than rounding: "
                f"{self.min_value!r} and {self.max_value!r} are the same to 1 part in 10^9"
            )
        if (self.start_angle is None) != (self.sweep is None):
            raise ValueError("set start_angle and sweep together, or neither")
        if self.sweep is not None and self.sweep == 0:
            raise ValueError("sweep must not be 0")
        return self

    @field_validator("roi")
    @classmethod
    def _roi(
        cls, value: Optional[Tuple[int, int, int, int]]
    ) -> Optional[Tuple[int, int, int, int]]:
        return _check_roi(value)

    @field_validator("table")
    @classmethod
    def _table(
        cls, value: Optional[List[Tuple[float, float]]]
    ) -> Optional[List[Tuple[float, float]]]:
        if value is None:
            return value
        if len(value) < 2:
            raise ValueError("a table needs at least two [angle, value] points")
        angles = [a for a, _ in value]
        if any(b <= a for a, b in zip(angles, angles[1:])):
            raise ValueError("table angles must increase")
        if angles[0] < 0 or angles[-1] > 360:
            raise ValueError("table angles lie within 0..360 degrees from the scale's start")
        return value


#: no camera frame is larger (drawing a far larger roi would fail in OpenCV)
MAX_ROI_PX = 16384


def _check_roi(value: Any) -> Any:
    if value is not None and (
        value[0] < 0
        or value[1] < 0
        or value[2] < 8
        or value[3] < 8
        or max(value[0] + value[2], value[1] + value[3]) > MAX_ROI_PX
    ):
        raise ValueError(
            f"roi is [x, y, w, h] in frame pixels, with x, y >= 0, w, h >= 8 and "
            f"x + w, y + h <= {MAX_ROI_PX}"
        )
    return value


_NO_NEEDLE = "a digital gauge is a seven-segment display: it has no needle or scale"


class DigitalGaugeConfig(EdgedModel):
    """A seven-segment display (LCD/LED) read from its roi with the display model."""

    #: keys of a dial that a display has no use for, and what to do instead (the config loader
    #: reports them with this text rather than only "extra inputs are not permitted")
    refused_keys: ClassVar[Dict[str, Tuple[str, str]]] = {
        **{
            key: (_NO_NEEDLE, f"remove {key}")
            for key in ("start_angle", "sweep", "table", "reader", "max_rate", "smoothing")
        },
        "min_value": (_NO_NEEDLE, "remove min_value; min is the display's plausibility limit"),
        "max_value": (_NO_NEEDLE, "remove max_value; max is the display's plausibility limit"),
        "position": (
            "a digital gauge is read from its roi only",
            "remove position and set roi [x, y, w, h]",
        ),
        "min_confidence": (
            "a display's digits are each read or unreadable, never guessed",
            "remove min_confidence",
        ),
    }

    type: Literal["digital"] = Field(
        description="digital: a seven-segment display (LCD/LED) showing the value as digits"
    )
    id: str = Field(pattern=ID_PATTERN, description=ID_DESCRIPTION)
    name: Optional[str] = Field(None, description="Human-readable name (status page)")
    unit: str = Field("", description="Unit of the value, e.g. 'degC'")
    roi: Tuple[int, int, int, int] = Field(
        description="[x, y, w, h] in frame pixels: the display's glass, with little else"
    )
    decimals: Optional[int] = Field(
        None,
        ge=0,
        le=7,
        description="Digits the display shows after its decimal point; a reading with another "
        "count is unreadable (a missed or extra point would scale the value tenfold)",
    )
    min: Optional[float] = Field(
        None,
        ge=-MAX_SCALE_VALUE,
        le=MAX_SCALE_VALUE,
        description="Plausibility: smallest believable value; below it the reading is out_of_range",
    )
    max: Optional[float] = Field(
        None,
        ge=-MAX_SCALE_VALUE,
        le=MAX_SCALE_VALUE,
        description="Plausibility: largest believable value; above it the reading is out_of_range",
    )

    @field_validator("roi")
    @classmethod
    def _roi(cls, value: Tuple[int, int, int, int]) -> Tuple[int, int, int, int]:
        return _check_roi(value)

    @model_validator(mode="after")
    def _limits(self) -> DigitalGaugeConfig:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(
                f"min ({self.min!r}) must be below max ({self.max!r}); swap them, or remove one"
            )
        return self


def _gauge_type(value: Any) -> Any:
    """The entry's ``type``; analog when it has none (entries written before displays)."""
    if isinstance(value, dict):
        return value.get("type", "analog")
    return getattr(value, "type", "analog")


GaugeEntry = Annotated[
    Union[Annotated[GaugeConfig, Tag("analog")], Annotated[DigitalGaugeConfig, Tag("digital")]],
    Discriminator(
        _gauge_type,
        custom_error_type="gauge_type",
        custom_error_message="type must be 'analog' (a dial, the default) or 'digital' "
        "(a seven-segment display)",
    ),
]


class GaugePipelineConfig(PipelineBase):
    """Gauge reading with edged's own models: dials (keypoints, pointer) and displays."""

    kind: Literal["gauge"] = Field(
        description="Gauge reading: analog dials and seven-segment displays"
    )
    model: str = Field(
        DEFAULT_GAUGE_MODEL,
        description="Keypoint model (.onnx, or a TensorRT plan); relative paths are tried from "
        "the working directory, then edged's install",
    )
    pointer_model: str = Field(
        DEFAULT_POINTER_MODEL,
        description="Pointer model for gauges read with reader 'pointer' (or 'auto' on a "
        "full-circle dial with an roi); loaded only when a gauge uses it",
    )
    panel_model: str = Field(
        DEFAULT_PANEL_MODEL,
        description="Panel-meter pointer model for gauges read with reader 'panel', and for "
        "the second opinion on dials with an roi (or a pipeline's only gauge, whose roi is "
        "the frame) and reader 'auto' (panel_second_opinion; a "
        "model that fails to load for that is only warned about); loaded at start when a "
        "gauge uses it",
    )
    panel_second_opinion: bool = Field(
        True,
        description="Read a dial with an roi (or a pipeline's only gauge, a dial without one: "
        "the frame is its roi, as the picture is to edged read-gauge) and reader 'auto' that "
        "the keypoints read unsure, "
        "or not at all, or read on a scale of their own without finding a round rim (a panel "
        "meter without start_angle/sweep: their ok there is weighed as unsure unless the panel "
        "model is sure, which costs its reading on every frame; configure start_angle/sweep "
        "or reader 'panel' for such a meter), with the panel model too, and "
        "take its reading where it is sure, or "
        "where both read it unsure and see the needle in about the same place (the panel "
        "meters the keypoint model misses; two unsure readings whose needles are far apart "
        "give unreadable unless the panel model is fairly sure), or where the keypoints read "
        "no value (or found a needle within 45 degrees of the panel model's) and its unsure "
        "reading holds in 8 of 9 framings of the roi (each unsure panel value is read in 8 "
        "more framings, each searched as the roi is, and takes the value most of them agree "
        "on); false: never "
        "load the panel model for them "
        "(one model less to build and hold in memory)",
    )
    direction_model: Optional[str] = Field(
        None,
        description="Scale direction model (edged's is " + DEFAULT_DIRECTION_MODEL + "): which "
        "way a dial's numbers run, for keypoint-read dials without start_angle/sweep, which the "
        "keypoints alone read as clockwise; off by default (it has not yet been shown to help "
        "on real photos: see weights/README.gauge-direction.md); relative paths are resolved "
        "as for model",
    )
    display_model: str = Field(
        DEFAULT_DISPLAY_MODEL,
        description="Seven-segment display model for gauges of type digital; loaded only when "
        "one exists; relative paths are resolved as for model",
    )
    backend: Literal["auto", "onnxruntime", "tensorrt", "triton"] = Field(
        "auto",
        description="Inference backend; auto picks TensorRT where it works; triton sends the "
        "tensors to the server in `triton`",
    )
    triton: Optional[TritonConfig] = Field(
        None,
        description="The inference server, for backend: triton; the models' names there are "
        "their files' stems (gauge_kp_w32, ...)",
    )
    threads: int = Field(1, ge=1, le=64, description="CPU threads for ONNX Runtime")
    max_gauges: int = Field(8, ge=1, le=64, description="Most dials looked for outside ROIs")
    gauges: List[GaugeEntry] = Field(
        min_length=1, description="The gauges to read: dials, and displays (type: digital)"
    )

    @model_validator(mode="after")
    def _triton_server(self) -> GaugePipelineConfig:
        check_triton_section(self.backend, self.triton)
        if self.triton is not None and self.triton.model_name:
            raise ValueError(
                "triton.model_name: a gauge pipeline runs up to five models (keypoints, "
                "pointer, panel, direction, display), named on the server after their files' "
                "stems; remove model_name"
            )
        return self

    @field_validator("gauges")
    @classmethod
    def _unique(
        cls, value: List[Union[GaugeConfig, DigitalGaugeConfig]]
    ) -> List[Union[GaugeConfig, DigitalGaugeConfig]]:
        seen = set()
        for g in value:
            if g.id in seen:
                raise ValueError(f"gauge id {g.id!r} is used twice")
            seen.add(g.id)
        return value
