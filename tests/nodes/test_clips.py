"""Sora 2 Frames and Sora 2 Join Clips on any VIDEO, and the bounded-memory decoding under them."""

from __future__ import annotations

import io
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfy_api.latest import InputImpl
from sora2_bridge.nodes.clips import Sora2Frames, Sora2JoinClips
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.shared.video import decode_audio, decode_frames, join_clips, last_frame, plan_frames, probe


def audio_ok(audio, seconds, rate=48000):
    assert set(audio) == {"waveform", "sample_rate"} and audio["sample_rate"] == rate
    wave = audio["waveform"]
    assert isinstance(wave, torch.Tensor) and wave.dtype == torch.float32 and wave.ndim == 3 and wave.shape[:2] == (1, 2)
    assert wave.shape[2] == pytest.approx(seconds * rate, abs=rate // 50)


async def test_frames_of_a_whole_clip(comfy, make_clip, helpers):
    clip = make_clip(seconds=2, fps=30)
    out = await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(clip)))
    images, audio, fps = out.args
    assert isinstance(images, torch.Tensor) and images.dtype == torch.float32
    assert tuple(images.shape) == (60, 240, 320, 3) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert [helpers.frame_number(f) for f in images[:5]] == [0, 1, 2, 3, 4]
    assert fps == 30.0 and isinstance(fps, float)
    audio_ok(audio, 2.0)
    assert float(audio["waveform"].abs().max()) > 0.1  # the tone, not silence
    assert comfy.progress[-1][0] == 100


async def test_frames_with_start_stride_and_cap(comfy, make_clip, helpers):
    clip = make_clip(seconds=4, fps=30)
    out = await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(clip)), start_seconds=1.0, stride=4,
                          max_frames=10)
    images, audio, fps = out.args
    assert images.shape[0] == 10
    assert [helpers.frame_number(f) for f in images] == list(range(30, 70, 4))
    assert fps == 7.5
    audio_ok(audio, 10 / 7.5)  # the audio spans exactly what the frames span, so CreateVideo keeps sync


async def test_frames_of_an_in_memory_video_without_audio(comfy, make_clip):
    data = make_clip(seconds=1, fps=24, audio=False).read_bytes()
    out = await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(io.BytesIO(data)), stride=2)
    images, audio, fps = out.args
    assert images.shape[0] == 12 and fps == 12.0
    audio_ok(audio, 1.0)
    assert float(audio["waveform"].abs().max()) == 0.0  # silence of the right length, not None


async def test_frames_errors_are_readable(comfy, make_clip, tmp_path):
    clip = make_clip(seconds=1, fps=30)
    with pytest.raises(NodeError, match="No frames selected") as exc:
        await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(clip)), start_seconds=5.0)
    assert comfy.texts[-1] == f"Failed: {exc.value}"  # the node's status line shows it too
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(NodeError, match="Cannot open the video"):
        await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(bad)))
    with pytest.raises(NodeError, match="not a ComfyUI VIDEO"):
        await comfy.run(Sora2Frames, video="clip.mp4")


async def test_frames_refuses_a_batch_bigger_than_free_memory(comfy, make_clip, monkeypatch):
    from sora2_bridge.nodes import clips

    monkeypatch.setattr(clips, "available_memory", lambda: 10 * 2**20)  # 10 MiB free
    clip = make_clip(seconds=2, fps=30)  # 60 frames x 0.9 MiB = 53 MiB as float32
    with pytest.raises(NodeError, match="Raise stride or lower max_frames"):
        await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(clip)))
    out = await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(clip)), stride=10)  # 6 frames fit
    assert out.args[0].shape[0] == 6


async def test_frames_stops_on_cancel(comfy, make_clip):
    comfy.cancel()
    with pytest.raises(comfy.Interrupted):
        await comfy.run(Sora2Frames, video=InputImpl.VideoFromFile(str(make_clip(seconds=2, fps=30))))


