"""Edits of the config file: comments and order kept, atomic replace with a backup."""

from __future__ import annotations

import os

import pytest

from edged.config import load_config, parse_config
from edged.config.edit import EditError, SaveError, edit_entry, stamp_text, write_atomically
from edged.redact import keep_secrets, redact_value, same_host

TEXT = """\
# plant line 3
device_id: line3
sources:
  # the first camera
  - id: cam0   # keep this comment
    kind: synthetic
    width: 64
  - {id: cam1, kind: synthetic, width: 64}
pipelines:
  - {id: motion0, kind: motion, source: cam0}  # watches cam0
"""


def test_add_replace_remove_keep_comments_order_and_style():
    added = edit_entry(TEXT, "sources", "cam2", {"id": "cam2", "kind": "synthetic", "rate": 5})
    assert added.startswith(TEXT.split("pipelines:")[0])  # everything before is untouched
    assert "  - id: cam2\n    kind: synthetic\n    rate: 5\npipelines:" in added
    config = parse_config(added)
    assert [s.id for s in config.sources] == ["cam0", "cam1", "cam2"]

    changed = edit_entry(added, "sources", "cam0", {"id": "cam0", "kind": "synthetic", "width": 80})
    assert "  - id: cam0   # keep this comment\n    kind: synthetic\n    width: 80\n" in changed
    assert "# the first camera" in changed and changed.startswith("# plant line 3\n")

    removed = edit_entry(changed, "pipelines", "motion0", None)
    assert parse_config(removed).pipelines == []
    assert edit_entry(TEXT, "pipelines", "motion0", None).count("# plant line 3") == 1


def test_a_new_entry_follows_the_style_of_its_list():
    text = "sources:\n  - id: cam0\n    kind: synthetic\n"
    out = edit_entry(text, "sources", "cam1", {"id": "cam1", "kind": "synthetic"})
    assert out == text + "  - id: cam1\n    kind: synthetic\n"
    flow = "sources:\n- {id: cam0, kind: synthetic}\n"
    out = edit_entry(flow, "sources", "cam1", {"id": "cam1", "kind": "synthetic"})
    assert out == flow + "- {id: cam1, kind: synthetic}\n"
    fresh = edit_entry(text, "pipelines", "m", {"id": "m", "kind": "motion", "source": "cam0"})
    assert parse_config(fresh).pipelines[0].id == "m"


def test_write_keeps_a_backup_and_the_mode(tmp_path):
    path = tmp_path / "edged.yaml"
    path.write_text(TEXT)
    os.chmod(path, 0o640)
    new = edit_entry(TEXT, "sources", "cam1", None)
    write_atomically(path, new)
    assert path.read_text() == new
    assert (tmp_path / "edged.yaml.bak").read_text() == TEXT
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert load_config(path).sources[0].id == "cam0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edged.yaml", "edged.yaml.bak"]


@pytest.mark.parametrize("fail_on", ["rename", "backup"])
def test_a_crash_before_the_rename_leaves_the_old_file(tmp_path, monkeypatch, fail_on):
    path = tmp_path / "edged.yaml"
    path.write_text(TEXT)
    real_replace = os.replace

    def replace(src, dst):
        if fail_on == "backup" or os.fspath(dst) == os.fspath(path):
            raise OSError(5, "simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="simulated crash"):
        write_atomically(path, "sources: []\n")
    assert path.read_text() == TEXT
    leftovers = {p.name for p in tmp_path.iterdir()} - {"edged.yaml", "edged.yaml.bak"}
    assert leftovers == set(), "a temporary file was left behind"


def test_stamps_tell_content_apart():
    assert stamp_text(TEXT).sha256 == stamp_text(TEXT, 5).sha256
    assert stamp_text(TEXT).sha256 != stamp_text(TEXT + "\n").sha256


def test_secrets_are_masked_and_kept_when_sent_back_masked():
    entry = {
        "id": "cam0",
        "kind": "rtsp",
        "uri": "rtsp://admin:p@ss@10.0.0.7/s1",
        "password": "hunter2",
        "password_file": "/etc/edged/cam0",
    }
    shown = redact_value(entry)
    assert shown["uri"] == "rtsp://***@10.0.0.7/s1" and shown["password"] == "***"
    assert shown["password_file"] == "/etc/edged/cam0"
    assert "hunter2" not in str(shown) and "p@ss" not in str(shown)
    assert keep_secrets(shown, entry) == entry
    moved = dict(shown, uri="rtsp://***@10.0.0.8/s1")
    assert keep_secrets(moved, entry)["uri"] == "rtsp://***@10.0.0.8/s1"  # a new host: as sent


def test_a_symlinked_config_stays_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "edged.yaml").write_text(TEXT)
    link = tmp_path / "edged.yaml"
    link.symlink_to(real / "edged.yaml")
    write_atomically(link, "sources: []\n")
    assert link.is_symlink() and link.read_text() == "sources: []\n"
    assert (real / "edged.yaml.bak").read_text() == TEXT


