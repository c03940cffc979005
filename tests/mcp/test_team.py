"""Two ``sora2-mcp --transport http`` processes on one PostgreSQL database behave as one team server.

Everything is real and on loopback: the simulator over TCP, a fresh PostgreSQL database, and two server processes
started as an operator starts them (the CLI entry point, configured by environment variables), each with its own
data folder and its own output folder, sharing the database, the tokens file, the URL secret and the team budget.
Agents are SDK clients over streamable HTTP with bearer tokens. What is proved: the team budget holds across the
instances to the cent, an identical request sent to both at once is paid once, a job whose instance was killed
while waiting for it is saved by the other, a create whose instance was killed before the answer arrived is found
rather than paid again, and a finished job is downloaded by exactly one instance.

Deadlines here only bound how long a test waits for something to happen; nothing asserts how fast it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from sqlalchemy import create_engine, text

from sora2_bridge.mcp_server.tokens import ENV_TOKENS_FILE, TokenStore
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer

pytestmark = pytest.mark.timeout(120)

PRICE = 0.40  # a 4 s sora-2 clip at 720p
CLIP = {"model": "sora-2", "size": "720x1280", "seconds": 4}
URL_SECRET = "team-url-secret-shared-by-every-instance"
START_DEADLINE = 60.0  # seconds an instance may take to listen (a loaded machine imports slowly)
SAVE_DEADLINE = 60.0  # seconds a collector may take to save a finished clip
# Prompts of the tests that download: the simulator caches a clip per prompt for the session, so these encode once.
SAVED_PROMPT = "a lighthouse keeper winding the lamp at dusk"


# ---------------------------------------------------------------------------------------------- the team
@dataclass
class Instance:
    """One server process: its port, its own output folder, and its stderr (shown if it fails to start)."""

    name: str
    port: int
    out: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def clip(self, video_id: str) -> Path:
        return self.out / f"{video_id}.mp4"

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it hangs; a killed instance is only reaped."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()


@dataclass
class Team:
    sim: SimulatorServer
    database: str
    a: Instance
    b: Instance
    tokens: list[str] = field(default_factory=list)

    @property
    def instances(self) -> tuple[Instance, Instance]:
        return self.a, self.b

    def spent(self) -> tuple[float, int]:
        """The ledger in PostgreSQL: the total spent, and how many reservations are still open."""
        engine = create_engine(self.database)
        try:
            with engine.connect() as conn:
                total = conn.execute(text("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE state = 'spent'")).scalar()
                open_ = conn.execute(text("SELECT COUNT(*) FROM spend WHERE state = 'reserved'")).scalar()
        finally:
            engine.dispose()
        return float(total), int(open_)

    def record_file(self, video_id: str) -> str | None:
        """The saved clip the shared job record names for ``video_id``."""
        record = JobRecord(self.database)
        try:
            row = record.get(video_id)
            return row.files.get("video") if row is not None else None
        finally:
            record.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(instance: Instance) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{instance.port}/", timeout=1)
            return
        if instance.proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"instance {instance.name} did not start (exit {instance.proc.poll()}): "
                                 f"{instance.log.read_text()[-3000:]}")
        time.sleep(0.05)


StartTeam = Callable[..., Team]


@pytest.fixture
def start_team(sim: SimulatorServer, postgres_url: str, tmp_path: Path) -> Iterator[StartTeam]:
    """``start_team(budget, collect_seconds=(a, b), auto_download)``: two instances on the simulator and the
    database, both listening; stopped (or reaped, if a test killed one) when the test ends."""
    started: list[Instance] = []

    def start(budget: float, collect_seconds: tuple[float, float] = (0.3, 0.3), auto_download: bool = True) -> Team:
        tokens_file = Path(os.environ[ENV_TOKENS_FILE])  # the autouse fixture's, shared by both instances
        store = TokenStore(tokens_file)
        tokens = [store.add(f"agent{i}") for i in range(4)]
        for name, every in zip("ab", collect_seconds):
            root = tmp_path / f"instance-{name}"
            root.mkdir()
            env = {
                **os.environ,
                "SORA2_DATA_DIR": str(root / "data"),
                "SORA2_MCP_OUTPUT_DIR": str(root / "clips"),
                "SORA2_DATABASE_URL": postgres_url,
                "SORA2_PROVIDER": "local",
                "SORA2_BASE_URL": sim.base_url,
                ENV_TOKENS_FILE: str(tokens_file),
                "SORA2_MCP_URL_SECRET": URL_SECRET,
                "SORA2_MCP_BUDGET_USD": f"{budget:.2f}",
                "SORA2_MCP_BUDGET_PERIOD": "day",
                "SORA2_MCP_AUTO_DOWNLOAD": "1" if auto_download else "0",
                "SORA2_MCP_COLLECT_SECONDS": str(every),
            }
            port, log = free_port(), root / "stderr.log"
            with log.open("wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "sora2_bridge.mcp_server.cli", "--transport", "http",
                     "--host", "127.0.0.1", "--port", str(port), "--auth", "tokens"],
                    env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            started.append(Instance(name, port, root / "clips", proc, log))
        a, b = started[-2:]
        for instance in (a, b):
            wait_listening(instance)
        return Team(sim, postgres_url, a, b, tokens)

    try:
        yield start
    finally:
        for instance in started:
            instance.stop()


def agent(instance: Instance, token: str) -> Client:
    """An SDK client of ``instance`` with a bearer token, over streamable HTTP."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    return Client(streamable_http_client(instance.url, http_client=http))


