"""Output paths are checked before a job is paid for: every way a later write would fail is refused first."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sora2_bridge.shared.errors import InvalidInputError
from sora2_bridge.shared.outputs import check_output, next_free_path, part_prefix, remove_stale_parts


def test_a_writable_new_file_is_accepted_and_its_folder_made(tmp_path: Path) -> None:
    dest = check_output(tmp_path / "new" / "deeper" / "clip.mp4")
    assert dest.is_absolute() and dest.parent.is_dir()
    assert list(dest.parent.iterdir()) == [], "the probe file is removed"


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: _file(tmp / "a_file") / "clip.mp4", id="parent-is-a-file"),
        pytest.param(lambda tmp: _file(tmp / "a_file") / "sub" / "clip.mp4", id="ancestor-is-a-file"),
        pytest.param(lambda tmp: Path("/proc/clip.mp4"), id="proc"),
        pytest.param(lambda tmp: Path("/proc/self/clip.mp4"), id="proc-self"),
        pytest.param(lambda tmp: _dir(tmp / "clip.mp4"), id="target-is-a-folder"),
    ],
)
def test_unwritable_targets_are_refused_with_what_to_change(tmp_path: Path, make_path) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_output(make_path(tmp_path))
    message = str(info.value)
    assert "output" in message.lower() or "folder" in message.lower()
    assert info.value.param == "output"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder, so the write would succeed too")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = _dir(tmp_path / "locked")
    locked.chmod(0o500)
    try:
        with pytest.raises(InvalidInputError, match="no write permission"):
            check_output(locked / "clip.mp4")
    finally:
        locked.chmod(0o700)


def test_an_existing_file_is_refused_unless_overwrite(tmp_path: Path) -> None:
    existing = _file(tmp_path / "clip.mp4")
    with pytest.raises(InvalidInputError, match="--overwrite"):
        check_output(existing)
    assert check_output(existing, overwrite=True) == existing.absolute()
    assert existing.read_bytes() == b"x", "checking never touches the file"


def test_next_free_path_numbers_instead_of_replacing(tmp_path: Path) -> None:
    first = tmp_path / "clip.mp4"
    assert next_free_path(first) == first
    _file(first)
    _file(tmp_path / "clip-2.mp4")
    assert next_free_path(first) == tmp_path / "clip-3.mp4"


def test_stale_parts_of_the_same_target_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dest = tmp_path / "clip.mp4"
    stale = _file(tmp_path / f"{part_prefix(dest)}abc.part")
    live = _file(tmp_path / f"{part_prefix(dest)}def.part")
    other = _file(tmp_path / ".other.mp4.ghi.part")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert remove_stale_parts(dest) == 1
    assert not stale.exists() and live.exists() and other.exists()


def _file(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def _dir(path: Path) -> Path:
    path.mkdir()
    return path
