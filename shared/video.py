"""Video helpers for the front ends: probe, decode frames with bounded memory, last frame, audio, join clips.

PyAV only (no torch, no ComfyUI, no ffmpeg binary), so the ComfyUI nodes, the MCP server and the CLI can share it.

Why these exist instead of "decode everything, then slice":

* A 12 s 1280x720 clip at 30 fps is 360 frames; as float32 RGB that is 360 x 11.1 MB = 4 GB, and the usual
  ``frames.append(...); stack(frames)`` doubles it for a moment. :func:`decode_frames` first works out how many
  frames the caller wants (start offset, stride, cap), allocates the output once, and converts only the selected
  frames straight into it. Peak memory is the output buffer plus a few frames in flight, whatever the clip's
  length; frames skipped by the stride are decoded (inter frames depend on them) but never converted to RGB.
* :func:`last_frame` seeks near the end instead of decoding the whole clip: chaining clips needs only that frame.
* :func:`join_clips` copies packets when every clip was encoded alike (the common case: clips from one service),
  which is lossless and fast, and re-encodes otherwise, fitting every clip to the first clip's size and resampling
  audio to the first clip's rate, with silence for clips that have none, so sound stays in sync.

Sources are a path or a binary file object (e.g. ``io.BytesIO``), anything ``av.open`` reads.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Literal, Union

import av
import numpy as np

Source = Union[str, "os.PathLike[str]", IO[bytes]]
FitMode = Literal["crop", "pad", "stretch"]
FIT_MODES: tuple[str, ...] = ("pad", "crop", "stretch")
DEFAULT_SAMPLE_RATE = 48000
# Converted frames waiting for the worker that writes them into the output (bounded memory: a few frames).
PIPELINE = 3


class VideoError(ValueError):
    """A video could not be read or written; the message says which and why."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    frames: int  # from the container when it knows (MP4 does), else estimated from duration x fps
    duration: float  # seconds
    has_audio: bool
    sample_rate: int | None = None
    channels: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None

    def frame_bytes(self, dtype: np.dtype | type = np.float32) -> int:
        return self.width * self.height * 3 * np.dtype(dtype).itemsize


def _open(source: Source) -> av.container.InputContainer:
    if hasattr(source, "seek"):
        source.seek(0)  # type: ignore[union-attr]
    try:
        return av.open(source if hasattr(source, "read") else os.fspath(source), mode="r")  # type: ignore[arg-type]
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"Cannot open the video {_name(source)}: {exc}") from None


def _name(source: Source) -> str:
    if hasattr(source, "read"):
        return "(in-memory video)"
    return str(source)


def _video_stream(container: av.container.InputContainer, source: Source) -> av.VideoStream:
    if not container.streams.video:
        raise VideoError(f"{_name(source)} has no video stream.")
    return container.streams.video[0]


def _fps(stream: av.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(30)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def probe(source: Source) -> VideoInfo:
    """Size, frame rate, frame count, duration and audio of a video, from the container (nothing is decoded)."""
    with _open(source) as container:
        v = _video_stream(container, source)
        fps = _fps(v)
        duration = _duration(container, v)
        frames = v.frames or round(duration * fps)
        a = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            width=v.codec_context.width,
            height=v.codec_context.height,
            fps=fps,
            frames=int(frames),
            duration=duration,
            has_audio=a is not None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            channels=a.codec_context.channels if a is not None else None,
            video_codec=v.codec_context.name,
            audio_codec=a.codec_context.name if a is not None else None,
        )


@dataclass(frozen=True)
class FramePlan:
    """Which frames :func:`decode_frames` returns: ``count`` frames from ``first``, every ``stride``-th."""

    first: int
    stride: int
    count: int
    fps: Fraction  # of the output sequence: source fps / stride, so its duration matches the source span

    @property
    def start_time(self) -> float:
        return self.first / self.fps / self.stride

    @property
    def span(self) -> float:
        """Seconds of source covered by the selected frames (what the matching audio must cover)."""
        return self.count / self.fps

    def nbytes(self, info: VideoInfo, dtype: np.dtype | type = np.float32) -> int:
        return self.count * info.frame_bytes(dtype)


