"""Where a downloaded file will go, decided and checked before anything is paid for.

A clip is paid when the job is created, and the file is written minutes later. Every way the write can fail
(a parent that is a file, a folder without write permission, a read-only or virtual filesystem such as /proc, an
existing file the user did not ask to replace) is therefore checked here first, by the front ends, before the
create. The check really writes: a probe file is created and removed in the target folder, because permission
bits, ACLs, read-only mounts and pseudo-filesystems each lie differently to ``os.access``.
"""

from __future__ import annotations

import errno
import os
import time
import uuid
from pathlib import Path

from .errors import InvalidInputError

# A hidden partial download nobody has written to for this long belongs to a process that died.
STALE_PART_SECONDS = 60.0


def part_prefix(dest: Path) -> str:
    """The name prefix of the hidden partial files of a download to ``dest`` (``.<name>.<random>.part``)."""
    return f".{dest.name}."


def _probe_folder(folder: Path, param: str) -> None:
    """Create the folder if needed and write (then remove) a probe file in it."""
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInputError(
                    f"Cannot save into {folder}: {parent} is a file, not a folder. Choose another output path.",
                    param=param,
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".sora2-write-probe-{uuid.uuid4().hex}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            probe.unlink(missing_ok=True)
    except OSError as exc:
        reason = {
            errno.EACCES: "no write permission",
            errno.EPERM: "not permitted",
            errno.EROFS: "read-only filesystem",
            errno.ENOSPC: "no space left",
        }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        raise InvalidInputError(
            f"Cannot write into {folder} ({reason}). Choose an output path in a folder you can write to.",
            param=param,
        ) from None


def check_folder(folder: str | Path, *, param: str = "output") -> Path:
    """Return ``folder`` (made if missing) once a probe file could be written in it, or raise InvalidInputError.

    For front ends that save under a folder of their own choosing (the ComfyUI nodes' downloads folder), where the
    file name is only known once the job exists.
    """
    path = Path(folder).expanduser().absolute()
    _probe_folder(path, param)
    return path


def check_output(path: str | Path, *, overwrite: bool = False, param: str = "output") -> Path:
    """Return ``path`` as an absolute file path that a download can write, or raise InvalidInputError.

    ``path`` must name a file (callers turn a folder into ``folder/<video_id>.mp4`` first). An existing file is
    refused unless ``overwrite``; an existing folder at that name is always refused.
    """
    dest = Path(path).expanduser().absolute()
    if dest.is_dir():
        raise InvalidInputError(f"{dest} is a folder; give a file name for the output.", param=param)
    if dest.exists() and not overwrite:
        raise InvalidInputError(
            f"{dest} already exists. Choose another name, or pass --overwrite to replace it.", param=param
        )
    _probe_folder(dest.parent, param)
    return dest


def next_free_path(path: str | Path) -> Path:
    """``path`` itself if nothing is there, else the first of ``name-2.ext``, ``name-3.ext``... that is free.

    For front ends that must never replace a file (an agent cannot be asked whether to overwrite).
    """
    dest = Path(path)
    if not dest.exists():
        return dest
    n = 2
    while True:
        candidate = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def remove_stale_parts(dest: Path, *, older_than: float = STALE_PART_SECONDS, now: float | None = None) -> int:
    """Delete partial downloads to ``dest`` left by a process that died; return how many were removed.

    A part file still being written by a live download is younger than ``older_than`` and is left alone.
    """
    folder = dest.parent
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    prefix = part_prefix(dest)
    removed = 0
    for entry in folder.iterdir():
        if not (entry.name.startswith(prefix) and entry.name.endswith(".part")):
            continue
        try:
            if now - entry.stat().st_mtime >= older_than:
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed
