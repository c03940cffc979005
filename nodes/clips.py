"""Nodes that work on clips already made (ours or any pack's VIDEO): Sora 2 Frames and Sora 2 Join Clips.

Both read the VIDEO through ``get_stream_source()`` (a path or an in-memory file), which every VIDEO type of
ComfyUI offers, and decode with the bounded-memory helpers of ``shared/video.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from comfy_api.latest import InputImpl, io

from ..shared.video import FIT_MODES, VideoError, decode_audio, decode_frames, join_clips, plan_frames, probe
from .runtime import CATEGORY, NodeError, Reporter, interrupted, interruption
from .tensors import audio_output

MAX_JOIN = 8
# Never plan an IMAGE batch bigger than this share of the memory that is free right now.
MEMORY_SHARE = 0.8


def _source(video: Any) -> Any:
    if video is None:
        raise NodeError("A VIDEO input is not connected.")
    getter = getattr(video, "get_stream_source", None)
    if getter is None:
        raise NodeError(f"The video input is a {type(video).__name__}, not a ComfyUI VIDEO.")
    return getter()


def available_memory() -> int | None:
    """Bytes of RAM available now (Linux /proc/meminfo, else sysconf); None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class Sora2Frames(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeFrames",
            display_name="Sora 2 Frames",
            category=CATEGORY,
            description="Decode a VIDEO into an IMAGE batch, its AUDIO and fps, choosing a start, a stride and a "
                        "frame cap. Memory holds only the frames you ask for (12 s of 720p is 4 GB as float32; "
                        "every 4th frame is 1 GB).",
            inputs=[
                io.Video.Input("video", tooltip="Any VIDEO: from Sora 2 Video, Load Video or another pack."),
                io.Float.Input("start_seconds", default=0.0, min=0.0, max=36000.0, step=0.1,
                               tooltip="Skip this many seconds from the start."),
                io.Int.Input("stride", default=1, min=1, max=1000,
                             tooltip="Keep every n-th frame (fps is divided by n, so timing is kept)."),
                io.Int.Input("max_frames", default=0, min=0, max=100000,
                             tooltip="Stop after this many frames (0 = to the end)."),
            ],
            outputs=[
                io.Image.Output("images", display_name="images", tooltip="float32 [frames, height, width, 3]."),
                io.Audio.Output("audio", display_name="audio",
                                tooltip="The sound of the same span (silence if the clip has none)."),
                io.Float.Output("fps", display_name="fps", tooltip="Frame rate of the batch: source fps / stride."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    async def execute(cls, video: Any, start_seconds: float = 0.0, stride: int = 1,
                      max_frames: int = 0) -> io.NodeOutput:
        reporter = Reporter(cls.hidden.unique_id)
        with reporter.showing_failures():
            return await cls._frames(reporter, video, start_seconds, stride, max_frames)

    @classmethod
    async def _frames(cls, reporter: Reporter, video: Any, start_seconds: float, stride: int,
                      max_frames: int) -> io.NodeOutput:
        source = _source(video)
        try:
            info = await asyncio.to_thread(probe, source)
            plan = plan_frames(info, float(start_seconds), int(stride), int(max_frames) or None)
        except VideoError as exc:
            raise NodeError(str(exc)) from None
        if plan.count == 0:
            raise NodeError(f"No frames selected: the clip is {info.duration:.2f} s long ({info.frames} frames) "
                            f"and start_seconds is {start_seconds}.")
        need = plan.nbytes(info)
        free = available_memory()
        if free is not None and need > free * MEMORY_SHARE:
            raise NodeError(
                f"{plan.count} frames of {info.width}x{info.height} need {need / 2**30:.1f} GiB as float32 but only "
                f"{free / 2**30:.1f} GiB is free. Raise stride or lower max_frames."
            )
        reporter.text(f"decoding {plan.count} frames of {info.width}x{info.height}")
        # The output tensor is allocated once and filled in place through its numpy view: no list of frames,
        # no torch.stack copy, and skipped frames are never converted.
        images = torch.empty((plan.count, info.height, info.width, 3), dtype=torch.float32)
        stopped = False

        def stop() -> bool:
            nonlocal stopped
            stopped = interrupted()
            return stopped

        def progress(done: int, total: int) -> None:
            reporter.set(100.0 * done / total)

        try:
            filled = await asyncio.to_thread(
                decode_frames, source, start=float(start_seconds), stride=int(stride), max_frames=plan.count,
                out=images.numpy(), should_stop=stop, on_frame=progress,
            )
            if stopped:
                raise interruption(None, reporter, "decoding was stopped.")
            span_start = plan.first / info.fps
            audio = await asyncio.to_thread(
                decode_audio, _source(video), start=float(span_start), duration=len(filled) / float(plan.fps)
            )
        except VideoError as exc:
            raise NodeError(str(exc)) from None
        images = images[: len(filled)]
        if audio is None:
            rate = 48000
            audio = (torch.zeros((2, int(round(len(filled) / float(plan.fps) * rate)))).numpy(), rate)
        reporter.set(100)
        reporter.text(f"{len(filled)} frames at {float(plan.fps):.3g} fps")
        return io.NodeOutput(images, audio_output(*audio), float(plan.fps))


class Sora2JoinClips(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeJoinClips",
            display_name="Sora 2 Join Clips",
            category=CATEGORY,
            description="Join two or more VIDEOs, in order, into one MP4 with their sound (for multi-shot "
                        "sequences). Clips encoded alike are joined losslessly; others are re-encoded at the "
                        "first clip's size and frame rate.",
            inputs=[
                io.Video.Input("video_1", tooltip="First shot."),
                io.Video.Input("video_2", tooltip="Second shot."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="pad",
                               tooltip="For clips whose size differs from the first: pad (black bars), crop or stretch."),
                *[io.Video.Input(f"video_{i}", optional=True, tooltip=f"Shot {i} (optional).")
                  for i in range(3, MAX_JOIN + 1)],
            ],
            outputs=[io.Video.Output("video", display_name="video", tooltip="The joined clip.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    async def execute(cls, video_1: Any, video_2: Any, fit: str = "pad", **more: Any) -> io.NodeOutput:
        videos = [video_1, video_2] + [more.get(f"video_{i}") for i in range(3, MAX_JOIN + 1)]
        sources = [_source(v) for v in videos if v is not None]
        reporter = Reporter(cls.hidden.unique_id)
        reporter.text(f"joining {len(sources)} clips")
        dest = _join_dest(sources, fit)
        if not dest.is_file():
            try:
                await asyncio.to_thread(join_clips, sources, dest, fit=fit, should_stop=interrupted)  # type: ignore[arg-type]
            except VideoError as exc:
                if interrupted():
                    raise interruption(None, reporter, "joining was stopped.") from None
                reporter.failed(str(exc))
                raise NodeError(str(exc)) from None
        reporter.set(100)
        reporter.text(f"joined {len(sources)} clips")
        return io.NodeOutput(InputImpl.VideoFromFile(str(dest)))


def output_dir() -> Path:
    """ComfyUI's temp folder when running inside ComfyUI (cleared at start), else the system temp folder."""
    try:
        import folder_paths

        base = Path(folder_paths.get_temp_directory())
    except (ImportError, AttributeError):
        base = Path(tempfile.gettempdir())
    path = base / "sora2-bridge"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _join_dest(sources: list[Any], fit: str) -> Path:
    """Named after what goes in (file identity, or content hash for in-memory clips), so a re-run is free."""
    h = hashlib.sha256(fit.encode())
    for s in sources:
        if isinstance(s, (str, os.PathLike)):
            st = os.stat(s)
            h.update(f"{os.path.abspath(s)}|{st.st_size}|{st.st_mtime_ns}".encode())
        else:
            s.seek(0)
            h.update(hashlib.sha256(s.read()).digest())
            s.seek(0)
    return output_dir() / f"joined-{h.hexdigest()[:20]}.mp4"


NODES = [Sora2Frames, Sora2JoinClips]