def plan_frames(info: VideoInfo, start: float = 0.0, stride: int = 1, max_frames: int | None = None) -> FramePlan:
    if stride < 1:
        raise VideoError(f"stride must be at least 1, got {stride}.")
    if start < 0:
        raise VideoError(f"start must be 0 or more seconds, got {start}.")
    first = int(math.floor(start * info.fps + 1e-6))
    remaining = max(0, info.frames - first)
    count = -(-remaining // stride)
    if max_frames:
        count = min(count, max_frames)
    return FramePlan(first=first, stride=stride, count=count, fps=info.fps / stride)


def _seek_to(container: av.container.InputContainer, stream: av.stream.Stream, seconds: float) -> None:
    if seconds > 0 and stream.time_base is not None:
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)


def _frame_index(frame: av.VideoFrame, fps: Fraction, start_pts: int) -> int:
    if frame.pts is None or frame.time_base is None:
        return -1
    return round((frame.pts - start_pts) * frame.time_base * fps)


def decode_frames(
    source: Source,
    *,
    start: float = 0.0,
    stride: int = 1,
    max_frames: int | None = None,
    dtype: np.dtype | type = np.float32,
    out: np.ndarray | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Decode the selected frames into one [N, H, W, 3] array: uint8 (0..255) or float32 (0..1).

    ``out`` may be a caller-allocated array of at least the planned shape (e.g. the numpy view of a torch tensor),
    so the frames land in their final home without a copy. Returns the filled part (a view of the buffer).
    ``should_stop`` is checked between frames (raise from it, or return True to stop early);
    ``on_frame(done, total)`` reports progress.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
        raise VideoError(f"dtype must be uint8 or float32, got {dtype}.")
    info = probe(source)
    plan = plan_frames(info, start, stride, max_frames)
    shape = (plan.count, info.height, info.width, 3)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.dtype != dtype or out.shape[1:] != shape[1:] or out.shape[0] < plan.count:
        raise VideoError(f"out must be {dtype} of shape at least {shape}, got {out.dtype} {out.shape}.")
    if plan.count == 0:
        return out[:0]
    scale = np.float32(1.0 / 255.0)
    filled = 0

    def store(rgb: np.ndarray, slot: np.ndarray) -> None:
        if dtype == np.uint8:
            slot[...] = rgb
        else:
            np.multiply(rgb, scale, out=slot, casting="unsafe")

    # The RGB conversion runs on this thread while a worker writes the previous frames into the output (numpy
    # releases the GIL), so the two overlap; at most PIPELINE frames wait, which keeps memory bounded.
    pending: deque[Future[None]] = deque()
    with _open(source) as container, ThreadPoolExecutor(1, thread_name_prefix="sora2-frames") as pool:
        stream = _video_stream(container, source)
        stream.thread_type = "AUTO"  # frame threads decode ahead while this thread converts
        start_pts = stream.start_time or 0
        _seek_to(container, stream, plan.first / info.fps)
        for frame in container.decode(stream):
            index = _frame_index(frame, info.fps, start_pts)
            if index < plan.first:
                continue
            if (index - plan.first) % plan.stride:
                continue  # decoded (later frames need it) but never converted: the stride saves the RGB work
            rgb = _to_rgb(frame)
            if rgb.shape != shape[1:]:  # odd sizes, or a stream that changes size midway
                rgb = frame.reformat(width=info.width, height=info.height, format="rgb24").to_ndarray()
            pending.append(pool.submit(store, rgb, out[filled]))
            if len(pending) > PIPELINE:
                pending.popleft().result()
            filled += 1
            if on_frame is not None:
                on_frame(filled, plan.count)
            if filled >= plan.count or (should_stop is not None and should_stop()):
                break
        while pending:
            pending.popleft().result()
    return out[:filled]


_RGB_KWARGS: dict[str, object] | None = None


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """rgb24 pixels; swscale may use its own threads (PyAV >= 14 accepts ``threads``; 0 = as many as useful)."""
    global _RGB_KWARGS
    if _RGB_KWARGS is None:
        try:
            frame.reformat(format="rgb24", threads=0)
            _RGB_KWARGS = {"threads": 0}
        except TypeError:
            _RGB_KWARGS = {}
    return frame.to_ndarray(format="rgb24", **_RGB_KWARGS)


def last_frame(source: Source) -> np.ndarray:
    """The final frame as uint8 [H, W, 3], found by seeking near the end rather than decoding the whole clip."""
    with _open(source) as container:
        stream = _video_stream(container, source)
        duration = _duration(container, stream)
        last: av.VideoFrame | None = None
        # Seek a little before the end (to the keyframe before it); widen the window if nothing decodes.
        for back in (1.0, 4.0, None):
            if back is not None and duration > back:
                _seek_to(container, stream, duration - back)
            else:
                container.seek(0)
            for frame in container.decode(stream):
                last = frame
            if last is not None:
                break
        if last is None:
            raise VideoError(f"{_name(source)} has no decodable frame.")
        return _to_rgb(last)


def decode_audio(
    source: Source,
    *,
    start: float = 0.0,
    duration: float | None = None,
    sample_rate: int | None = None,
) -> tuple[np.ndarray, int] | None:
    """The audio of ``[start, start + duration)`` as float32 [C, T] and its sample rate; None if there is none."""
    with _open(source) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = sample_rate or stream.codec_context.sample_rate or DEFAULT_SAMPLE_RATE
        channels = stream.codec_context.channels or 1
        layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        first = int(round(start * rate))
        end = None if duration is None else first + int(round(duration * rate))
        chunks: list[np.ndarray] = []
        position = None  # sample index of the next resampled sample
        if start > 0:
            _seek_to(container, stream, max(0.0, start - 0.1))

        def take(frames: list[av.AudioFrame]) -> bool:
            nonlocal position
            for f in frames:
                data = f.to_ndarray()  # fltp: [C, n] float32
                if position is None:
                    position = int(round(float(f.pts * f.time_base) * rate)) if f.pts is not None else 0
                lo, hi = position, position + data.shape[1]
                position = hi
                a, b = max(lo, first), hi if end is None else min(hi, end)
                if b > a:
                    chunks.append(data[:, a - lo : b - lo])
                if end is not None and hi >= end:
                    return True
            return False

        done = False
        for frame in container.decode(stream):
            if take(resampler.resample(frame)):
                done = True
                break
        if not done:
            take(resampler.resample(None))
        if not chunks:
            out = np.zeros((channels if channels <= 2 else 2, 0), dtype=np.float32)
        else:
            out = np.ascontiguousarray(np.concatenate(chunks, axis=1), dtype=np.float32)
        if end is not None and out.shape[1] < end - first:  # pad a short tail so audio and frames line up
            out = np.pad(out, ((0, 0), (0, end - first - out.shape[1])))
        return out, rate


# ------------------------------------------------------------------------------------------------ joining clips
def _fit_rgb(rgb: np.ndarray, width: int, height: int, mode: FitMode) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    img = Image.fromarray(rgb)
    if mode == "stretch":
        return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR))
    if mode == "crop":
        scale = max(width / w, height / h)
        nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - width) // 2, (nh - height) // 2
        return np.asarray(img.crop((left, top, left + width, top + height)))
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[top : top + nh, left : left + nw] = np.asarray(img.resize((nw, nh), Image.Resampling.BILINEAR))
    return canvas


