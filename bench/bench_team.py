"""Serving a team: many agents over streamable HTTP with bearer tokens, on 1 instance (SQLite) vs 2 instances
sharing one PostgreSQL database vs 2 instances sharing one data folder (SQLite).

Everything runs on loopback as separate processes, as a team would deploy it: the simulator (fast renders, no MP4
encoded since nothing is downloaded), and 1 or 2 MCP instances (``serve`` below: the same app ``sora2-mcp
--transport http`` builds, tokens on, stateless), each configured through its environment only, as an operator
would: its own output folder (``SORA2_MCP_OUTPUT_DIR``); with PostgreSQL, ``SORA2_DATABASE_URL`` naming one new
database for all instances and each instance its own data folder (as on two machines); with SQLite, one data folder
for all (its files are the shared store). The agents are asyncio tasks in this process, each an SDK client with one
of ``--tokens`` bearer tokens; a client-side round robin sends every HTTP request to the next instance (legal
because no instance keeps an MCP session). Each agent calls ``generate_video`` once (its own prompt),
``get_status`` ``--polls`` times ``--pause`` seconds apart (the agents spread evenly over that period, as
independent agents would be), and ``estimate_cost`` once.

PostgreSQL: a temporary cluster from this machine's binaries (tests/postgres.py), or ``--postgres-url`` naming an
existing server whose role may create databases (the bench creates and drops its own). Without either, the
PostgreSQL column is skipped with a message.

Reported: ``get_status`` latency minus the simulator's own ``GET /v1/videos/{id}`` (timed in the same run with the
same number of agents, pacing and HTTP client library), jobs created per second through the spending guard, errors;
the same overhead for one agent alone, over HTTP and in memory (what stdio costs without the pipes); and a
server-side cProfile of one instance (``--profile-on``: PostgreSQL or SQLite) answering the agents' ``get_status``
calls, grouped by what the time is spent on. Run:

    python bench/bench_team.py [--sessions 50] [--tokens 5] [--polls 6] [--pause 1] [--calls 200]
                               [--postgres-url postgresql://user:password@host/postgres] [--profile-on postgresql]

Prints markdown tables plus the machine info. ``serve`` and ``simulate`` are the processes this script starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import os
import pstats
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_mcp import free_port, machine_info, percentile  # noqa: E402
from postgres import MISSING, fresh_database, postgres_bin, temporary_cluster  # noqa: E402

MCP_PATH = "/mcp"
SIM_KEY = {"Authorization": "Bearer bench"}
# One TLS context for every client: httpx builds one per client otherwise (loading the CA bundle, about 15 ms of
# CPU each), which would put the agents' own start-up into the measured latencies. Every URL here is plain http.
TLS = ssl.create_default_context()
SPEED = 4.0  # a 4 s 720p clip: about 0.75 s queued/rendering, so polls see in_progress and completed jobs
ENV_DATABASE_URL = "SORA2_DATABASE_URL"  # spelled out: the bench sets what an operator sets
# Every instance's limits, from the environment as an operator sets them: room for every agent's jobs, and no
# downloads (the simulator would encode MP4s, and the bench would measure its encoder).
LIMITS = {"SORA2_MCP_MAX_USD_PER_CALL": "2", "SORA2_MCP_BUDGET_USD": "10000", "SORA2_MCP_AUTO_DOWNLOAD": "0"}


# ---------------------------------------------------------------------------------------------- one instance
def serve(port: int, sim_url: str, profile: Path | None) -> None:
    """One MCP instance over HTTP, configured by its environment (``SORA2_MCP_*`` settings and tokens file,
    ``SORA2_DATA_DIR``, ``SORA2_DATABASE_URL``), as ``sora2-mcp`` reads it.

    With ``profile``, SIGUSR1 starts cProfile (so only the calls after it are measured) and the stats are written
    when the instance stops (SIGTERM)."""
    import uvicorn

    from sora2_bridge.mcp_server.auth import plan_http
    from sora2_bridge.mcp_server.server import create_server
    from sora2_bridge.mcp_server.settings import Settings
    from sora2_bridge.shared import resolve_config

    settings = Settings.from_env()
    config = resolve_config("local", sim_url).model_copy(update={"max_concurrent_jobs": 1000})
    plan = plan_http("127.0.0.1", port, MCP_PATH)
    assert plan.auth is not None, "the bench serves with bearer tokens"
    app = create_server(settings, config=config, http=plan).streamable_http_app(**plan.app_kwargs())
    profiler = cProfile.Profile()
    if profile is not None:
        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
        # uvicorn re-raises the SIGTERM that stopped it once it has shut down; this lets the stats be written.
        signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    if profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)


def simulate(port: int, speed: float) -> None:
    """The simulator, as ``sora2 simulate`` serves it but without encoding each clip when its job is created
    (``sora2 simulate`` prerenders; here nothing is downloaded, so that would only take CPU from what is measured)."""
    import threading

    from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SimulatorServer(SimulatorConfig(speed=speed, max_running_jobs=None), port=port):
        while not stop.wait(0.5):
            pass


# ---------------------------------------------------------------------------------------------- processes
def wait_listening(port: int, proc: subprocess.Popen, what: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            raise RuntimeError(f"{what} did not start (exit {proc.returncode}): {log.read().decode()[-2000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], port: int, what: str) -> Iterator[subprocess.Popen]:
    log = tempfile.TemporaryFile()  # access logs and errors; shown if the process does not start
    proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_listening(port, proc, what, log)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def instances(envs: list[dict[str, str]], sim_url: str,
              profile: Path | None = None) -> Iterator[tuple[list[int], list[int]]]:
    """One MCP instance per environment in ``envs``; yields their ports and pids (the first is profiled)."""
    ports = [free_port() for _ in envs]
    with contextlib.ExitStack() as stack:
        pids = []
        for i, (port, env) in enumerate(zip(ports, envs, strict=True)):
            extra = ["--profile", str(profile)] if profile is not None and i == 0 else []
            pids.append(stack.enter_context(process([__file__, "serve", "--port", str(port), "--sim", sim_url, *extra],
                                                    env, port, f"MCP instance on port {port}")).pid)
        yield ports, pids


# ---------------------------------------------------------------------------------------------- configurations
@dataclass(frozen=True)
class Setup:
    """One column of the main table: how many instances, and where their job record and spending ledger live."""

    title: str
    instances: int
    postgres: bool = False  # one PostgreSQL database for all; else the SQLite files of one shared data folder

    @property
    def backend(self) -> str:
        return "PostgreSQL" if self.postgres else "SQLite"


SETUPS = (Setup("1 instance, SQLite", 1), Setup("2 instances, PostgreSQL", 2, postgres=True),
          Setup("2 instances, one SQLite folder", 2))


def instance_envs(setup: Setup, base: dict[str, str], folder: Path, database_url: str | None) -> list[dict[str, str]]:
    """Each instance's environment: its own output folder; its own data folder when the store is PostgreSQL (as two
    machines would have), else one data folder for all (its SQLite files are the shared store)."""
    envs = []
    for i in range(setup.instances):
        env = {**base, "SORA2_DATA_DIR": str(folder / (f"data{i}" if setup.postgres else "data")),
               "SORA2_MCP_OUTPUT_DIR": str(folder / f"clips{i}")}
        if setup.postgres:
            assert database_url is not None, "a PostgreSQL setup needs a database"
            env[ENV_DATABASE_URL] = database_url
        envs.append(env)
    return envs


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str | None]:
    """The PostgreSQL server the bench makes its databases on: ``url`` (an existing server), else a temporary
    cluster from this machine's binaries; None, after saying so, when there is neither."""
    if url is not None:
        yield make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        print(f"PostgreSQL skipped: {MISSING}, or pass --postgres-url.", file=sys.stderr, flush=True)
        yield None
        return
    with temporary_cluster(bin_dir) as server:
        yield server


