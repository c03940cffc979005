"""Serving a team: many agents over streamable HTTP with bearer tokens, on 1 instance vs 2 sharing one data folder.

Everything runs on loopback as separate processes, as a team would deploy it: the simulator (fast renders, no MP4
encoded since nothing is downloaded), and 1 or 2 MCP instances (``serve`` below: the same app ``sora2-mcp --transport http`` builds, tokens
on, stateless, one data folder so they share the job record and the spending ledger). The agents are asyncio tasks
in this process, each an SDK client with one of ``--tokens`` bearer tokens; a client-side round robin sends every
HTTP request to the next instance (legal because no instance keeps an MCP session). Each agent calls
``generate_video`` once (its own prompt), ``get_status`` ``--polls`` times ``--pause`` seconds apart (the agents
spread evenly over that period, as independent agents would be), and ``estimate_cost`` once.

Reported: ``get_status`` latency minus the simulator's own ``GET /v1/videos/{id}`` (timed in the same run with the
same number of agents, pacing and HTTP client library), jobs created per second through the spending guard, errors;
the same overhead for one agent alone, over HTTP and in memory (what stdio costs without the pipes); and a
server-side cProfile of one instance answering the agents' ``get_status`` calls, grouped by what the time is spent
on. Run:

    python bench/bench_team.py [--sessions 50] [--tokens 5] [--polls 6] [--pause 1] [--calls 200]

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mcp import free_port, machine_info, percentile  # noqa: E402

MCP_PATH = "/mcp"
SIM_KEY = {"Authorization": "Bearer bench"}
# One TLS context for every client: httpx builds one per client otherwise (loading the CA bundle, about 15 ms of
# CPU each), which would put the agents' own start-up into the measured latencies. Every URL here is plain http.
TLS = ssl.create_default_context()
SPEED = 4.0  # a 4 s 720p clip: about 0.75 s queued/rendering, so polls see in_progress and completed jobs


# ---------------------------------------------------------------------------------------------- one instance
def serve(port: int, sim_url: str, profile: Path | None) -> None:
    """One MCP instance over HTTP (tokens from ``SORA2_MCP_TOKENS_FILE``, data in ``SORA2_DATA_DIR``).

    With ``profile``, SIGUSR1 starts cProfile (so only the calls after it are measured) and the stats are written
    when the instance stops (SIGTERM)."""
    import uvicorn

    from sora2_bridge.mcp_server.auth import plan_http
    from sora2_bridge.mcp_server.server import create_server
    from sora2_bridge.mcp_server.settings import Settings
    from sora2_bridge.shared import resolve_config
    from sora2_bridge.shared.config import data_dir

    settings = Settings(output_dir=data_dir() / "clips", max_usd_per_call=2.0, budget_usd=10_000.0,
                        auto_download=False, state_dir=data_dir())
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
def instances(n: int, sim_url: str, env: dict[str, str],
              profile: Path | None = None) -> Iterator[tuple[list[int], list[int]]]:
    """``n`` MCP instances sharing the data folder in ``env``; yields their ports and pids (the first is profiled)."""
    ports = [free_port() for _ in range(n)]
    with contextlib.ExitStack() as stack:
        pids = []
        for i, port in enumerate(ports):
            extra = ["--profile", str(profile)] if profile is not None and i == 0 else []
            pids.append(stack.enter_context(process([__file__, "serve", "--port", str(port), "--sim", sim_url, *extra],
                                                    env, port, f"MCP instance on port {port}")).pid)
        yield ports, pids


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
    """One agent by itself: get_status over HTTP (one instance), in memory, and the simulator's own retrieve."""
    from sora2_bridge.mcp_server.server import create_server
    from sora2_bridge.mcp_server.settings import Settings
    from sora2_bridge.shared import resolve_config

    [video_id] = await sim_video_ids(sim_url, 1)
    out: dict[str, list[float]] = {}
    async with round_robin_client(ports[:1], itertools.cycle(ports[:1]), token) as c:
        made = await c.call_tool("generate_video", {"prompt": "One agent alone: a kite over dunes", "seconds": 4})
        mine = made.structured_content["video_id"]
        out["http"] = await sequential(lambda: c.call_tool("get_status", {"video_id": mine}), calls)
    data = Path(env["SORA2_DATA_DIR"])
    settings = Settings(output_dir=data / "clips", max_usd_per_call=2.0, budget_usd=10_000.0, auto_download=False,
                        state_dir=data)
    server = create_server(settings, config=resolve_config("local", sim_url))
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
    ("- - of which the job record (SQLite)", [("shared/record.py", "")]),
    ("- - of which the agent's answer (outcome, structured output)", [("mcp_server/jobs.py", "outcome"),
                                                                       ("mcp_server/tools.py", "render_outcome")]),
    ("- of which the caller's ownership check (ledger, SQLite)", [("mcp_server/guard.py", "visible")]),
    ("HTTP request around it (routing, streamable transport, response)", [("bearer_auth.py", "__call__")]),
    ("bearer token check (header, tokens file)", [("bearer_auth.py", "authenticate")]),
    ("across all: SQLite statements", [("~", "<method 'execute' of 'sqlite3.Connection' objects>"),
                                       ("~", "<method 'fetchone' of 'sqlite3.Cursor' objects>"),
                                       ("~", "<method 'fetchall' of 'sqlite3.Cursor' objects>")]),
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


