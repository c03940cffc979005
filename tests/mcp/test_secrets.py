"""An MCP tool result never repeats a key that the service echoed back (the shared errors are redacted)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mcp import Client

from sora2_bridge.shared import AsyncSoraClient, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.redact import forget_secrets

KEY = "sk-proj-FakeEcho0123456789abcdefGHIJ"


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    yield
    forget_secrets()


async def test_mcp_tool_result_never_repeats_an_echoed_key(make_server) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")  # echoed line-wrapped and upper-cased
        echo = f"{token[:12]}\n{token[12:]}".upper()
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {echo}", "code": None}})

    def factory(config, record: JobRecord, s) -> AsyncSoraClient:
        return AsyncSoraClient(config, record=record, transport=httpx.MockTransport(echo),
                               retry=RetryPolicy(max_attempts=1))

    server = make_server(config=resolve_config("custom", "https://sora.test/v1", KEY, env={}), client_factory=factory)
    async with Client(server) as c:
        result = await c.call_tool("get_status", {"video_id": "video_1"})
    assert result.is_error and "HTTP 401" in result.content[0].text  # type: ignore[union-attr]
    dump = result.model_dump_json().lower()
    assert KEY.lower() not in dump and KEY[12:].lower() not in dump
