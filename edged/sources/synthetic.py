"""A generated moving test pattern, for demos and tests on machines with no camera."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from edged.config.sources import SyntheticSourceConfig
from edged.cvutil import import_cv2
from edged.sources.capture import Capture, CaptureSpec, UnfixableCaptureError

__all__ = ["GaugeSceneCapture", "SyntheticCapture", "synthetic_spec"]


def synthetic_spec(config: SyntheticSourceConfig) -> CaptureSpec:
    return CaptureSpec(
        factory="edged.sources.synthetic:"
        + ("SyntheticCapture" if config.scene == "pattern" else "GaugeSceneCapture"),
        kwargs={"width": config.width, "height": config.height, "rate": config.rate}
        if config.scene == "pattern"
        else {
            "width": config.width,
            "height": config.height,
            "rate": config.rate,
            "gauges": config.gauges,
            "seed": config.seed,
            "period_s": config.period_s,
            "meters": config.meters,
            "displays": config.displays,
            "panels": config.panels,
        },
        isolated=False,
        label=f"synthetic {config.scene} {config.width}x{config.height}@{config.rate:g}",
    )


class SyntheticCapture(Capture):
    """Colour bars that scroll, a bouncing square, and the frame number in large digits.

    Every frame differs from the last, so previews, motion and drop counting can
    be checked by eye and by tests.
    """

    def __init__(self, width: int = 640, height: int = 480, rate: float = 15.0):
        self.width = width
        self.height = height
        self.pace_fps = rate
        self._n = 0
        hue = np.linspace(0, 179, width, dtype=np.float32).astype(np.uint8)
        hsv = np.stack(
            [
                np.tile(hue, (height, 1)),
                np.full((height, width), 200, np.uint8),
                np.full((height, width), 170, np.uint8),
            ],
            axis=-1,
        )
        self._bars = import_cv2().cvtColor(hsv, import_cv2().COLOR_HSV2BGR)

    def read(self) -> np.ndarray:
        cv2 = import_cv2()
        n = self._n
        self._n += 1
        image = np.roll(self._bars, shift=(n * 4) % self.width, axis=1)
        side = max(8, min(self.width, self.height) // 6)
        x = _bounce(n * 7, self.width - side)
        y = _bounce(n * 5, self.height - side)
        cv2.rectangle(image, (x, y), (x + side, y + side), (255, 255, 255), -1)
        scale = max(self.height / 240.0, 0.5)
        cv2.putText(
            image,
            f"{n:06d}",
            (10, int(50 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.5 * scale,
            (0, 0, 0),
            max(1, int(4 * scale)),
            cv2.LINE_AA,
        )
        return image

    def frame_meta(self) -> Dict[str, Any]:
        return {"synthetic_frame": self._n - 1}


def _bounce(position: int, span: int) -> int:
    """Position moving back and forth over [0, span]."""
    if span <= 0:
        return 0
    phase = position % (2 * span)
    return phase if phase <= span else 2 * span - phase


class GaugeSceneCapture(Capture):
    """Analog gauges whose needles move smoothly (``scene: gauges``, issue 7), and optionally
    water-meter sub-dials, seven-segment displays and panel meters.

    Each frame's ``meta`` carries the true values (``gauge_truth``: id, value,
    unit, and a display's ``text``), so previews and tests can compare readings with the truth.
    """

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        rate: float = 15.0,
        gauges: int = 2,
        seed: int = 0,
        period_s: float = 30.0,
        meters: int = 0,
        displays: int = 0,
        panels: int = 0,
    ):
        from edged.pipelines.gauge.scene import GaugeScene

        self.pace_fps = rate
        try:
            self._scene = GaugeScene(
                width, height, gauges, seed, rate, period_s, meters, displays, panels
            )
        except ValueError as exc:  # the scene does not fit the frame: retrying cannot help
            raise UnfixableCaptureError(str(exc)) from exc
        self._n = 0
        self._truth: List[Dict[str, Any]] = []

    def read(self) -> np.ndarray:
        image, self._truth = self._scene.render(self._n)
        self._n += 1
        return image

    def frame_meta(self) -> Dict[str, Any]:
        return {"synthetic_frame": self._n - 1, "gauge_truth": self._truth}
