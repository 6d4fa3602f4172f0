"""edged.files.atomic_write: whole files only, from any number of threads at once."""

from __future__ import annotations

import os
import threading

import pytest

from edged.files import atomic_write


def test_writers_in_threads_never_share_a_temporary_file(tmp_path):
    target = tmp_path / "shared.json"
    payloads = [bytes([65 + n]) * 4096 for n in range(8)]
    errors = []
    start = threading.Barrier(len(payloads))

    def write(data: bytes) -> None:
        start.wait()
        try:
            for _ in range(40):
                atomic_write(target, data)
        except Exception as exc:  # a shared temp name: FileNotFoundError, mixed bytes
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write(tmp_path / "sub" / "a.bin", b"x")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "sub" / "a.bin").st_mode & 0o777 == mode


def test_mode_and_backup(tmp_path):
    target = tmp_path / "a.yaml"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write(target, b"new", mode=0o600, backup=tmp_path / "a.yaml.bak")
    assert target.read_bytes() == b"new" and os.stat(target).st_mode & 0o777 == 0o600
    backup = tmp_path / "a.yaml.bak"
    assert backup.read_bytes() == b"old" and os.stat(backup).st_mode & 0o777 == 0o640
    atomic_write(tmp_path / "b.yaml", b"b", backup=tmp_path / "b.yaml.bak")  # nothing to keep
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "a.yaml.bak", "b.yaml"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "c", b"c", make_parents=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file to another user")
def test_the_new_file_keeps_the_old_ones_owner(tmp_path):
    path = tmp_path / "edged.yaml"
    path.write_text("a: 1\n")
    os.chown(path, 4242, 4343)  # an administrator's file; the daemon runs as root
    atomic_write(path, b"a: 2\n", backup=tmp_path / "edged.yaml.bak")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (4242, 4343) and path.read_text() == "a: 2\n"
