"""The plan cache: keys, atomic writes, and rebuilding damaged or foreign plans."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from edged.config.engine import EngineConfig
from edged.engines import plans
from edged.engines.build import BuildOptions, build_plan
from edged.engines.cache import PlanCache, PlanKey, atomic_write, default_cache_dir
from edged.engines.digest import file_sha256
from edged.engines.factory import tensorrt_from_onnx
from edged.engines.probe import l4t_release

from .engine_models import build_model


@pytest.fixture
def counting_builder():
    """The real builder (on the fake TensorRT), counting its calls."""
    calls = []

    def builder(path, options):
        calls.append((str(path), options))
        return build_plan(path, options)

    builder.calls = calls
    return builder


def _key(**changes):
    fields = dict(
        model_sha256="ab" * 32,
        tensorrt="10.3.0",
        gpu="Orin",
        compute_capability="8.7",
        l4t="R36.3.0",
        flags=BuildOptions().cache_flags(),
    )
    fields.update(changes)
    return PlanKey(**fields)


def test_key_changes_with_every_ingredient():
    base = _key().digest()
    assert _key().digest() == base
    for change in (
        {"model_sha256": "cd" * 32},
        {"tensorrt": "8.6.1"},
        {"gpu": "Xavier"},
        {"compute_capability": "7.2"},
        {"l4t": "R35.4.1"},
        {"l4t": None},
        {"flags": BuildOptions(fp16=True).cache_flags()},
    ):
        assert _key(**change).digest() != base, change


def test_cache_dir_prefers_the_system_dir_then_xdg_then_home(tmp_path):
    system = tmp_path / "var" / "cache" / "edged" / "engines"
    assert default_cache_dir(system, {}) == system
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a directory cannot be created under a file, even by root
    unusable = blocker / "engines"
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert default_cache_dir(unusable, env) == tmp_path / "xdg" / "edged" / "engines"
    assert default_cache_dir(unusable, {"HOME": str(tmp_path / "home")}) == (
        tmp_path / "home" / ".cache" / "edged" / "engines"
    )


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.plan"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.plan"]


def test_store_then_load_roundtrip_with_sidecar(tmp_path):
    cache = PlanCache(tmp_path)
    key = _key()
    path = cache.store(key, "pose", b"PLANBYTES")
    assert path.name == "pose-%s.plan" % key.digest()[:16]
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["key"] == key.digest() and meta["tensorrt"] == "10.3.0"
    assert cache.load(key, "pose") == b"PLANBYTES"
    assert cache.load(_key(tensorrt="8.6.1"), "pose") is None


def test_damaged_plan_is_removed_with_a_warning(tmp_path, caplog):
    cache = PlanCache(tmp_path)
    path = cache.store(_key(), "pose", b"PLANBYTES" * 100)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert cache.load(_key(), "pose") is None
    assert "does not match" in caplog.text and "rebuilding" in caplog.text
    assert not path.exists() and not path.with_suffix(".json").exists()


def test_ensure_plan_builds_once_then_reuses(fake_gpu, onnx_model, tmp_path, counting_builder):
    fake_gpu("10.3.0")
    cache = PlanCache(tmp_path / "cache")
    first = plans.ensure_plan(onnx_model, BuildOptions(), cache=cache, builder=counting_builder)
    second = plans.ensure_plan(onnx_model, BuildOptions(), cache=cache, builder=counting_builder)
    assert first.built and not second.built
    assert first.path == second.path and first.plan == second.plan
    assert len(counting_builder.calls) == 1


def test_changed_flag_or_model_builds_a_new_plan(fake_gpu, onnx_model, tmp_path, counting_builder):
    fake_gpu("10.3.0")
    cache = PlanCache(tmp_path / "cache")
    a = plans.ensure_plan(onnx_model, BuildOptions(), cache=cache, builder=counting_builder)
    b = plans.ensure_plan(
        onnx_model, BuildOptions(fp16=True), cache=cache, builder=counting_builder
    )
    build_model(onnx_model, seed=7)  # retrained weights, same file name
    c = plans.ensure_plan(onnx_model, BuildOptions(), cache=cache, builder=counting_builder)
    assert len({a.path, b.path, c.path}) == 3
    assert b.built and c.built and len(counting_builder.calls) == 3


def test_key_includes_gpu_and_l4t(fake_gpu, monkeypatch):
    gpu = fake_gpu("10.3.0")
    monkeypatch.setattr(plans, "l4t_release", lambda: "R36.3.0")
    key = plans.plan_key("00" * 32, BuildOptions())
    assert (key.gpu, key.compute_capability, key.l4t, key.tensorrt) == (
        "Fake Orin",
        "8.7",
        "R36.3.0",
        "10.3.0",
    )
    gpu.cuda.gpu_name = "Fake Xavier"
    assert plans.plan_key("00" * 32, BuildOptions()).digest() != key.digest()


def test_lookup_only_never_builds(fake_gpu, onnx_model, tmp_path, counting_builder):
    fake_gpu("10.3.0")
    cache = PlanCache(tmp_path)
    found = plans.ensure_plan(
        onnx_model, BuildOptions(), cache=cache, builder=counting_builder, lookup_only=True
    )
    assert found is None and counting_builder.calls == []


def test_corrupt_cached_plan_is_rebuilt_with_a_warning(fake_gpu, onnx_model, tmp_path, caplog):
    gpu = fake_gpu("10.3.0")
    options = EngineConfig(cache_dir=str(tmp_path / "cache"))
    with tensorrt_from_onnx(onnx_model, options) as eng:
        first_plan = eng.plan_path
    assert gpu.trt.builds == 1
    # damage the plan on disk
    plan_path = tmp_path / "cache" / first_plan.split("/")[-1]
    plan_path.write_bytes(b"garbage" + plan_path.read_bytes()[7:])
    with caplog.at_level(logging.WARNING), tensorrt_from_onnx(onnx_model, options) as eng:
        out = eng.infer({"image": np.ones((1, 3, 8, 8), np.float32)})
    assert gpu.trt.builds == 2
    assert "rebuilding" in caplog.text
    np.testing.assert_allclose(out["features"], np.full((1, 3, 8, 8), 3.0))


def test_plan_tensorrt_refuses_is_rebuilt_with_a_warning(fake_gpu, onnx_model, tmp_path, caplog):
    gpu = fake_gpu("10.3.0")
    options = EngineConfig(cache_dir=str(tmp_path / "cache"))
    cache = PlanCache(tmp_path / "cache")
    key = plans.plan_key(file_sha256(onnx_model), BuildOptions.from_config(options))
    # checksum-valid, but serialised by "another TensorRT": deserialisation fails
    cache.store(key, "tiny", b"TRT-8.2-PLAN-FROM-A-NANO")
    with caplog.at_level(logging.WARNING), tensorrt_from_onnx(onnx_model, options) as eng:
        assert eng.infer({"image": np.ones((1, 3, 8, 8), np.float32)})["logits"].shape == (
            1,
            3,
            8,
            8,
        )
    assert gpu.trt.builds == 1
    assert "refused by TensorRT" in caplog.text
    assert cache.load(key, "tiny").startswith(b"FAKEPLAN")


def test_l4t_release_parsing(tmp_path):
    release = tmp_path / "nv_tegra_release"
    release.write_text(
        "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
        "DATE: Tue Aug  1 19:57:35 UTC 2023\n"
    )
    assert l4t_release(str(release)) == "R35.4.1"
    assert l4t_release(str(tmp_path / "absent")) is None
