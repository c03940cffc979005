"""Benchmark of the MCP server: what a ``get_status`` round trip costs an agent on top of the service itself.

Launches ``sora2-mcp --simulate`` as a subprocess and talks to it with the SDK's stdio client, as a desktop client
does. It times ``get_status`` on a job still rendering (one retrieve from the service) and on a finished job whose
MP4 is already saved (retrieve + file checks + the cached inline thumbnail), then times the simulator's own
``GET /v1/videos/{id}`` directly with httpx in the same run, so the difference is the MCP server's overhead
(JSON-RPC over pipes, validation, structured output, the record). Run:

    python bench/bench_mcp.py [--calls 200]

Prints markdown tables plus the machine info.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mcp import Client, StdioServerParameters

PROMPT = "A calico cat playing a piano on stage"
AUTH = {"Authorization": "Bearer bench"}


def machine_info() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    import mcp

    version = getattr(mcp, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("mcp")
    return (
        f"- CPU: {cpu}, {os.cpu_count()} logical cores\n"
        f"- {platform.system()} {platform.release()}, Python {platform.python_version()}, mcp {version}\n"
        f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work skews the numbers)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def time_calls(n: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    for _ in range(max(5, n // 20)):  # warm-up: connection pools, caches, the JIT-less first-call costs
        await call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def run(calls: int) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    port = free_port()
    env = {
        "SORA2_DATA_DIR": str(tmp / "data"),
        "SORA2_CONFIG": str(tmp / "none.toml"),
        "SORA2_MCP_OUTPUT_DIR": str(tmp / "clips"),
        "SORA2_MCP_AUTO_DOWNLOAD": "0",
        "SORA2_MCP_MAX_USD_PER_CALL": "unlimited",
        "SORA2_MCP_BUDGET_USD": "unlimited",
    }
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sora2_bridge.mcp_server.cli", "--simulate", "--simulate-port", str(port)],
        env=env,
    )
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=120) as c:
        startup = time.perf_counter() - started
        done = await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 60})
        assert not done.is_error and done.structured_content["status"] == "completed", done.content
        done_id = done.structured_content["video_id"]
        # A long clip stays in progress for the whole measurement (about 20 s of simulated rendering).
        slow = await c.call_tool("generate_video", {"prompt": PROMPT + " (long take)", "model": "sora-2-pro",
                                                    "size": "1920x1080", "seconds": 20})
        slow_id = slow.structured_content["video_id"]

        async def status_done() -> None:
            r = await c.call_tool("get_status", {"video_id": done_id})
            assert r.structured_content["file_path"]

        async def status_running() -> None:
            r = await c.call_tool("get_status", {"video_id": slow_id})
            assert r.structured_content["status"] in ("queued", "in_progress")

        running = await time_calls(calls, status_running)
        completed = await time_calls(calls, status_done)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1", headers=AUTH) as http:
            async def direct() -> None:
                (await http.get(f"videos/{done_id}")).raise_for_status()

            service = await time_calls(calls, direct)

    def row(name: str, v: list[float]) -> str:
        return (f"| {name} | {percentile(v, 0.5):.2f} | {percentile(v, 0.99):.2f} | {statistics.fmean(v):.2f} |")

    def overhead(name: str, v: list[float]) -> str:
        return (f"| {name} | {percentile(v, 0.5) - percentile(service, 0.5):.2f} | "
                f"{percentile(v, 0.99) - percentile(service, 0.99):.2f} | "
                f"{statistics.fmean(v) - statistics.fmean(service):.2f} |")

    lines = [
        f"### get_status round trip over stdio ({calls} calls each, after warm-up)",
        "",
        "| measurement | p50 (ms) | p99 (ms) | mean (ms) |",
        "|---|---:|---:|---:|",
        row("get_status, job rendering (MCP over stdio)", running),
        row("get_status, job completed and saved (MCP over stdio)", completed),
        row("simulator GET /v1/videos/{id} directly (httpx)", service),
        overhead("**MCP overhead**, job rendering", running),
        overhead("**MCP overhead**, job completed", completed),
        "",
        f"Server start-up (spawn, imports, simulator, discovery): {startup:.2f} s.",
        "Overhead = MCP round trip minus the simulator's own response time (differences of percentiles).",
        "",
        machine_info(),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement (default 200)")
    args = parser.parse_args()
    print(asyncio.run(run(args.calls)))


if __name__ == "__main__":
    main()
