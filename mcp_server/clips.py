"""Working with saved clips on this machine: a frame an agent can look at, and several clips joined into one.

Both read the MP4s in the output folder through ``shared/video.py`` (PyAV, no ffmpeg binary), off the event loop.
``frame_at`` only reads: it is a read-only tool's helper, so a clip not saved yet is refused rather than fetched.
``join`` saves what is missing first (downloading a finished clip is free), and checks every id before any
download, so a clip that is not ready refuses the whole call before anything is written.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mcp.server.mcpserver.exceptions import ToolError
from PIL import Image

from ..shared.errors import NotFoundError
from ..shared.outputs import next_free_path
from ..shared.video import VideoError, decode_frames, join_clips, probe
from .guard import output_path
from .jobs import Jobs

FRAME_MAX_SIDE = 512
FRAME_MAX_BYTES = 100_000
JPEG_QUALITIES = (85, 75, 60, 45, 30)
MAX_JOIN = 20


@dataclass(frozen=True)
class Frame:
    jpeg: bytes
    width: int
    height: int
    duration: float


def _frame(path: Path, t: float) -> Frame:
    info = probe(path)
    if t >= info.duration:
        raise ToolError(f"t={t:g} is past the end: the clip is {info.duration:.2f} s long (use 0 to "
                        f"{max(0.0, info.duration - 0.05):.2f}).")
    frames = decode_frames(path, start=t, max_frames=1, dtype=np.uint8)
    if not len(frames):
        raise ToolError(f"No frame at t={t:g} (the clip is {info.duration:.2f} s long).")
    im = Image.fromarray(frames[0])
    im.thumbnail((FRAME_MAX_SIDE, FRAME_MAX_SIDE))
    for quality in JPEG_QUALITIES:  # small enough to inline in a tool result
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= FRAME_MAX_BYTES:
            break
    return Frame(buf.getvalue(), im.width, im.height, info.duration)


async def frame_at(jobs: Jobs, video_id: str, t: float) -> Frame:
    """The frame at ``t`` seconds of a saved clip as a JPEG of at most 512 px and about 100 KB."""
    path = jobs.local_file(video_id)
    if path is None:
        raise ToolError(f"{video_id} is not saved on this machine yet: call download_video first (get_status says "
                        "when it is completed).")
    try:
        return await asyncio.to_thread(_frame, path, t)
    except VideoError as exc:
        raise ToolError(f"Cannot read a frame of {video_id}: {exc}") from None


async def join(jobs: Jobs, video_ids: list[str], filename: str | None) -> tuple[Path, Path | None]:
    """Join saved or finished clips in order into a new MP4; return its path and, if taken, the name asked for."""
    asked = output_path(jobs.settings, filename, ".mp4") if filename else None
    missing = [vid for vid in dict.fromkeys(video_ids) if jobs.local_file(vid) is None]
    problems = []
    for vid in missing:
        try:
            video = await jobs.client.retrieve(vid)
        except NotFoundError:
            problems.append(f"{vid} is not on the service (deleted, expired or a wrong id) and not saved here")
            continue
        if video.status != "completed":
            problems.append(f"{vid} is {video.status} ({video.progress}%)")
    if problems:
        raise ToolError("Nothing was joined: " + "; ".join(problems) + ". Join only completed clips.")
    for vid in missing:
        await jobs.ensure_downloaded(vid)
    sources = [jobs.local_file(vid) for vid in video_ids]
    default = jobs.settings.output_dir / f"joined_{video_ids[0]}_{len(video_ids)}.mp4"
    dest = next_free_path(asked or default)
    try:
        await asyncio.to_thread(join_clips, sources, dest)  # type: ignore[arg-type]
    except VideoError as exc:
        raise ToolError(f"The clips could not be joined: {exc}") from None
    return dest, asked if asked is not None and asked != dest else None