def _stream_signature(container: av.container.InputContainer) -> tuple:
    v = container.streams.video[0]
    a = container.streams.audio[0] if container.streams.audio else None
    vsig = (v.codec_context.name, v.codec_context.width, v.codec_context.height, v.codec_context.pix_fmt,
            bytes(v.codec_context.extradata or b""), Fraction(v.time_base), _fps(v))
    asig = None
    if a is not None:
        asig = (a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels,
                bytes(a.codec_context.extradata or b""), Fraction(a.time_base))
    return vsig, asig


def can_copy_streams(sources: Sequence[Source]) -> bool:
    """True when every clip has the same codecs, parameters and size, so packets can be copied unchanged."""
    sigs = []
    for s in sources:
        with _open(s) as c:
            if not c.streams.video:
                raise VideoError(f"{_name(s)} has no video stream.")
            sigs.append(_stream_signature(c))
    return all(sig == sigs[0] for sig in sigs) and sigs[0][0][0] in ("h264", "hevc", "mpeg4", "av1")


def _temp_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.stem}.{os.getpid()}.part{dest.suffix or '.mp4'}")


def join_clips(
    sources: Sequence[Source],
    dest: str | os.PathLike[str],
    *,
    fit: FitMode = "pad",
    reencode: bool | None = None,
    crf: int = 18,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Join two or more clips, in order, into one MP4 with audio. Returns ``dest``.

    Copies packets when the clips match (:func:`can_copy_streams`), else re-encodes H.264 + AAC at the first clip's
    size and frame rate (other sizes are fitted with ``fit``: pad keeps the whole picture on black bars).
    The file appears atomically.
    """
    if len(sources) < 2:
        raise VideoError("Joining needs at least two clips.")
    if fit not in FIT_MODES:
        raise VideoError(f"fit must be one of {', '.join(FIT_MODES)}, got {fit!r}.")
    out_path = Path(dest)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(out_path)
    copy = can_copy_streams(sources) if reencode is None else not reencode
    try:
        if copy:
            _join_copy(sources, tmp)
        else:
            _join_reencode(sources, tmp, fit, crf, should_stop)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def _join_copy(sources: Sequence[Source], dest: Path) -> None:
    """Concatenate packets, shifting each clip's timestamps by the length of the clips before it."""
    with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        with _open(sources[0]) as first:
            ov = out.add_stream_from_template(first.streams.video[0], opaque=True)
            oa = out.add_stream_from_template(first.streams.audio[0], opaque=True) if first.streams.audio else None
        offset = 0.0  # seconds already written
        last_dts: dict[int, int] = {}
        for source in sources:
            with _open(source) as c:
                streams = [c.streams.video[0]] + ([c.streams.audio[0]] if (oa is not None and c.streams.audio) else [])
                end = offset
                for packet in c.demux(streams):
                    if packet.dts is None:
                        continue
                    target = ov if packet.stream.type == "video" else oa
                    tb = packet.time_base
                    shift = int(round(offset / tb))
                    start = packet.stream.start_time or 0
                    packet.pts = None if packet.pts is None else packet.pts - start + shift
                    packet.dts = packet.dts - start + shift
                    key = 0 if target is ov else 1
                    if key in last_dts and packet.dts <= last_dts[key]:
                        continue  # an overlapping audio priming packet: drop it rather than break the muxer
                    last_dts[key] = packet.dts
                    end = max(end, float((packet.pts if packet.pts is not None else packet.dts) * tb)
                              + float((packet.duration or 0) * tb))
                    packet.stream = target
                    out.mux(packet)
                offset = end


def _join_reencode(
    sources: Sequence[Source], dest: Path, fit: FitMode, crf: int, should_stop: Callable[[], bool] | None
) -> None:
    infos = [probe(s) for s in sources]
    base = infos[0]
    width, height = base.width - base.width % 2, base.height - base.height % 2
    fps = base.fps if base.fps.denominator <= 1001 else Fraction(round(float(base.fps) * 1000), 1000)
    want_audio = any(i.has_audio for i in infos)
    rate = next((i.sample_rate for i in infos if i.has_audio and i.sample_rate), DEFAULT_SAMPLE_RATE)
    with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        vs.codec_context.time_base = Fraction(1, 1) / fps
        as_ = None
        if want_audio:
            as_ = out.add_stream("aac", rate=rate, layout="stereo")
        frame_no = 0  # output frames written so far
        sample_no = 0  # output audio samples written so far
        for source, info in zip(sources, infos, strict=True):
            clip_start = frame_no
            with _open(source) as c:
                stream = c.streams.video[0]
                stream.thread_type = "AUTO"
                start_pts = stream.start_time or 0
                for frame in c.decode(stream):
                    if should_stop is not None and should_stop():
                        raise VideoError("Joining was stopped.")
                    t = float((frame.pts - start_pts) * frame.time_base) if frame.pts is not None else None
                    target = clip_start + (round(t * fps) if t is not None else frame_no - clip_start)
                    if target < frame_no:
                        continue  # a faster source: drop frames that map to an already written slot
                    rgb = _fit_rgb(frame.to_ndarray(format="rgb24"), width, height, fit)
                    while frame_no <= target:  # a slower source: repeat to fill the gap
                        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                        vf.pts = frame_no
                        out.mux(vs.encode(vf))
                        frame_no += 1
            if as_ is not None:
                clip_samples = int(round((frame_no - clip_start) / fps * rate))
                audio = decode_audio(source, sample_rate=rate) if info.has_audio else None
                data = audio[0] if audio is not None else np.zeros((2, 0), dtype=np.float32)
                data = np.repeat(data, 2, axis=0) if data.shape[0] == 1 else data[:2]
                if data.shape[1] < clip_samples:
                    data = np.pad(data, ((0, 0), (0, clip_samples - data.shape[1])))
                data = np.ascontiguousarray(data[:, :clip_samples], dtype=np.float32)
                for lo in range(0, data.shape[1], 1024):
                    chunk = np.ascontiguousarray(data[:, lo : lo + 1024])
                    af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    af.sample_rate = rate
                    af.pts = sample_no
                    sample_no += chunk.shape[1]
                    out.mux(as_.encode(af))
        out.mux(vs.encode(None))
        if as_ is not None:
            out.mux(as_.encode(None))


# ------------------------------------------------------------------------------------------------ sound transitions
def dip_audio(source: Source, dest: str | os.PathLike[str], dips: Sequence[tuple[float, float]]) -> Path:
    """Copy ``source`` to ``dest`` with the picture untouched and the sound faded out and in around given times.

    ``dips`` are (time, length) in seconds: the sound fades out over the ``length / 2`` before ``time`` and back in
    over the ``length / 2`` after it (a short audio transition across a cut, with the film's length and the
    lip-sync unchanged). Video packets are copied; only the sound is decoded and re-encoded, one AAC frame at a
    time, so memory stays flat whatever the length. A clip without sound is copied as it is.
    """
    out_path = Path(dest)
    tmp = _temp_path(out_path)
    try:
        with _open(source) as inp, av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vin = _video_stream(inp, source)
            ov = out.add_stream_from_template(vin, opaque=True)
            ain = inp.streams.audio[0] if inp.streams.audio else None
            oa = None
            if ain is not None:
                rate = ain.codec_context.sample_rate or DEFAULT_SAMPLE_RATE
                oa = out.add_stream("aac", rate=rate, layout=ain.codec_context.layout.name)
            for packet in inp.demux([vin] + ([ain] if ain is not None else [])):
                if packet.stream.type == "video":
                    if packet.dts is None:
                        continue
                    packet.stream = ov
                    out.mux(packet)
                    continue
                for frame in packet.decode():
                    out.mux(oa.encode(_faded(frame, dips)))  # type: ignore[union-attr]
            if oa is not None:
                out.mux(oa.encode(None))
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def _faded(frame: av.AudioFrame, dips: Sequence[tuple[float, float]]) -> av.AudioFrame:
    rate = frame.sample_rate
    data = frame.to_ndarray().astype(np.float32, copy=False)
    start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
    t = start + np.arange(data.shape[-1], dtype=np.float64) / rate
    gain = np.ones_like(t)
    for at, length in dips:
        half = max(length / 2, 1e-6)
        np.minimum(gain, np.clip(np.abs(t - at) / half, 0.0, 1.0), out=gain)
    faded = av.AudioFrame.from_ndarray(np.ascontiguousarray(data * gain.astype(np.float32)),
                                       format=frame.format.name, layout=frame.layout.name)
    faded.sample_rate = rate
    faded.pts = frame.pts
    faded.time_base = frame.time_base
    return faded