@contextlib.contextmanager
def database(setup: Setup, server: str | None) -> Iterator[str | None]:
    """For a PostgreSQL setup, a new database on ``server``, its URL written as an operator writes it
    (``postgresql://...``), dropped afterwards; None for SQLite."""
    if not setup.postgres:
        yield None
        return
    assert server is not None, "a PostgreSQL setup needs a server"
    with fresh_database(server) as url:
        yield make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------------------------------------- round robin
class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next instance's port, as a round-robin proxy would (one cycle for all agents)."""

    def __init__(self, ports: list[int], cycle: Iterator[int]) -> None:
        self.ports = ports
        self.cycle = cycle
        self.inner = httpx2.AsyncHTTPTransport(verify=TLS)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.cycle)
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"127.0.0.1:{port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def round_robin_client(ports: list[int], cycle: Iterator[int], token: str) -> Client:
    """An MCP client whose requests go round robin over ``ports``, authenticated with ``token``."""
    http = httpx2.AsyncClient(transport=RoundRobin(ports, cycle), timeout=120, verify=TLS,
                              headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"http://127.0.0.1:{ports[0]}{MCP_PATH}", http_client=http))


def make_tokens(path: Path, n: int) -> list[str]:
    from sora2_bridge.mcp_server.tokens import TokenStore

    store = TokenStore(path)
    return [store.add(f"agent{i}", daily_usd=1000.0) for i in range(n)]


