"""The tools against CometAPI's own answers (tests/cassettes/cometapi_*.yaml): refusals are one request, with a
message naming the cause and the next step; a moderation failure without a code still reads as moderation."""

from __future__ import annotations

import pytest
from mcp import Client

from sora2_bridge.mcp_server.server import create_server
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import AsyncSoraClient, ClientConfig, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.config import data_dir

PROMPT = "A calico cat playing a piano on stage"
RID = "20260312061951234567890abcdef1"


@pytest.fixture
def server(settings: Settings):
    async def no_sleep(seconds: float) -> None:
        return None

    def factory(config: ClientConfig, record: JobRecord, s: Settings) -> AsyncSoraClient:
        return AsyncSoraClient(config, record=record, downloads_dir=s.output_dir, sleep=no_sleep,
                               retry=RetryPolicy(max_attempts=3))

    config = resolve_config("cometapi", api_key="sk-fake-replay-comet-0123", env={})
    return create_server(settings, config=config, client_factory=factory)


async def refusal(server, arguments: dict, request_id: str | None = RID) -> str:
    async with Client(server) as c:
        result = await c.call_tool("generate_video", {"prompt": PROMPT, "size": "1280x720", **arguments})
        left = (await c.call_tool("estimate_cost", {})).structured_content
    assert result.is_error
    assert left["budget_remaining_usd"] == 50.0  # nothing was created, nothing is charged to the budget
    assert JobRecord(data_dir() / "jobs.sqlite3").list() == []
    text = result.content[0].text
    assert "Traceback" not in text and (request_id is None or text.count(request_id) == 1)
    return text


@pytest.mark.vcr("cometapi_model_not_found.yaml")
async def test_model_not_found(server, vcr):
    text = await refusal(server, {"model": "sora-2-hd"})
    assert vcr.play_count == 1 and "no available channel" in text and "model parameter" in text


@pytest.mark.vcr("cometapi_invalid_request.yaml")
async def test_invalid_request_as_500(server, vcr):
    text = await refusal(server, {"seconds": 20})
    assert vcr.play_count == 1 and "Supported values" in text and "will not help" in text


@pytest.mark.vcr("cometapi_quota.yaml")
async def test_balance(server, vcr):
    text = await refusal(server, {}, request_id=None)  # CometAPI's flat balance answer carries no request id
    assert vcr.play_count == 1 and "top up your balance at the provider" in text


@pytest.mark.vcr("cometapi_moderation_failed.yaml")
async def test_moderation_failure_without_a_code(server):
    async with Client(server) as c:
        result = await c.call_tool("generate_video", {"prompt": PROMPT, "size": "1280x720", "wait_seconds": 60})
    data = result.structured_content
    assert data["status"] == "failed" and data["error_code"] is None
    assert "moderation" in data["error_message"]
    assert "Rephrase the prompt" in data["hint"], "moderation read from the message, not only from a code"
