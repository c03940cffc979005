"""The team benchmark's machinery (bench/bench_team.py) in a tiny configuration: its client-side round robin
really spreads one agent's requests over two stateless instances sharing a data folder, with tokens, and its agents
finish without errors; its PostgreSQL column really runs two instance processes on one database, each with its own
data and output folders. Behaviour only: no timings are asserted."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


HERE = Path(__file__).resolve().parent


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = load(HERE.parents[1] / "bench" / "bench_team.py", "bench_team_under_test")
serving = load(HERE / "test_auth.py", "auth_tests_helpers").serving


@pytest.fixture
def tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    path = tmp_path / "tokens.json"
    monkeypatch.setenv("SORA2_MCP_TOKENS_FILE", str(path))
    return bench.make_tokens(path, 2)


def recording(ports: list[int], seen: list[int]) -> Iterator[int]:
    for port in itertools.cycle(ports):
        seen.append(port)
        yield port


async def test_round_robin_agents_over_two_instances(make_server, tokens: list[str]) -> None:
    plans = [bench_plan(), bench_plan()]
    with serving(make_server(http=plans[0]), plans[0]) as a, serving(make_server(http=plans[1]), plans[1]) as b:
        ports, seen = [a.port, b.port], []
        async with bench.round_robin_client(ports, recording(ports, seen), tokens[0]) as c:
            made = await c.call_tool("generate_video", {"prompt": "a tin robot watering plants", "seconds": 4})
            assert not made.is_error, made.content
            status = await c.call_tool("get_status", {"video_id": made.structured_content["video_id"]})
        assert not status.is_error and status.structured_content["video_id"] == made.structured_content["video_id"]
        assert set(seen) == set(ports) and all(x != y for x, y in itertools.pairwise(seen))

        run = await bench.team(ports, tokens, bench.Load(sessions=3, polls=2, pause=0.0))
    assert run.errors == []
    assert run.created == 3 and len(run.status_ms) == 6 and len(run.create_ms) == 3


async def test_another_tokens_agent_is_refused_its_neighbours_job(make_server, tokens: list[str]) -> None:
    """The agents' tokens are real callers: a job made with one token is invisible to the other."""
    plan = bench_plan()
    with serving(make_server(http=plan), plan) as a:
        cycle = itertools.cycle([a.port])
        async with bench.round_robin_client([a.port], cycle, tokens[0]) as c:
            made = await c.call_tool("generate_video", {"prompt": "a tin robot reading", "seconds": 4})
        async with bench.round_robin_client([a.port], cycle, tokens[1]) as c:
            other = await c.call_tool("get_status", {"video_id": made.structured_content["video_id"]})
    assert other.is_error


def bench_plan():  # type: ignore[no-untyped-def]
    from sora2_bridge.mcp_server.auth import plan_http

    plan = plan_http("127.0.0.1", 8000, bench.MCP_PATH)
    assert plan.auth is not None and plan.stateless
    return plan


def test_every_instance_gets_its_folders_and_the_database_from_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORA2_DATABASE_URL", "postgresql://someone@elsewhere/theirs")  # never the bench's SQLite rows
    base = bench.base_env(tmp_path)
    url = "postgresql://postgres@/bench?host=/tmp/pg"
    by_setup = {s.title: bench.instance_envs(s, base, tmp_path, url if s.postgres else None) for s in bench.SETUPS}

    [one] = by_setup["1 instance, SQLite"]
    assert "SORA2_DATABASE_URL" not in one
    pg, shared = by_setup["2 instances, PostgreSQL"], by_setup["2 instances, one SQLite folder"]
    assert [e["SORA2_DATABASE_URL"] for e in pg] == [url, url]
    assert pg[0]["SORA2_DATA_DIR"] != pg[1]["SORA2_DATA_DIR"]
    assert shared[0]["SORA2_DATA_DIR"] == shared[1]["SORA2_DATA_DIR"] and "SORA2_DATABASE_URL" not in shared[0]
    for pair in (pg, shared):
        assert pair[0]["SORA2_MCP_OUTPUT_DIR"] != pair[1]["SORA2_MCP_OUTPUT_DIR"]


async def test_two_instance_processes_share_one_postgresql_database(postgres_server: str, tmp_path: Path) -> None:
    """Each instance keeps its own data folder, so an agent whose polls land on the instance that did not create its
    job is only answered because both instances read the one spending ledger in PostgreSQL."""
    [setup] = [s for s in bench.SETUPS if s.postgres]
    base = bench.base_env(tmp_path)
    tokens = bench.make_tokens(tmp_path / "tokens.json", 2)
    with bench.simulator(base, bench.SPEED) as sim_url:
        run, seconds = await bench.measure(setup, sim_url, tokens, bench.Load(sessions=3, polls=2, pause=0.0), base,
                                           tmp_path / "pg", postgres_server)
    assert run.errors == []
    assert run.created == 3 and len(run.status_ms) == 6 and seconds > 0
    assert not list((tmp_path / "pg").rglob("mcp-spend.sqlite3")), "the ledger must live in PostgreSQL"
