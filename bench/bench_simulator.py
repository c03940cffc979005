"""Benchmark of the local simulator: how long a clip takes to render, and how many jobs it sustains at once.

Rendering (H.264 + AAC encoding) is the simulator's only expensive work, so its cost decides how fast tests and
demos run and how many concurrent jobs a machine can serve. Run: ``python bench/bench_simulator.py [--max-jobs 16]``.
Prints markdown tables plus the machine info.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import httpx

from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer
from sora2_bridge.shared.simulator.render import MediaCache, RenderSpec

AUTH = {"Authorization": "Bearer bench"}


def machine_info() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    codecs = ", ".join(
        f"{k} {'.'.join(map(str, v))}"
        for k, v in sorted(av.library_versions.items())
        if k in ("libavcodec", "libavformat")
    )
    return (
        f"- CPU: {cpu}, {os.cpu_count()} logical cores\n"
        f"- {platform.system()} {platform.release()}, Python {platform.python_version()}\n"
        f"- PyAV {av.__version__} ({codecs}); libx264 preset ultrafast, 1 thread per clip\n"
        f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work skews the numbers)"
    )


def bench_render() -> str:
    rows = ["| clip | wall time (s) | MP4 size (MB) | realtime factor |", "|---|---:|---:|---:|"]
    for size, seconds in (("1280x720", 4), ("1280x720", 12), ("1792x1024", 4)):
        with tempfile.TemporaryDirectory() as tmp:
            spec = RenderSpec(f"benchmark clip {size} {seconds}s", size, seconds, "sora-2-pro")
            start = time.perf_counter()
            paths = MediaCache(Path(tmp)).ensure(spec)
            wall = time.perf_counter() - start
            mb = paths.video.stat().st_size / 1e6
        rows.append(f"| {size}, {seconds} s | {wall:.2f} | {mb:.2f} | {seconds / wall:.2f}x |")
    return "\n".join(rows)


async def run_batch(server: SimulatorServer, n: int, tag: str) -> tuple[float, list[float], float]:
    """Create n distinct jobs at once, download each; returns total wall, per-job latencies, cached re-download."""
    async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=600) as client:

        async def one(i: int) -> tuple[str, float]:
            start = time.perf_counter()
            r = await client.post("/videos", json={"prompt": f"bench {tag} job {i}", "size": "1280x720"})
            r.raise_for_status()
            vid = r.json()["id"]
            content = await client.get(f"/videos/{vid}/content")
            content.raise_for_status()
            return vid, time.perf_counter() - start

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        total = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(client.get(f"/videos/{vid}/content") for vid, _ in results))
        cached = time.perf_counter() - start
    return total, [lat for _, lat in results], cached


def bench_concurrency(max_jobs: int) -> str:
    rows = [
        "| jobs at once | total wall (s) | per-job latency p50 (s) | max (s) | clips/min | cached re-download (s) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    n = 1
    while n <= max_jobs:
        with tempfile.TemporaryDirectory() as media:
            config = SimulatorConfig(instant=True, max_running_jobs=None, media_dir=Path(media))
            with SimulatorServer(config) as server:
                total, latencies, cached = asyncio.run(run_batch(server, n, f"n{n}"))
        rows.append(
            f"| {n} | {total:.2f} | {statistics.median(latencies):.2f} | {max(latencies):.2f} | "
            f"{n / total * 60:.1f} | {cached:.2f} |"
        )
        n *= 2
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-jobs", type=int, default=16, help="largest batch (1, 2, 4, ... up to this)")
    args = parser.parse_args()
    print("## Simulator benchmark\n")
    print(machine_info(), "\n")
    print("### Render time (one clip, H.264 + AAC, 30 fps)\n")
    print(bench_render(), "\n")
    print("### Concurrent jobs (instant lifecycle, distinct 4 s 1280x720 clips, each downloaded over loopback)\n")
    print(bench_concurrency(args.max_jobs))


if __name__ == "__main__":
    main()
