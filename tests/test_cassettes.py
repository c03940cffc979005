"""Every operation and every error class, replayed from cassettes in the service's documented wire format.

Replays need no key and no network. To re-record against a live provider (this spends money):
    SORA2_API_KEY=sk-... python -m pytest tests/test_cassettes.py --record-mode=rewrite
"""

from __future__ import annotations

import os

import av
import pytest

from sora2_bridge.shared import (
    AsyncSoraClient,
    AuthenticationError,
    BadRequestError,
    ContentPolicyError,
    ExpiredError,
    JobFailedError,
    JobRecord,
    NotFoundError,
    RetryPolicy,
    ServerError,
    resolve_config,
)

VID = "video_68f1c0a2b3d48190a1b2c3d4e5f60718"
PROMPT = "A calico cat playing a piano on stage"


@pytest.fixture
def sleeps(request):
    return []


@pytest.fixture
async def client(request, sleeps, tmp_path):
    replaying = request.config.getoption("--record-mode") in (None, "none")

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    cfg = resolve_config("cometapi", api_key=os.environ.get("SORA2_API_KEY", "sk-replay-only"), env={})
    async with AsyncSoraClient(
        cfg,
        record=JobRecord(tmp_path / "jobs.sqlite3"),
        downloads_dir=tmp_path / "videos",
        retry=RetryPolicy(max_attempts=3),
        **({"sleep": fake_sleep} if replaying else {}),
    ) as c:
        yield c


@pytest.mark.vcr("lifecycle.yaml")
async def test_create_poll_download_delete(client, sleeps, tmp_path):
    events = []
    video = await client.create_and_poll(PROMPT, size="720x1280", seconds=4, on_progress=events.append)
    assert video.id == VID and video.status == "completed" and video.expires_at == video.completed_at + 3600
    assert [e.progress for e in events] == [42, 88, 100]
    assert events[0].phase == "in_progress" and "rendering 42%" in events[0].text
    assert sleeps[0] >= 2.0  # the openai-poll-after-ms header is a floor
    path = await client.download_content(video.id)
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (720, 1280)
        assert container.streams.audio[0].codec_context.name == "aac"
    thumb = await client.download_content(video.id, tmp_path, variant="thumbnail")
    assert thumb.suffix == ".webp" and thumb.read_bytes()[8:12] == b"WEBP"
    row = client.record.get(VID)
    assert row.status == "completed" and row.files["video"] == str(path.resolve()) and row.cost_usd == 0.4
    deleted = await client.delete(VID)
    assert deleted.deleted and client.record.get(VID).status == "deleted"


@pytest.mark.vcr("list_paging.yaml")
async def test_list_pages_through_everything(client):
    videos = [v async for v in client.list(limit=2)]
    assert [v.id[-4:] for v in videos] == ["c8d9", "b6c7", "0718"]
    assert videos[-1].model_extra == {"quality": "standard"}  # unknown fields are kept


@pytest.mark.vcr("remix_extend_edit.yaml")
async def test_remix_extend_edit(client):
    remix = await client.remix(VID, "Extend the scene with the cat taking a bow to the cheering audience")
    assert remix.remixed_from_video_id == VID
    ext = await client.extend(VID, "The cat walks off stage", 8)
    assert ext.seconds == "12"  # the stitched total
    edit = await client.edit(VID, "Make it night")
    assert edit.prompt == "Make it night"
    kinds = {r.id: (r.kind, r.source_id, r.cost_usd) for r in client.record.list()}
    assert kinds[remix.id] == ("remix", VID, 0.4)
    assert kinds[ext.id] == ("extend", VID, 0.8)  # only the added 8 s are billed
    assert kinds[edit.id][0] == "edit"


@pytest.mark.vcr("auth_error.yaml")
async def test_auth_error(client):
    with pytest.raises(AuthenticationError) as exc:
        await client.retrieve(VID)
    assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
    assert "SORA2_API_KEY" in str(exc.value) and "req_" in str(exc.value)


@pytest.mark.vcr("rate_limited_then_ok.yaml")
async def test_rate_limit_is_retried_after_the_servers_delay(client, sleeps):
    video = await client.retrieve(VID)
    assert video.progress == 10
    assert sleeps == [1.5]  # retry-after-ms wins over retry-after and over our own backoff


@pytest.mark.vcr("server_errors_then_ok.yaml")
async def test_server_errors_are_retried(client, sleeps):
    video = await client.retrieve(VID)
    assert video.status == "completed" and len(sleeps) == 2


@pytest.mark.vcr("server_error_exhausted.yaml")
async def test_server_error_reaches_user_readable(client, sleeps):
    with pytest.raises(ServerError) as exc:
        await client.retrieve(VID)
    msg = str(exc.value)
    assert "overloaded" in msg and "HTTP 503" in msg and "request id req_" in msg and "retrying later" in msg
    assert len(sleeps) == 2


@pytest.mark.vcr("moderation_at_create.yaml")
async def test_content_policy_at_create(client):
    with pytest.raises(ContentPolicyError) as exc:
        await client.create(PROMPT)
    assert exc.value.code == "moderation_blocked" and "rephrase" in str(exc.value)
    assert client.record.list() == []  # nothing was created, nothing recorded


@pytest.mark.vcr("job_failed.yaml")
async def test_failed_job_raises_with_code(client):
    video = await client.create(PROMPT)
    with pytest.raises(JobFailedError) as exc:
        await client.wait(video.id)
    assert exc.value.code == "moderation_blocked" and exc.value.is_content_policy
    assert client.record.get(VID).error_code == "moderation_blocked"


@pytest.mark.vcr("not_found.yaml")
async def test_not_found(client):
    with pytest.raises(NotFoundError, match="not found.*check the video id"):
        await client.retrieve("video_missing")


@pytest.mark.vcr("content_not_ready.yaml")
async def test_content_before_completion(client, tmp_path):
    with pytest.raises(BadRequestError, match="not ready"):
        await client.download_content(VID, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.vcr("content_expired.yaml")
async def test_expired_content(client, tmp_path):
    with pytest.raises(ExpiredError, match="expired"):
        await client.download_content(VID, tmp_path / "x.mp4")


@pytest.mark.vcr("seconds_refused_by_service.yaml")
async def test_service_refusal_carries_param_and_code(client):
    with pytest.raises(BadRequestError) as exc:
        await client.create(PROMPT, seconds=20)  # our table allows 20 s; this provider's deployment does not
    assert (exc.value.param, exc.value.code, exc.value.status_code) == ("seconds", "invalid_value", 400)


@pytest.mark.vcr("download_truncated_then_ok.yaml")
async def test_truncated_download_is_retried_and_never_left_half_written(client, sleeps, tmp_path):
    path = await client.download_content(VID, tmp_path / "clip.mp4")
    assert len(sleeps) == 1
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 120
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
