"""Storyboard fixtures: a client on the loopback simulator with its own job record, and a storyboard writer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sora2_bridge.shared import AsyncSoraClient, JobRecord, PollPolicy, resolve_config
from sora2_bridge.shared.simulator import SimulatorServer
from sora2_bridge.shared.storyboard import Plan, Storyboard, load_storyboard, plan_storyboard

FAST_POLL = PollPolicy(initial_interval=0.01, min_interval=0.01, max_interval=0.2)


@pytest.fixture
def record(tmp_path: Path) -> JobRecord:
    return JobRecord(tmp_path / "jobs.sqlite3")


@pytest.fixture
async def client(sim: SimulatorServer, record: JobRecord, tmp_path: Path) -> AsyncIterator[AsyncSoraClient]:
    async with AsyncSoraClient(resolve_config("local", sim.base_url), record=record, poll_policy=FAST_POLL,
                               downloads_dir=tmp_path / "videos") as c:
        yield c


@pytest.fixture
def plan_for(client: AsyncSoraClient, tmp_path: Path) -> Callable[[str | dict], Plan]:
    """Load and plan a storyboard (YAML text or a mapping) for the simulator the client talks to."""

    def make(source: str | dict) -> Plan:
        sb: Storyboard = load_storyboard(source)
        return plan_storyboard(sb, client.provider, base_url=client.config.base_url, base_dir=tmp_path)

    return make
