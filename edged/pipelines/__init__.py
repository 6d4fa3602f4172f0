"""Pipelines: one module (or package) per kind, built from config by ``create_pipeline``."""

from __future__ import annotations

from typing import Any, Callable, Dict

from edged.pipelines.base import Pipeline

__all__ = ["PIPELINE_KINDS", "Pipeline", "create_pipeline"]


def _motion(config: Any) -> Pipeline:
    from edged.pipelines.motion import MotionPipeline

    return MotionPipeline(config)


def _pose(config: Any) -> Pipeline:
    from edged.pipelines.pose.pipeline import PosePipeline

    return PosePipeline(config)


def _gauge(config: Any) -> Pipeline:
    from edged.pipelines.gauge.pipeline import GaugePipeline

    return GaugePipeline(config)


#: kind -> factory; tests and plugins may add their own kinds here.
PIPELINE_KINDS: Dict[str, Callable[[Any], Pipeline]] = {
    "motion": _motion,
    "pose": _pose,
    "gauge": _gauge,
}


def create_pipeline(config: Any) -> Pipeline:
    return PIPELINE_KINDS[config.kind](config)