async def at_once(calls: list[tuple[Instance, str, Callable[[Client], Awaitable[CallToolResult]]]]
                  ) -> list[CallToolResult]:
    """Each call on its own connected client, all released together once every client has connected."""
    ready = asyncio.Barrier(len(calls))

    async def one(instance: Instance, token: str, call: Callable[[Client], Awaitable[CallToolResult]]
                  ) -> CallToolResult:
        async with agent(instance, token) as client:
            await ready.wait()
            return await call(client)

    return list(await asyncio.gather(*(one(*c) for c in calls)))


def text_of(result: CallToolResult) -> str:
    return " ".join(getattr(part, "text", "") for part in result.content)


async def until(what: str, check: Callable[[], bool], deadline: float = SAVE_DEADLINE) -> None:
    """Wait for ``check`` to hold (an upper bound on the wait, not a timing assertion)."""
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, f"not within {deadline:.0f} s: {what}"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------------- the tests
async def test_the_team_budget_holds_across_instances(start_team: StartTeam, sim_config: SimulatorConfig) -> None:
    """20 agents at once, alternating between the instances, against a budget that admits only some of them."""
    budget = 3.00
    team = start_team(budget, auto_download=False)  # nothing is downloaded: this is about paying
    admitted = round(budget * 100) // round(PRICE * 100)

    def generate(i: int) -> Callable[[Client], Awaitable[CallToolResult]]:
        return lambda c: c.call_tool("generate_video", {
            "prompt": f"Agent {i}: a paper lantern drifting over a night market", **CLIP, "wait_seconds": 0})

    results = await at_once([(team.instances[i % 2], team.tokens[i % len(team.tokens)], generate(i))
                             for i in range(20)])

    made = [r.structured_content for r in results if not r.is_error]
    refused = [text_of(r) for r in results if r.is_error]
    assert len(made) == admitted == 7, refused
    assert len({m["video_id"] for m in made}) == admitted
    assert all(m["cost_usd"] == pytest.approx(PRICE) for m in made)
    assert len(refused) == 20 - admitted
    for message in refused:
        assert "budget" in message and "SORA2_MCP_BUDGET_USD" in message, message
    spent, still_reserved = team.spent()
    assert spent <= budget + 0.005
    assert spent == pytest.approx(admitted * PRICE) and still_reserved == 0
    assert team.sim.state.jobs_created == admitted


async def test_an_identical_request_to_both_instances_is_paid_once(start_team: StartTeam) -> None:
    """The same request with the same token, sent to A and B at the same moment, is one job."""
    team = start_team(10.0, auto_download=False)
    same = {"prompt": "two herons fishing in a misty estuary", **CLIP, "wait_seconds": 0}

    def generate(c: Client) -> Awaitable[CallToolResult]:
        return c.call_tool("generate_video", same)

    first, second = await at_once([(team.a, team.tokens[0], generate), (team.b, team.tokens[0], generate)])

    assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
    a, b = first.structured_content, second.structured_content
    assert a["video_id"] == b["video_id"]
    assert sorted([a["reused_existing"], b["reused_existing"]]) == [False, True]
    assert team.sim.state.jobs_created == 1
    assert team.spent() == (pytest.approx(PRICE), 0)


