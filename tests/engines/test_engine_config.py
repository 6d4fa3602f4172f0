"""``EngineConfig``: defaults, bounds and the cross-field rules."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from edged.config.engine import EngineConfig, ShapeRange
from edged.engines.build import BuildOptions


def test_defaults_suit_a_small_device():
    cfg = EngineConfig()
    assert cfg.backend == "auto" and cfg.providers == ["CPUExecutionProvider"]
    assert cfg.allow_spinning is False and cfg.fallback_while_building is True
    assert cfg.warmup_iters == 3 and cfg.cache_dir is None


@pytest.mark.parametrize(
    "bad",
    [
        {"backend": "openvino"},
        {"workspace_mb": 0},
        {"intra_op_threads": -1},
        {"warmup_iters": -1},
        {"int8": True},
        {"providers": ["CUDA"]},
        {"shapes": {"x": {"min": [2], "opt": [1], "max": [4]}}},
        {"shapes": {"x": {"min": [1], "opt": [1, 2], "max": [4]}}},
        {"fp61": True},
    ],
)
def test_invalid_values_are_errors(bad):
    with pytest.raises(ValidationError):
        EngineConfig(**bad)


def test_schema_exports_and_every_field_is_described():
    schema = EngineConfig.model_json_schema()
    json.dumps(schema)
    assert all(p.get("description") for p in schema["properties"].values())


def test_build_options_from_config():
    cfg = EngineConfig(
        fp16=True,
        workspace_mb=128,
        shapes={"image": ShapeRange(min=[1, 3], opt=[2, 3], max=[4, 3])},
    )
    options = BuildOptions.from_config(cfg)
    assert options.fp16 and options.workspace_mb == 128
    assert options.shapes == {"image": ((1, 3), (2, 3), (4, 3))}
