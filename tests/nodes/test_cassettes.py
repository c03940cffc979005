"""The nodes against recorded CometAPI exchanges (tests/cassettes): the real wire format, no key, no network."""

from __future__ import annotations

import pytest
import torch

from sora2_bridge.nodes.generate import Sora2Video
from sora2_bridge.nodes.jobs import Sora2LoadJob
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.shared.video import probe

VID = "video_68f1c0a2b3d48190a1b2c3d4e5f60718"
PROMPT = "A calico cat playing a piano on stage"
RECORDED = {"prompt": PROMPT, "model": "sora-2", "size": "720x1280", "seconds": 4, "provider": "cometapi"}


@pytest.mark.vcr("lifecycle.yaml")
async def test_video_node_create_poll_download(comfy, replay):
    out = await comfy.run(Sora2Video, seed=0, **RECORDED)
    video, video_id, last, cost = out.args
    assert video_id == VID and cost == pytest.approx(0.4)
    assert video.get_dimensions() == (720, 1280)
    info = probe(video.get_stream_source())
    assert info.frames == 120 and info.has_audio
    assert last.shape == (1, 1280, 720, 3) and last.dtype == torch.float32
    # the recorded job went queued -> 42 % -> 88 % -> completed; the bar followed it, then the download
    values = [v for v, _, _ in comfy.progress]
    assert values[:2] == [pytest.approx(0.9 * 42), pytest.approx(0.9 * 88)] and values[-1] == 100
    assert any("rendering 42%" in t for t in comfy.texts)
    assert sum(replay.sleeps) >= 2.0  # waited (on the fake clock) at least the service's 2 s poll-after hint


@pytest.mark.vcr("lifecycle.yaml")
async def test_load_job_downloads_a_finished_job_with_one_request(comfy, replay):
    out = await comfy.run(Sora2LoadJob, video_id=VID, provider="cometapi")
    assert out.args[1] == VID and out.args[0].get_dimensions() == (720, 1280)


@pytest.mark.vcr("job_failed.yaml")
async def test_failed_job_is_a_readable_error(comfy, replay):
    with pytest.raises(NodeError, match=f"Video {VID} failed: .*moderation_blocked"):
        await comfy.run(Sora2Video, seed=0, **RECORDED)


@pytest.mark.vcr("moderation_at_create.yaml")
async def test_moderation_at_create_is_a_readable_error(comfy, replay):
    with pytest.raises(NodeError, match="rephrase"):
        await comfy.run(Sora2Video, seed=0, **RECORDED)


@pytest.mark.vcr("content_expired.yaml")
async def test_load_job_of_expired_content(comfy, replay):
    with pytest.raises(NodeError, match="expired.*Generate it again"):
        await comfy.run(Sora2LoadJob, video_id=VID, provider="cometapi")