# ---------------------------------------------------------------------------------------------- agents
@dataclass
class Load:
    sessions: int
    polls: int
    pause: float
    price: bool = True  # end with an estimate_cost (left out when only get_status is profiled)


@dataclass
class Run:
    status_ms: list[float] = field(default_factory=list)
    create_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: int = 0
    create_window: float = 0.0
    completed_seen: int = 0


def stagger(i: int, load: Load) -> float:
    """Agent ``i``'s offset into the polling period: agents poll evenly spread, not all in the same instant."""
    return load.pause * i / load.sessions


async def timed(out: list[float], call: Callable[[], Awaitable[object]]) -> object:
    start = time.perf_counter()
    result = await call()
    out.append((time.perf_counter() - start) * 1000)
    return result


# Every run's prompts are new: an identical request within the dedupe window would return the earlier job and,
# that job being completed, save its clip (the simulator then encodes MP4s, and the bench measures its encoder).
RUN_NUMBERS = itertools.count()


async def agent(i: int, run_no: int, connect: Callable[[int], Client], load: Load, run: Run, created: asyncio.Barrier,
                polling: asyncio.Event, marks: list[float]) -> None:
    """One agent: a distinct clip, then polls, then a price check; every failure counted, none raised."""
    arrived = False
    try:
        async with connect(i) as c:
            marks.append(time.perf_counter())
            made = await timed(run.create_ms, lambda: c.call_tool("generate_video", {
                "prompt": f"Agent {i}: a paper lantern drifting over a night market, take {run_no}", "seconds": 4}))
            marks.append(time.perf_counter())
            arrived = True
            await created.wait()
            if made.is_error:
                run.errors.append(f"generate_video: {made.content[0].text}")
                return
            run.created += 1
            video_id = made.structured_content["video_id"]
            await polling.wait()
            await asyncio.sleep(stagger(i, load))
            for _ in range(load.polls):
                r = await timed(run.status_ms, lambda: c.call_tool("get_status", {"video_id": video_id}))
                if r.is_error:
                    run.errors.append(f"get_status: {r.content[0].text}")
                elif r.structured_content["status"] == "completed":
                    run.completed_seen += 1
                await asyncio.sleep(load.pause)
            price = await c.call_tool("estimate_cost", {"seconds": 4}) if load.price else None
            if price is not None and price.is_error:
                run.errors.append(f"estimate_cost: {price.content[0].text}")
    except Exception as exc:  # noqa: BLE001 - the bench counts failures instead of stopping at the first
        run.errors.append(f"{type(exc).__name__}: {exc}")
        if not arrived:  # the others wait for every agent's create
            await created.wait()


async def team(ports: list[int], tokens: list[str], load: Load,
               before_polls: Callable[[], None] | None = None) -> Run:
    """``load.sessions`` agents at once over the instances on ``ports``, requests spread round robin."""
    cycle, run_no = itertools.cycle(ports), next(RUN_NUMBERS)
    run, marks = Run(), []
    created, polling = asyncio.Barrier(load.sessions + 1), asyncio.Event()

    def connect(i: int) -> Client:
        return round_robin_client(ports, cycle, tokens[i % len(tokens)])

    tasks = [asyncio.create_task(agent(i, run_no, connect, load, run, created, polling, marks))
             for i in range(load.sessions)]
    await created.wait()
    if marks:
        run.create_window = max(marks) - min(marks)
    if before_polls is not None:
        before_polls()
    polling.set()
    await asyncio.gather(*tasks)
    return run


