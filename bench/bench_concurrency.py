"""Concurrency: 16 clips requested at once vs one after another, against the simulator on loopback.

Cases, all through the shared client's create_and_poll + download_content:
  single        one clip (the reference wall time)
  sequential    16 clips one after another
  concurrent    16 clips at once, provider cap high enough (16 running jobs)
  429 storm     16 clips at once with a cap of 4 running jobs (the client holds 4 job slots) and 30 % of all
                API calls answered 429 with Retry-After: every job must still complete, none paid twice

Every clip uses the same prompt so the simulator renders its MP4 once (content-addressed cache): the benchmark
measures the client's scheduling, not the simulator's video encoder on 2 cores.

    python bench/bench_concurrency.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from sora2_bridge.shared import AsyncSoraClient, RetryPolicy, resolve_config
from sora2_bridge.shared.simulator import FaultConfig, SimulatorConfig, SimulatorServer

N = 16
PROMPT = "A lighthouse on a cliff at dusk, waves below"


async def clip(client: AsyncSoraClient, out: Path) -> str:
    video = await client.create_and_poll(PROMPT, size="720x1280", seconds=4)
    if video.status != "completed":
        return "failed"
    await client.download_content(video.id, out / f"{video.id}.mp4")
    return "completed"


async def run_case(name: str, n: int, parallel: bool, cap: int, faults: FaultConfig, media: Path) -> dict:
    config = SimulatorConfig(max_running_jobs=cap, media_dir=media, faults=faults)
    async with SimulatorServer(config) as sim:
        cfg = resolve_config("local", sim.base_url).model_copy(update={"max_concurrent_jobs": cap})
        with tempfile.TemporaryDirectory() as tmp:
            async with AsyncSoraClient(cfg, record=False, retry=RetryPolicy(max_attempts=12, max_delay=4)) as c:
                t = time.perf_counter()
                if parallel:
                    results = await asyncio.gather(*(clip(c, Path(tmp)) for _ in range(n)), return_exceptions=True)
                else:
                    results = [await clip(c, Path(tmp)) for _ in range(n)]
                wall = time.perf_counter() - t
        stats = sim.state.stats()
    ok = sum(1 for r in results if r == "completed")
    return {"case": name, "clips": n, "wall": wall, "ok": ok, "failed": n - ok,
            "jobs_created": stats["jobs_created"]}


async def main() -> None:
    media = Path(tempfile.mkdtemp(prefix="bench-conc-"))
    # Warm the render cache so every case measures scheduling only.
    await run_case("warm-up", 1, False, 4, FaultConfig(), media)
    cases = [
        await run_case("single", 1, False, 16, FaultConfig(), media),
        await run_case("sequential", N, False, 16, FaultConfig(), media),
        await run_case("concurrent", N, True, 16, FaultConfig(), media),
        await run_case("concurrent, cap 4 + 429 storm (30 %)", N, True, 4,
                       FaultConfig(rate_limit_fraction=0.3, retry_after_seconds=0.5, seed=7), media),
    ]
    single = cases[0]["wall"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"simulator on loopback, default speed (a 4 s clip renders in ~3 s)\n")
    print("| case | clips | wall time, s | vs single clip | completed | failed | jobs created |")
    print("|---|---|---|---|---|---|---|")
    for c in cases:
        print(f"| {c['case']} | {c['clips']} | {c['wall']:.2f} | {c['wall'] / single:.2f}x | {c['ok']} | "
              f"{c['failed']} | {c['jobs_created']} |")


if __name__ == "__main__":
    asyncio.run(main())