async def run(args: argparse.Namespace) -> str:
    root = Path(tempfile.mkdtemp(prefix="bench-team-"))
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}/v1"
    env = {**os.environ, "SORA2_MCP_TOKENS_FILE": str(root / "tokens.json"), "SORA2_CONFIG": str(root / "none.toml"),
           "SORA2_API_KEY": "bench"}
    tokens = make_tokens(root / "tokens.json", args.tokens)
    load = Load(args.sessions, args.polls, args.pause)
    runs: dict[int, tuple[Run, float]] = {}

    def data_env(name: str) -> dict[str, str]:
        return {**env, "SORA2_DATA_DIR": str(root / name)}

    sim_args = [__file__, "simulate", "--port", str(sim_port), "--speed", str(args.speed)]
    with process(sim_args, env, sim_port, "the simulator"):
        ids = await sim_video_ids(sim_url, min(args.sessions, 10))
        await direct_polls(sim_url, ids, Load(args.sessions, 2, args.pause))  # warm-up
        direct = await direct_polls(sim_url, ids, load)
        for n in (1, 2):
            with instances(n, sim_url, data_env(f"data{n}")) as (ports, _):
                await team(ports, tokens, Load(min(args.sessions, 10), 2, 0.0))  # warm-up: imports, first calls
                start = time.perf_counter()
                runs[n] = (await team(ports, tokens, load), time.perf_counter() - start)
        with instances(1, sim_url, data_env("alone")) as (ports, _):
            single = await alone(ports, tokens[0], sim_url, args.calls, data_env("alone"))
        profile = root / "instance.prof"
        with instances(1, sim_url, data_env("profiled"), profile=profile) as (ports, [pid]):
            only_polls = Load(args.profile_sessions, args.profile_polls, args.pause, price=False)
            profiled = await team(ports, tokens, only_polls, before_polls=lambda: os.kill(pid, signal.SIGUSR1))
    total, groups, own = profile_groups(profile)

    one, two = runs[1][0], runs[2][0]
    lines = [
        f"### {args.sessions} agents at once, {args.tokens} tokens, round robin over the instances",
        "",
        f"Each agent: generate_video, then {args.polls} get_status {args.pause:g} s apart, then estimate_cost. "
        f"Simulator at speed {args.speed:g} (a 4 s clip is done in about {(1 + 2) / args.speed:.2f} s).",
        "",
        "| measurement | 1 instance | 2 instances | 2 vs 1 |",
        "|---|---:|---:|---:|",
    ]

    def both(name: str, a: float, b: float, unit: str = "{:.2f}") -> str:
        ratio = f"{b / a:.2f}x" if a else "-"
        return f"| {name} | {unit.format(a)} | {unit.format(b)} | {ratio} |"

    for q, label in ((0.5, "p50"), (0.99, "p99")):
        lines.append(both(f"get_status round trip {label} (ms)", percentile(one.status_ms, q),
                          percentile(two.status_ms, q)))
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        lines.append(both(f"**get_status overhead {label}** beyond the simulator (ms)", over(one.status_ms, direct, q),
                          over(two.status_ms, direct, q)))
    lines += [
        both("generate_video p50 (ms)", percentile(one.create_ms, 0.5), percentile(two.create_ms, 0.5)),
        both("generate_video p99 (ms)", percentile(one.create_ms, 0.99), percentile(two.create_ms, 0.99)),
        both("jobs created per second through the guard", one.created / one.create_window,
             two.created / two.create_window, "{:.1f}"),
        both("get_status calls per second (whole run)", len(one.status_ms) / runs[1][1],
             len(two.status_ms) / runs[2][1], "{:.1f}"),
        f"| jobs created | {one.created} | {two.created} | |",
        f"| get_status calls (answers 'completed') | {len(one.status_ms)} ({one.completed_seen}) | "
        f"{len(two.status_ms)} ({two.completed_seen}) | |",
        f"| **errors** | {len(one.errors)} | {len(two.errors)} | |",
        "",
        f"Simulator's own GET /v1/videos/{{id}} under the same {args.sessions} agents and pacing (httpx2): "
        f"p50 {fmt(direct, 0.5)} ms, p99 {fmt(direct, 0.99)} ms. Overhead = round trip minus that (differences of "
        "percentiles). Jobs per second: agents' generate_video calls all start together; created jobs divided by "
        "the time from the first call to the last answer. Goals: overhead p50 under 5 ms, p99 under 25 ms.",
    ]
    for name, r in (("1 instance", one), ("2 instances", two), ("profiled", profiled)):
        if r.errors:
            lines.append(f"\nErrors ({name}), first 3: " + "; ".join(r.errors[:3]))
    lines += [
        "",
        f"### One agent alone ({args.calls} get_status calls each, after warm-up)",
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
        f"### Where a get_status's time goes (cProfile of one instance, {calls} get_status calls from "
        f"{args.profile_sessions} agents)",
        "",
        f"Profiled on-CPU time (waits left out): {total:.2f} s, {total / max(calls, 1) * 1000:.2f} ms per call "
        "(cProfile itself slows calls down; the shares are what matters). Indented rows are parts of the row "
        "above; 'across all' rows cut across the others.",
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
    lines += ["", machine_info()]
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
    args = parser.parse_args()
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
