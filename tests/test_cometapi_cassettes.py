"""CometAPI as it really answers, replayed from cassettes in its own shapes (tests/cassettes/cometapi_*.yaml).

Each error: the class it becomes, exactly the requests it takes (a cassette refuses any request it does not hold,
and ``vcr.play_count`` counts the ones it answered: a refusal is one POST, with no reconciling ``list``), a
message naming the real cause and the next step, and the request id shown once. Run against the client and the
``sora2`` command; tests/mcp/ and tests/nodes/ hold the same for the other front ends.
"""

from __future__ import annotations

import json

import av
import pytest

from sora2_bridge.cli import main
from sora2_bridge.shared import (
    AsyncSoraClient,
    JobFailedError,
    JobRecord,
    RetryPolicy,
    ServerError,
    resolve_config,
)
from sora2_bridge.shared.errors import InsufficientBalanceError, InvalidRequestError, ModelNotFoundError

VID = "video_69b25d5f467c81908733a56bc236b4df"
VID_REMIX = "video_699f0c2e5d1a8190a1b2c3d4e5f60718293a4b5c6d7e8f90"
PROMPT = "A calico cat playing a piano on stage"
RID = "20260312061951234567890abcdef1"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def client(sleeps, tmp_path):
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    cfg = resolve_config("cometapi", api_key="sk-replay-only-comet", env={})
    async with AsyncSoraClient(cfg, record=JobRecord(tmp_path / "jobs.sqlite3"), downloads_dir=tmp_path / "videos",
                               retry=RetryPolicy(max_attempts=3), sleep=fake_sleep) as c:
        yield c


def shown_once(text: str, request_id: str = RID) -> bool:
    return text.count(request_id) == 1 and "(request id:" not in text


@pytest.mark.vcr("cometapi_lifecycle.yaml")
async def test_lifecycle_from_the_documented_create_answer(client, vcr, tmp_path):
    video = await client.create(PROMPT, size="1280x720", seconds=4)
    assert video.id == VID and video.status == "queued" and video.prompt is None  # CometAPI's short answer
    done = await client.poll(video.id)
    assert done.status == "completed" and done.expires_at == done.completed_at + 3600
    path = await client.download_content(VID, tmp_path / "clip.mp4")
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 120
    row = client.record.get(VID)
    assert row.status == "completed" and row.cost_usd == pytest.approx(0.4) and vcr.play_count == 4


@pytest.mark.vcr("cometapi_remix.yaml")
async def test_remix_with_a_48_hex_id(client, vcr):
    remix = await client.remix(VID, "The cat takes a bow")
    assert remix.id == VID_REMIX and remix.remixed_from_video_id == VID and vcr.play_count == 1


@pytest.mark.vcr("cometapi_model_not_found.yaml")
async def test_model_not_found_is_one_post_and_names_the_models(client, vcr, sleeps):
    with pytest.raises(ModelNotFoundError) as exc:
        await client.create(PROMPT, model="sora-2-hd", size="1280x720")
    msg = str(exc.value)
    assert vcr.play_count == 1 and sleeps == []  # one POST, no retry, no reconciling list
    assert not exc.value.transient and exc.value.model == "sora-2-hd" and exc.value.status_code == 503
    assert "no available channel" in msg and "sora-2, sora-2-hd, sora-2-pro" in msg
    assert "--model" in msg and "model input" in msg and "MCP" in msg
    assert "table may be out of date" in msg and "[providers.cometapi.models.NAME]" in msg  # sora-2-hd is ours
    assert "transient" not in msg and shown_once(msg)
    assert client.record.list() == []


@pytest.mark.vcr("cometapi_invalid_request.yaml")
async def test_invalid_request_sent_as_500_is_not_retried(client, vcr, sleeps):
    with pytest.raises(InvalidRequestError) as exc:
        await client.create(PROMPT, size="1280x720", seconds=20)
    msg = str(exc.value)
    assert vcr.play_count == 1 and sleeps == [] and not isinstance(exc.value, ServerError)
    assert "Supported values are" in msg and "HTTP 500" in msg and "will not help" in msg and shown_once(msg)


