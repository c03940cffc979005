"""Polling: API calls spent and lateness, ours vs a fixed 8 s poll (ComfyUI's own Sora node) vs a fixed 1 s poll
(the official SDK's default), for jobs of 30 s, 120 s and 300 s.

Runs against the real simulator app in-process (httpx.ASGITransport) on a virtual clock, so a 300 s job takes
milliseconds and every number is deterministic. Each job length is repeated with several queue phases/start
offsets (a fixed poll's lateness depends on where the job ends inside its interval); means are reported.

    python bench/bench_polling.py
"""

from __future__ import annotations

import asyncio
import platform
import statistics

import httpx

from sora2_bridge.shared import AsyncSoraClient, PollPolicy, resolve_config
from sora2_bridge.shared.simulator import SimulatorConfig, create_app

BASE_RENDER = 3.0  # a 4 s 720p clip takes 1 s queued + 2 s rendering at speed 1 (shared/simulator/store.py)
OFFSETS = (0.0, 0.7, 1.9, 3.1, 4.6, 6.3, 7.2)


async def one_run(length: float, offset: float, strategy: str) -> tuple[int, float]:
    """Return (retrieve calls, seconds between the job finishing and the client noticing)."""
    now = [1_760_000_000.0]
    config = SimulatorConfig(speed=BASE_RENDER / length, clock=lambda: now[0], max_running_jobs=None)
    app = create_app(config)

    async def advance(seconds: float) -> None:
        now[0] += seconds

    client = AsyncSoraClient(resolve_config("local", "http://sim/v1"), transport=httpx.ASGITransport(app=app),
                             record=False, clock=lambda: now[0], sleep=advance,
                             poll_policy=PollPolicy())  # the defaults for real providers, not the local ones
    async with client:
        video = await client.create("benchmark clip", size="720x1280", seconds=4)
        now[0] += offset  # the caller starts waiting a little after creating
        state = app.state.sim
        before = state.stats()["requests"].get("retrieve", 0)
        if strategy == "ours":
            await client.poll(video.id, deadline=None)
        else:
            interval = {"fixed 8 s": 8.0, "fixed 1 s": 1.0}[strategy]
            while (await client.retrieve(video.id)).status != "completed":
                now[0] += interval
        calls = state.stats()["requests"]["retrieve"] - before
        late = now[0] - state.jobs[video.id].finished_at
    return calls, late


async def main() -> None:
    strategies = ("ours", "fixed 8 s", "fixed 1 s")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; virtual clock, in-process simulator\n")
    print("| job length | strategy | API calls (mean) | late by, s (mean) | late by, s (max) | calls vs 8 s | lateness vs 8 s |")
    print("|---|---|---|---|---|---|---|")
    for length in (30.0, 120.0, 300.0):
        results = {}
        for strategy in strategies:
            runs = [await one_run(length, off, strategy) for off in OFFSETS]
            results[strategy] = (statistics.mean(c for c, _ in runs), statistics.mean(d for _, d in runs),
                                 max(d for _, d in runs))
        base_calls, base_late, _ = results["fixed 8 s"]
        for strategy in strategies:
            calls, late, worst = results[strategy]
            print(f"| {length:.0f} s | {strategy} | {calls:.1f} | {late:.2f} | {worst:.2f} | "
                  f"{calls / base_calls:.2f}x | {late / base_late:.2f}x |")


if __name__ == "__main__":
    asyncio.run(main())