async def direct_polls(sim_url: str, video_ids: list[str], load: Load) -> list[float]:
    """The simulator's own retrieve, with the same agents, pacing and (httpx2) client as the MCP polls."""
    out: list[float] = []

    async def one(i: int, video_id: str) -> None:
        async with httpx2.AsyncClient(base_url=sim_url, headers=SIM_KEY, timeout=60, verify=TLS) as http:
            (await http.get(f"videos/{video_id}")).raise_for_status()  # connected, as the agents are after creating
            await asyncio.sleep(stagger(i, load))
            for _ in range(load.polls):
                r = await timed(out, lambda: http.get(f"videos/{video_id}"))
                r.raise_for_status()  # type: ignore[attr-defined]
                await asyncio.sleep(load.pause)

    await asyncio.gather(*(one(i, video_ids[i % len(video_ids)]) for i in range(load.sessions)))
    return out


async def sim_video_ids(sim_url: str, n: int) -> list[str]:
    async with httpx2.AsyncClient(base_url=sim_url, headers=SIM_KEY, timeout=60, verify=TLS) as http:
        made = [await http.post("videos", json={"model": "sora-2", "prompt": f"direct {i}", "seconds": "4"})
                for i in range(n)]
    return [r.raise_for_status().json()["id"] for r in made]