def test_decoding_memory_is_the_output_plus_a_frame_or_two(make_clip):
    """Peak traced memory while decoding 1 frame in 6 must be the output batch plus O(1) frames, never O(clip)."""
    clip = make_clip(width=640, height=360, seconds=4, fps=30)  # 120 frames; a float32 frame is 2.6 MiB
    info = probe(str(clip))
    frame_f32 = info.frame_bytes(np.float32)
    plan = plan_frames(info, stride=6)
    tracemalloc.start()
    try:
        frames = decode_frames(str(clip), stride=6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames.shape == (20, 360, 640, 3) and frames.nbytes == plan.nbytes(info) == 20 * frame_f32
    assert peak <= frames.nbytes + 2 * frame_f32, (peak, frames.nbytes)
    assert peak < info.frames * frame_f32 / 4  # far below decoding everything as float32 (what a full decode needs)


def test_decode_into_a_caller_buffer_and_uint8(make_clip, helpers):
    clip = str(make_clip(seconds=1, fps=30))
    buf = np.zeros((40, 240, 320, 3), dtype=np.float32)
    got = decode_frames(clip, stride=3, out=buf)
    assert np.shares_memory(got, buf) and len(got) == 10 and float(got[1].max()) > 0
    raw = decode_frames(clip, start=0.5, max_frames=3, dtype=np.uint8)
    assert raw.dtype == np.uint8 and [helpers.frame_number(f) for f in raw] == [15, 16, 17]
    assert helpers.frame_number(last_frame(clip)) == 29
    samples, rate = decode_audio(clip, start=0.25, duration=0.5)
    assert samples.shape == (2, 24000) and rate == 48000


async def test_join_clips_copies_matching_clips_with_their_sound(comfy, make_clip, helpers):
    a, b = make_clip(seconds=1, fps=30), make_clip(seconds=2, fps=30)
    out = await comfy.run(Sora2JoinClips, video_1=InputImpl.VideoFromFile(str(a)),
                          video_2=InputImpl.VideoFromFile(str(b)), video_3=InputImpl.VideoFromFile(str(a)))
    video = out.args[0]
    info = probe(video.get_stream_source())
    assert (info.width, info.height, info.frames) == (320, 240, 120) and info.has_audio
    assert info.duration == pytest.approx(4.0, abs=0.1)
    numbers = [helpers.frame_number(f) for f in decode_frames(video.get_stream_source(), dtype=np.uint8)]
    assert numbers == list(range(30)) + list(range(60)) + list(range(30))
    samples, _ = decode_audio(video.get_stream_source())
    assert samples.shape[1] == pytest.approx(4.0 * 48000, abs=4096)
    again = await comfy.run(Sora2JoinClips, video_1=InputImpl.VideoFromFile(str(a)),
                            video_2=InputImpl.VideoFromFile(str(b)), video_3=InputImpl.VideoFromFile(str(a)))
    assert again.args[0].get_stream_source() == video.get_stream_source()  # same inputs: the same file


async def test_join_clips_reencodes_other_sizes_and_rates(comfy, make_clip):
    wide = make_clip(width=320, height=240, seconds=1, fps=30)
    tall = make_clip(width=240, height=320, seconds=1, fps=24, audio=False)  # other size, rate, no sound
    data = io.BytesIO(make_clip(width=160, height=120, seconds=1, fps=30).read_bytes())
    out = await comfy.run(Sora2JoinClips, video_1=InputImpl.VideoFromFile(str(wide)),
                          video_2=InputImpl.VideoFromFile(str(tall)), video_3=InputImpl.VideoFromFile(data), fit="pad")
    info = probe(out.args[0].get_stream_source())
    assert (info.width, info.height) == (320, 240) and info.fps == Fraction(30)
    assert info.duration == pytest.approx(3.0, abs=0.15) and info.has_audio
    samples, _ = decode_audio(out.args[0].get_stream_source())
    second = samples[:, int(1.2 * 48000): int(1.8 * 48000)]
    assert float(np.abs(second).max()) < 0.01  # the silent clip stayed silent: sound is still in sync after it


def test_join_needs_two_clips(make_clip, tmp_path):
    from sora2_bridge.shared.video import VideoError

    with pytest.raises(VideoError, match="at least two"):
        join_clips([make_clip(seconds=1)], tmp_path / "x.mp4")
