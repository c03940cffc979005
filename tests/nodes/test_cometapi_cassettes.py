"""The nodes against CometAPI's own answers (tests/cassettes/cometapi_*.yaml)."""

from __future__ import annotations

import pytest

from sora2_bridge.nodes.generate import Sora2Video
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.shared.video import probe

VID = "video_69b25d5f467c81908733a56bc236b4df"
PROMPT = "A calico cat playing a piano on stage"
RID = "20260312061951234567890abcdef1"
RECORDED = {"prompt": PROMPT, "model": "sora-2", "size": "1280x720", "seconds": 4, "provider": "cometapi"}


@pytest.mark.vcr("cometapi_lifecycle.yaml")
async def test_video_node_on_the_documented_answers(comfy, replay, vcr):
    video, video_id, _, cost = (await comfy.run(Sora2Video, seed=0, **RECORDED)).args
    assert video_id == VID and cost == pytest.approx(0.4) and vcr.play_count == 4
    assert probe(video.get_stream_source()).frames == 120


@pytest.mark.vcr("cometapi_model_not_found.yaml")
async def test_model_not_found_names_the_model_input(comfy, replay, vcr):
    with pytest.raises(NodeError) as exc:
        await comfy.run(Sora2Video, seed=0, **{**RECORDED, "model": "sora-2-hd", "size": "1792x1024"})
    msg = str(exc.value)
    assert vcr.play_count == 1 and replay.sleeps == []
    assert "no available channel" in msg and "model input" in msg and msg.count(RID) == 1


@pytest.mark.vcr("cometapi_quota.yaml")
async def test_balance(comfy, replay, vcr):
    with pytest.raises(NodeError, match="top up your balance at the provider"):
        await comfy.run(Sora2Video, seed=0, **RECORDED)
    assert vcr.play_count == 1


@pytest.mark.vcr("cometapi_moderation_failed.yaml")
async def test_moderation_failure_without_a_code(comfy, replay):
    with pytest.raises(NodeError, match="moderation.*rephrase"):
        await comfy.run(Sora2Video, seed=0, **RECORDED)
