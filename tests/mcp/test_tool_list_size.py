"""The tool list's size is a budget: every client sends the whole of ``tools/list`` to the model with each request.

Measured as the JSON of the ``tools/list`` result the server sends, for each built-in provider (their price tables
differ). The budget covers every tool the server lists; a new tool has to fit in it, or make room.
"""

from __future__ import annotations

import pytest
from mcp import Client

from sora2_bridge.mcp_server.server import create_server
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import resolve_config

TOOL_LIST_BUDGET = 8000  # bytes of the tools/list result (it was about 31,000 with an output schema per tool)


async def list_tools(settings: Settings, provider: str) -> tuple[int, dict[str, str]]:
    server = create_server(settings, config=resolve_config(provider))
    async with Client(server) as c:
        result = await c.list_tools()
    wire = result.model_dump_json(by_alias=True, exclude_none=True)
    return len(wire.encode()), {t.name: t.description or "" for t in result.tools}


@pytest.mark.parametrize("provider", ["local", "cometapi", "openai"])
async def test_tools_list_fits_the_budget(provider, settings: Settings, monkeypatch):
    monkeypatch.setenv("SORA2_API_KEY", "sk-test")
    size, descriptions = await list_tools(settings, provider)
    assert size < TOOL_LIST_BUDGET, f"tools/list is {size} bytes on {provider}, over the {TOOL_LIST_BUDGET} budget"
    # Each fact once: prices appear in generate_video's description only (and in the sora2://prices resource).
    priced = [name for name, text in descriptions.items() if "/s" in text and "$" in text]
    assert priced == ["generate_video"]


async def test_the_full_price_table_and_result_schemas_are_resources(server):
    async with Client(server) as c:
        prices = (await c.read_resource("sora2://prices")).contents[0].text  # type: ignore[union-attr]
        schemas = (await c.read_resource("sora2://schemas/results")).contents[0].text  # type: ignore[union-attr]
    assert "sora-2-pro" in prices and "$0.50/s" in prices and "$5.00/call" in prices
    assert '"next_check_seconds"' in schemas and "VideoResult" in schemas and "JoinResult" in schemas
    assert "SequenceResult" in schemas and "ShotState" in schemas