@pytest.mark.vcr("cometapi_quota.yaml")
async def test_balance_error_says_top_up_not_check_the_key(client, vcr, sleeps):
    with pytest.raises(InsufficientBalanceError) as exc:
        await client.create(PROMPT, size="1280x720")
    msg = str(exc.value)
    assert vcr.play_count == 1 and sleeps == []
    assert "user quota is not enough" in msg and "top up your balance at the provider" in msg
    assert "SORA2_API_KEY" not in msg and "check the API key" not in msg


@pytest.mark.vcr("cometapi_moderation_failed.yaml")
async def test_moderation_failure_with_a_null_code(client):
    video = await client.create(PROMPT, size="1280x720")
    with pytest.raises(JobFailedError) as exc:
        await client.wait(video.id)
    assert exc.value.code is None and exc.value.is_content_policy
    assert "moderation" in str(exc.value) and "rephrase" in str(exc.value)


@pytest.mark.vcr("cometapi_reconcile_list_fails.yaml")
async def test_a_failing_reconciliation_does_not_hide_the_original_error(client, vcr):
    with pytest.raises(ServerError) as exc:
        await client.create(PROMPT, size="1280x720")
    msg = str(exc.value)
    assert vcr.play_count == 2  # the POST and one list; nothing sent again, since a job may exist
    assert msg.startswith("upstream error: bad gateway") and "HTTP 502" in msg
    assert msg.index("bad gateway") < msg.index("Looking for a job this request may have created also failed")
    assert "sora2 list" in msg and shown_once(msg)


@pytest.mark.vcr("cometapi_other_vendor_statuses.yaml")
async def test_other_vendors_status_words_end_the_wait(client):
    video = await client.create(PROMPT, model="veo3-fast", size="1280x720")
    assert video.status == "queued"  # SUBMITTED
    done = await client.poll(video.id)
    assert done.status == "completed" and done.raw["status"] == "SUCCESS" and done.model_extra["video_url"]
    assert client.record.get(video.id).status == "completed"


# ---------------------------------------------------------------------------------------------- the CLI
def cli(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["--provider", "cometapi", *argv])
    return rc, capsys.readouterr().err


@pytest.fixture
def comet_key(monkeypatch):
    monkeypatch.setenv("SORA2_API_KEY", "sk-replay-only-comet")


@pytest.mark.vcr("cometapi_model_not_found.yaml")
def test_cli_model_not_found(comet_key, capsys, vcr):
    rc, err = cli(capsys, "generate", PROMPT, "--model", "sora-2-hd", "--size", "1280x720", "--no-wait")
    assert rc == 1 and vcr.play_count == 1 and "Traceback" not in err
    assert "no available channel" in err and "--model" in err and err.count(RID) == 1


@pytest.mark.vcr("cometapi_quota.yaml")
def test_cli_balance(comet_key, capsys, vcr):
    rc, err = cli(capsys, "generate", PROMPT, "--size", "1280x720", "--no-wait")
    assert rc == 1 and vcr.play_count == 1 and "top up your balance" in err and "API key" in err


@pytest.mark.vcr("cometapi_invalid_request.yaml")
def test_cli_invalid_request(comet_key, capsys, vcr):
    rc, err = cli(capsys, "generate", PROMPT, "--size", "1280x720", "--seconds", "20", "--no-wait")
    assert rc == 1 and vcr.play_count == 1 and "Supported values" in err and err.count(RID) == 1


@pytest.mark.vcr("cometapi_lifecycle.yaml")
def test_cli_generate_no_wait_then_json(comet_key, capsys, vcr):
    rc = main(["--provider", "cometapi", "--json", "generate", PROMPT, "--size", "1280x720", "--no-wait"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out)["id"] == VID and vcr.play_count == 1