async def test_a_job_whose_instance_died_mid_wait_is_saved_by_the_other(
    start_team: StartTeam, sim_config: SimulatorConfig
) -> None:
    """A agent waits on A; A is killed (SIGKILL) while the job renders; B's collector saves the clip, and B answers
    for it. A's collector is set not to run during the test: a collector killed between taking a job's ``collect:``
    lease and releasing it leaves that lease to lapse (minutes), which is the design but not what is proved here."""
    team = start_team(10.0, collect_seconds=(600.0, 0.3))
    sim_config.instant = False
    sim_config.speed = 0.5  # a 4 s 720p clip: queued 2 s, then rendering 4 s
    waiting = asyncio.Event()

    async def progress(_progress: float, _total: float | None, message: str | None) -> None:
        if not (message or "").startswith("Warning"):  # warnings come before the job exists
            waiting.set()

    async def wait_on_a() -> CallToolResult:
        async with agent(team.a, team.tokens[0]) as client:
            return await client.call_tool(
                "generate_video", {"prompt": SAVED_PROMPT, **CLIP, "wait_seconds": 120}, progress_callback=progress)

    call = asyncio.create_task(wait_on_a())
    await asyncio.wait_for(waiting.wait(), timeout=SAVE_DEADLINE)
    [video_id] = team.sim.state.jobs
    assert team.sim.state.jobs[video_id].is_running(time.time()), "A was to die while the job still renders"
    team.a.proc.send_signal(signal.SIGKILL)
    team.a.proc.wait()
    call.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):  # the agent's connection died with A
        await call

    saved = team.b.clip(video_id)
    await until(f"B saves {video_id} and the shared record names the file",
                lambda: saved.is_file() and team.record_file(video_id) == str(saved.resolve()))
    assert not team.a.clip(video_id).exists()
    async with agent(team.b, team.tokens[0]) as client:
        status = await client.call_tool("get_status", {"video_id": video_id})
    assert not status.is_error, text_of(status)
    assert status.structured_content["status"] == "completed"
    assert status.structured_content["file_path"] == str(saved.resolve())
    assert team.sim.state.jobs_created == 1


async def test_a_create_whose_instance_died_before_its_answer_is_not_paid_again(start_team: StartTeam) -> None:
    """A is killed while the service is still answering its create: the job is made, A never records it. The same
    request to B waits for A's lease on it to lapse, then finds that job on the service instead of paying again."""
    team = start_team(10.0, auto_download=False)
    team.sim.faults.endpoints = ["create"]
    team.sim.faults.answer_latency_ms = 3000  # the job exists at once; its answer takes 3 s
    same = {"prompt": "a heron lifting off a frozen pond", **CLIP, "wait_seconds": 0}

    async def on_a() -> CallToolResult:
        async with agent(team.a, team.tokens[0]) as client:
            return await client.call_tool("generate_video", same)

    call = asyncio.create_task(on_a())
    await until("the service made A's job", lambda: team.sim.state.jobs_created == 1)
    team.a.proc.send_signal(signal.SIGKILL)  # before the answer reaches A
    team.a.proc.wait()
    call.cancel()
    with contextlib.suppress(Exception, asyncio.CancelledError):  # the agent's connection died with A
        await call
    team.sim.faults.answer_latency_ms = 0

    async with agent(team.b, team.tokens[0]) as client:
        again = await client.call_tool("generate_video", same)
    assert not again.is_error, text_of(again)
    [made] = team.sim.state.jobs
    assert again.structured_content["video_id"] == made
    assert team.sim.state.jobs_created == 1 and team.sim.state.requests["create"] == 1


async def test_a_finished_job_is_collected_by_exactly_one_instance(start_team: StartTeam) -> None:
    """Each instance has its own folder and a collector every 0.3 s; the ``collect:`` lease makes one of them save."""
    team = start_team(10.0)
    async with agent(team.a, team.tokens[0]) as client:
        made = await client.call_tool("generate_video", {"prompt": SAVED_PROMPT, **CLIP, "wait_seconds": 0})
    assert not made.is_error, text_of(made)
    video_id = made.structured_content["video_id"]

    def holders() -> list[Instance]:
        return [i for i in team.instances if i.clip(video_id).is_file()]

    await until(f"an instance saves {video_id}", lambda: bool(holders()))
    await asyncio.sleep(10 * 0.3)  # many more collector runs on both instances
    assert [i.name for i in holders()] in (["a"], ["b"]), "both instances downloaded the job"
    [saver] = holders()
    assert team.record_file(video_id) == str(saver.clip(video_id).resolve())
    assert saver.clip(video_id).stat().st_size > 0
    assert team.sim.state.jobs_created == 1