async def sequential(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    for _ in range(max(5, n // 20)):  # warm-up
        await call()
    out: list[float] = []
    for _ in range(n):
        await timed(out, call)
    return out


async def alone(ports: list[int], token: str, sim_url: str, calls: int, env: dict[str, str]) -> dict[str, list[float]]:
    """One agent by itself: get_status over HTTP (one instance), in memory (a server on that instance's ``env``), and
    the simulator's own retrieve."""
    from sora2_bridge.mcp_server.server import create_server
    from sora2_bridge.mcp_server.settings import Settings
    from sora2_bridge.shared import resolve_config

    [video_id] = await sim_video_ids(sim_url, 1)
    out: dict[str, list[float]] = {}
    async with round_robin_client(ports[:1], itertools.cycle(ports[:1]), token) as c:
        made = await c.call_tool("generate_video", {"prompt": "One agent alone: a kite over dunes", "seconds": 4})
        mine = made.structured_content["video_id"]
        out["http"] = await sequential(lambda: c.call_tool("get_status", {"video_id": mine}), calls)
    server = create_server(Settings.from_env(env), config=resolve_config("local", sim_url))
    async with Client(server) as c:
        out["memory"] = await sequential(lambda: c.call_tool("get_status", {"video_id": mine}), calls)
    async with httpx2.AsyncClient(base_url=sim_url, headers=SIM_KEY, timeout=60, verify=TLS) as http:
        out["sim"] = await sequential(lambda: http.get(f"videos/{video_id}"), calls)
    return out


# ---------------------------------------------------------------------------------------------- profile
# What a get_status spends its time on: groups of functions, each counted by its outermost frames' cumulative time
# (for a coroutine that is its time on the CPU, not its waits). Indented groups are parts of the group above them.
IDLE = ("~", "<method 'poll' of 'select.epoll' objects>")
GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("MCP request in the SDK (JSON-RPC dispatch, middleware, tool, result)", [("mcp/server/runner.py", "serve_one")]),
    ("- of which the get_status tool", [("mcp_server/tools.py", "get_status")]),
    ("- - of which the retrieve from the service (httpx, pydantic parse)", [("shared/client.py", "retrieve")]),
    ("- - of which the job record", [("shared/record.py", "")]),
    ("- - of which the agent's answer (outcome, structured output)", [("mcp_server/jobs.py", "outcome"),
                                                                       ("mcp_server/tools.py", "render_outcome")]),
    ("- of which the caller's ownership check (spending ledger)", [("mcp_server/guard.py", "visible")]),
    ("HTTP request around it (routing, streamable transport, response)", [("bearer_auth.py", "__call__")]),
    ("bearer token check (header, tokens file)", [("bearer_auth.py", "authenticate")]),
    ("across all: database statements (sqlite3 or psycopg, with the wait for PostgreSQL)", [
        *(("~", f"<method '{m}' of 'sqlite3.{c}' objects>") for c, m in (
            ("Connection", "execute"), ("Cursor", "execute"), ("Cursor", "fetchone"), ("Cursor", "fetchall"),
            ("Connection", "commit"), ("Connection", "rollback"), ("Connection", "close"))),
        *(("psycopg/cursor.py", m) for m in ("execute", "fetchone", "fetchall", "fetchmany")),
        *(("psycopg/connection.py", m) for m in ("commit", "rollback"))]),
    ("across all: pydantic validation and serialization", [("~", "<method 'validate_python' of 'pydantic_core."
                                                                  "_pydantic_core.SchemaValidator' objects>"),
                                                            ("~", "<method 'validate_json' of 'pydantic_core."
                                                                  "_pydantic_core.SchemaValidator' objects>"),
                                                            ("~", "<method 'to_python' of 'pydantic_core."
                                                                  "_pydantic_core.SchemaSerializer' objects>"),
                                                            ("~", "<method 'to_json' of 'pydantic_core."
                                                                  "_pydantic_core.SchemaSerializer' objects>")]),
    ("across all: logging", [("logging/__init__.py", "")]),
]
REST = "the rest: event loop, sockets, HTTP parsing (h11)"
TOP_LEVEL = (0, 6, 7)  # groups that do not contain one another; REST is the on-CPU time outside them


def profile_groups(path: Path) -> tuple[float, list[tuple[str, float]], list[tuple[str, float, float]]]:
    """(on-CPU seconds, [(group, seconds)], [(function, own, cumulative)] top 12 by own time), idle waits left out."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    idle = sum(tt for key, (_cc, _nc, tt, _ct, _c) in raw.items() if _matches(key, [IDLE]))
    total = stats.total_tt - idle  # type: ignore[attr-defined]
    groups = []
    for name, keys in GROUPS:
        seconds = sum(ct for key, (_cc, _nc, _tt, ct, callers) in raw.items()
                      if _matches(key, keys) and not any(_matches(c, keys) for c in callers))
        groups.append((name, seconds))
    groups.append((REST, total - sum(groups[i][1] for i in TOP_LEVEL)))
    own = sorted(((f"{Path(f).name}:{fn}" if f != "~" else fn, tt, ct)
                  for (f, line, fn), (_cc, _nc, tt, ct, _c) in raw.items() if not _matches((f, line, fn), [IDLE])),
                 key=lambda r: -r[1])[:12]
    return total, groups, own


def _matches(key: tuple[str, int, str], keys: list[tuple[str, str]]) -> bool:
    file, _line, func = key
    return any((file == "~" if w == "~" else w in file) and (not f or func == f) for w, f in keys)


# ---------------------------------------------------------------------------------------------- report
def fmt(v: list[float], q: float) -> str:
    return f"{percentile(v, q):.2f}" if v else "-"


def over(v: list[float], base: list[float], q: float) -> float:
    return percentile(v, q) - percentile(base, q)


async def measure(setup: Setup, sim_url: str, tokens: list[str], load: Load, base: dict[str, str], folder: Path,
                  server: str | None) -> tuple[Run, float]:
    """One column of the main table: the setup's instances, a warm-up (imports, first calls), then the agents;
    the run and its wall time."""
    with database(setup, server) as url, instances(instance_envs(setup, base, folder, url), sim_url) as (ports, _):
        await team(ports, tokens, Load(min(load.sessions, 10), 2, 0.0))
        start = time.perf_counter()
        measured = await team(ports, tokens, load)
        return measured, time.perf_counter() - start


def base_env(root: Path) -> dict[str, str]:
    """What every process of the bench shares: the tokens file in ``root``, no user config, the limits."""
    base = {**os.environ, "SORA2_MCP_TOKENS_FILE": str(root / "tokens.json"), "SORA2_CONFIG": str(root / "none.toml"),
            "SORA2_API_KEY": "bench", **LIMITS}
    base.pop(ENV_DATABASE_URL, None)  # only the PostgreSQL setups name a database
    return base


@contextlib.contextmanager
def simulator(env: dict[str, str], speed: float) -> Iterator[str]:
    """The simulator process; yields its base URL."""
    port = free_port()
    with process([__file__, "simulate", "--port", str(port), "--speed", str(speed)], env, port, "the simulator"):
        yield f"http://127.0.0.1:{port}/v1"


async def run(args: argparse.Namespace) -> str:
    machine = machine_info()  # its load average is the one before the bench adds its own
    root = Path(tempfile.mkdtemp(prefix="bench-team-"))
    base = base_env(root)
    tokens = make_tokens(root / "tokens.json", args.tokens)
    load = Load(args.sessions, args.polls, args.pause)
    runs: dict[Setup, tuple[Run, float]] = {}

    with postgres_server(args.postgres_url) as server, simulator(base, args.speed) as sim_url:
        ids = await sim_video_ids(sim_url, min(args.sessions, 10))
        await direct_polls(sim_url, ids, Load(args.sessions, 2, args.pause))  # warm-up
        direct = await direct_polls(sim_url, ids, load)
        for i, setup in enumerate(SETUPS):
            if setup.postgres and server is None:
                continue
            runs[setup] = await measure(setup, sim_url, tokens, load, base, root / f"setup{i}", server)
        lone = instance_envs(SETUPS[0], base, root / "alone", None)
        with instances(lone, sim_url) as (ports, _):
            single = await alone(ports, tokens[0], sim_url, args.calls, lone[0])
        profiled_setup = Setup("1 instance, PostgreSQL", 1, postgres=True)
        if args.profile_on == "sqlite" or server is None:
            profiled_setup = SETUPS[0]
        profile = root / "instance.prof"
        with (database(profiled_setup, server) as url,
              instances(instance_envs(profiled_setup, base, root / "profiled", url), sim_url, profile=profile)
              as (ports, [pid])):
            only_polls = Load(args.profile_sessions, args.profile_polls, args.pause, price=False)
            profiled = await team(ports, tokens, only_polls, before_polls=lambda: os.kill(pid, signal.SIGUSR1))
    total, groups, own = profile_groups(profile)
    return report(args, runs, direct, single, profiled_setup, profiled, total, groups, own) + "\n\n" + machine


def report(args: argparse.Namespace, runs: dict[Setup, tuple[Run, float]], direct: list[float],
           single: dict[str, list[float]], profiled_setup: Setup, profiled: Run, total: float,
           groups: list[tuple[str, float]], own: list[tuple[str, float, float]]) -> str:
    measured = list(runs.values())
    lines = [
        f"### {args.sessions} agents at once, {args.tokens} tokens, round robin over the instances",
        "",
        f"Each agent: generate_video, then {args.polls} get_status {args.pause:g} s apart, then estimate_cost. "
        f"Simulator at speed {args.speed:g} (a 4 s clip is done in about {(1 + 2) / args.speed:.2f} s).",
        "",
        "| measurement | " + " | ".join(s.title for s in runs) + " | goal |",
        "|---|" + "---:|" * len(runs) + "---|",
    ]

    def row(name: str, value: Callable[[Run, float], object], unit: str = "{:.2f}", goal: str = "") -> None:
        lines.append(f"| {name} | " + " | ".join(unit.format(value(r, t)) for r, t in measured) + f" | {goal} |")

    for q, label in ((0.5, "p50"), (0.99, "p99")):
        row(f"get_status round trip {label} (ms)", lambda r, _t, q=q: percentile(r.status_ms, q))
    for q, label, goal in ((0.5, "p50", "< 5"), (0.99, "p99", "< 25")):
        row(f"**get_status overhead {label}** beyond the simulator (ms)",
            lambda r, _t, q=q: over(r.status_ms, direct, q), goal=goal)
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        row(f"generate_video {label} (ms)", lambda r, _t, q=q: percentile(r.create_ms, q))
    row("**jobs created per second** through the guard", lambda r, _t: r.created / r.create_window, "{:.1f}")
    row("get_status calls per second (whole run)", lambda r, t: len(r.status_ms) / t, "{:.1f}")
    row("jobs created", lambda r, _t: r.created, "{}")
    row("get_status calls (answers 'completed')", lambda r, _t: f"{len(r.status_ms)} ({r.completed_seen})", "{}")
    row("**errors**", lambda r, _t: len(r.errors), "{}", "0")
    lines += [
        "",
        f"Simulator's own GET /v1/videos/{{id}} under the same {args.sessions} agents and pacing (httpx2): "
        f"p50 {fmt(direct, 0.5)} ms, p99 {fmt(direct, 0.99)} ms. Overhead = round trip minus that (differences of "
        "percentiles). Jobs per second: agents' generate_video calls all start together; created jobs divided by "
        "the time from the first call to the last answer. PostgreSQL: every instance has SORA2_DATABASE_URL naming "
        "one new database and its own data folder; SQLite: the instances share one data folder. Every instance has "
        "its own output folder.",
    ]
    if not any(s.postgres for s in runs):
        lines.append(f"\nNo PostgreSQL column: {MISSING}, or pass --postgres-url.")
    for title, r in [*((s.title, r) for s, (r, _t) in runs.items()), ("profiled", profiled)]:
        if r.errors:
            lines.append(f"\nErrors ({title}), first 3: " + "; ".join(r.errors[:3]))
    lines += [
        "",
        f"### One agent alone ({args.calls} get_status calls each, after warm-up, SQLite)",
        "",
        "| measurement | p50 (ms) | p99 (ms) | mean (ms) | overhead p50 | overhead p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, name in (("http", "get_status over streamable HTTP, token, 1 instance"),
                      ("memory", "get_status in memory (stdio without the pipes)"),
                      ("sim", "simulator GET /v1/videos/{id} directly (httpx2)")):
        v = single[key]
        extra = ("| | |" if key == "sim" else
                 f"| {over(v, single['sim'], 0.5):.2f} | {over(v, single['sim'], 0.99):.2f} |")
        lines.append(f"| {name} | {fmt(v, 0.5)} | {fmt(v, 0.99)} | {statistics.fmean(v):.2f} {extra}")
    calls = len(profiled.status_ms)
    lines += [
        "",
        f"### Where a get_status's time goes (cProfile of one instance on {profiled_setup.backend}, {calls} "
        f"get_status calls from {args.profile_sessions} agents)",
        "",
        f"Profiled time in the instance's event loop thread (idle waits left out): {total:.2f} s, "
        f"{total / max(calls, 1) * 1000:.2f} ms per call (cProfile itself slows calls down; the shares are what "
        "matters). Database calls are synchronous, so a wait for PostgreSQL's answer holds the loop and counts. "
        "Indented rows are parts of the row above; 'across all' rows cut across the others.",
        "",
        "| what | ms per call | share |",
        "|---|---:|---:|",
    ]
    for name, seconds in groups:
        lines.append(f"| {name} | {seconds / max(calls, 1) * 1000:.2f} | {seconds / total:.0%} |")
    lines += ["", "Top functions by own time:", "", "| function | own ms per call | cumulative ms per call |",
              "|---|---:|---:|"]
    for name, tt, ct in own:
        lines.append(f"| `{name}` | {tt / max(calls, 1) * 1000:.3f} | {ct / max(calls, 1) * 1000:.3f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "simulate":
        p = argparse.ArgumentParser(prog="bench_team.py simulate")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--speed", type=float, required=True)
        a = p.parse_args(sys.argv[2:])
        simulate(a.port, a.speed)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        p = argparse.ArgumentParser(prog="bench_team.py serve")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--sim", required=True)
        p.add_argument("--profile", type=Path)
        a = p.parse_args(sys.argv[2:])
        serve(a.port, a.sim, a.profile)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50, help="agents at once (default 50)")
    parser.add_argument("--tokens", type=int, default=5, help="bearer tokens the agents share (default 5)")
    parser.add_argument("--polls", type=int, default=6, help="get_status calls per agent (default 6)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between an agent's polls (default 1; the agents are spread over it)")
    parser.add_argument("--speed", type=float, default=SPEED, help=f"simulator speed (default {SPEED:g})")
    parser.add_argument("--calls", type=int, default=200, help="get_status calls of the lone agent (default 200)")
    parser.add_argument("--profile-sessions", type=int, default=50, help="agents in the profiled run (default 50)")
    parser.add_argument("--profile-polls", type=int, default=6, help="polls per agent when profiled (default 6)")
    parser.add_argument("--profile-on", choices=("postgresql", "sqlite"), default="postgresql",
                        help="the profiled instance's store (default postgresql; sqlite when PostgreSQL is missing)")
    parser.add_argument("--postgres-url", metavar="URL",
                        help="an existing PostgreSQL server (postgresql://user:password@host/postgres) whose role may "
                             "create databases; default: a temporary cluster from this machine's binaries")
    args = parser.parse_args()
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
