"""Atomic writes: all or nothing, in the target's folder, with a normal file's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from ml_core.files import (
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    replace_folder,
)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    """A umask other than the usual 022, so the test sees the umask being applied."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_new_file_gets_the_permissions_of_a_plain_open(tmp_path, umask_027):
    atomic_write_text(tmp_path / "new.txt", "hello")
    with open(tmp_path / "plain.txt", "w") as handle:
        handle.write("hello")
    assert (tmp_path / "new.txt").read_text() == "hello"
    assert mode_of(tmp_path / "new.txt") == mode_of(tmp_path / "plain.txt") == 0o640


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_overwriting_keeps_the_files_mode(tmp_path, umask_027):
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o604)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and mode_of(target) == 0o604


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "score.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_open(target, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["score.json"]


def test_a_writer_that_wants_a_name_gets_one_with_the_suffix_it_needs(tmp_path):
    target = tmp_path / "curve.png"
    with atomic_path(target, suffix=".png") as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".png")
        assert temporary.name.startswith(".curve.png.")
        temporary.write_bytes(b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]


def test_replace_folder_swaps_a_whole_folder(tmp_path):
    old, new = tmp_path / "bundle", tmp_path / ".bundle.saving"
    old.mkdir()
    (old / "config.json").write_text("old")
    new.mkdir()
    (new / "config.json").write_text("new")
    replace_folder(new, old)
    assert (old / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    (tmp_path / "file").write_text("x")
    (tmp_path / "other").mkdir()
    with pytest.raises(OSError, match="not a folder"):
        replace_folder(tmp_path / "other", tmp_path / "file")
