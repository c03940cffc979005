"""Fixtures of the MCP server tests: settings in a temporary folder, and servers on the simulator or a cassette.

Clients are opened inside each test (``async with Client(server)``) rather than in fixtures: the SDK's client holds
anyio task groups, which must be entered and left in the same task.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer

from sora2_bridge.mcp_server.server import create_server
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import AsyncSoraClient, ClientConfig, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.simulator import SimulatorServer

@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    path = tmp_path / "inputs"
    path.mkdir()
    return path


@pytest.fixture
def settings(tmp_path: Path, input_dir: Path) -> Settings:
    """Generous limits, the background collector off (tests drive it), folders under tmp_path."""
    return Settings(
        output_dir=tmp_path / "out",
        input_dirs=(input_dir,),
        max_usd_per_call=5.0,
        budget_usd=50.0,
        auto_download=False,
        state_dir=data_dir(),
    )


MakeServer = Callable[..., MCPServer]
# Retries are the shared client's business (tested there); here they only need to end quickly.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_total_wait=1.0)


def fast_retries(config: ClientConfig, record: JobRecord, settings: Settings) -> AsyncSoraClient:
    return AsyncSoraClient(config, record=record, downloads_dir=settings.output_dir, retry=FAST_RETRY)


@pytest.fixture
def make_server(sim: SimulatorServer, settings: Settings) -> MakeServer:
    """``make_server(**settings_changes, server_kwargs...)``: a server on the loopback simulator."""

    def make(settings_obj: Settings | None = None, **kwargs: Any) -> MCPServer:
        config = kwargs.pop("config", None) or resolve_config("local", sim.base_url)
        kwargs.setdefault("client_factory", fast_retries)
        return create_server(settings_obj or settings, config=config, **kwargs)

    return make


@pytest.fixture
def server(make_server: MakeServer) -> MCPServer:
    return make_server()