def test_host_port_without_a_scheme_is_compared_as_host_and_port():
    assert same_host("triton.local:8001", "TRITON.local:8001")
    assert not same_host("triton.local:8001", "triton.local:8002")
    assert not same_host("triton.local:8001", "evil.example:8001")
    entry = {"url": "triton.local:8001", "token": "s3cret"}
    assert keep_secrets({"url": "triton.local:8001", "token": "***"}, entry) == entry
    moved = {"url": "triton.local:9001", "token": "***"}
    assert keep_secrets(moved, entry) == moved  # the mask stays, and is refused


ANCHORS = """\
sources:
  - &base {id: cam0, kind: synthetic, fps: 10}
  - <<: *base
    id: cam1
  - {id: cam2, kind: synthetic, reconnect: &rc {max_s: 5}}
  - {id: cam3, kind: synthetic, reconnect: *rc}
  - {id: cam4, kind: synthetic, rate: &rate 5}
  - {id: cam5, kind: synthetic}
"""


@pytest.mark.parametrize("ident", ["cam0", "cam1", "cam2", "cam3", "cam4"])
@pytest.mark.parametrize("change", ["update", "delete"])
def test_entries_sharing_yaml_nodes_are_edited_by_hand(ident, change):
    entry = {"id": ident, "kind": "synthetic", "fps": 5} if change == "update" else None
    with pytest.raises(EditError, match="uses YAML anchors/merge keys: edit it by hand"):
        edit_entry(ANCHORS, "sources", ident, entry)


def test_entries_beside_shared_yaml_nodes_can_be_edited():
    text = ANCHORS.replace("  - <<: *base\n    id: cam1\n", "")  # edged's loader has no <<
    out = edit_entry(text, "sources", "cam5", {"id": "cam5", "kind": "synthetic", "fps": 2})
    assert [s.fps for s in parse_config(out).sources] == [10, None, None, None, 2]
    assert out == text.replace("{id: cam5, kind: synthetic}", "{id: cam5, kind: synthetic, fps: 2}")
    added = edit_entry(out, "sources", "cam6", {"id": "cam6", "kind": "synthetic"})
    assert edit_entry(added, "sources", "cam6", None) == out
    shared = "sources: &all\n  - {id: cam0, kind: synthetic}\nspare: *all\n"
    with pytest.raises(EditError, match="anchors"):
        edit_entry(shared, "sources", "cam1", {"id": "cam1", "kind": "synthetic"})


YAML11 = ["on", "off", "yes", "no", "NO", "On", "12:30", "1:2:3", "~", "null", "true", "1e3", ""]


def test_strings_and_floats_read_back_the_same_by_the_yaml_1_1_loader():
    import yaml

    entry = {"id": "cam9", "kind": "synthetic"}
    entry.update({f"s{i}": v for i, v in enumerate(YAML11)})
    entry.update({"small": 1e-05, "large": 1e20, "half": 0.5, "on": "off", "list": ["yes", 1]})
    out = edit_entry("sources: []\n", "sources", "cam9", entry)
    back = yaml.safe_load(out)["sources"][0]
    assert back == entry
    assert [type(back[k]) for k in entry] == [type(v) for v in entry.values()]
    assert edit_entry(out, "sources", "cam9", back) == out
    assert "  s0: 'on'\n" in out and "small: 1.0e-05\n" in out and "s11: '1e3'\n" in out


def test_a_save_error_names_the_directory_written_to(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "edged.yaml").write_text(TEXT)
    link = tmp_path / "edged.yaml"
    link.symlink_to(real / "edged.yaml")
    error = SaveError(link, OSError(30, "Read-only file system"))
    assert str(link) in error.message and "Read-only file system" in error.message
    assert f"create files in {real} " in error.hint and f"{link} links to" in error.hint
    assert f"ReadWritePaths={real} " in error.hint
    assert f"ReadWritePaths={tmp_path} " not in error.hint
    plain = SaveError(real / "edged.yaml", OSError(13, "Permission denied"))
    assert f"ReadWritePaths={real} " in plain.hint and "links to" not in plain.hint
