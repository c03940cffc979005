"""Polling: API calls spent and lateness, ours vs a fixed 8 s poll (ComfyUI's own Sora node) vs a fixed 1 s poll
(the official SDK's default), on every progress profile the simulator serves, for jobs of 30 s, 120 s and 300 s,
without and with the durations of 8 similar earlier jobs in the record.

Runs against the real simulator app in-process (httpx.ASGITransport) on a virtual clock, so a 300 s job takes
milliseconds and every number is deterministic. Each (profile, length) is run RUNS times: seeds 0..RUNS-1 for the
curve's shape, and lengths spread evenly over an 8 s window around the nominal one (where a job ends inside a fixed
poll's interval decides that poll's lateness; spreading it averages that out). "Late by" is the time from the
job's completion to the retrieve that reports it.

    python bench/bench_polling.py
"""

from __future__ import annotations

import asyncio
import platform
import statistics
import tempfile
from pathlib import Path

import httpx

from sora2_bridge.shared import AsyncSoraClient, JobRecord, PollPolicy, resolve_config
from sora2_bridge.shared.simulator import SimulatorConfig, create_app
from sora2_bridge.shared.simulator.progress import PROFILES

BASE_RENDER = 3.0  # a 4 s 720p clip takes 1 s queued + 2 s rendering at speed 1 (shared/simulator/store.py)
LENGTHS = (30.0, 120.0, 300.0)
RUNS = 48
SIMILAR = 8  # earlier jobs of the same provider, model, size and seconds in the record
STRATEGIES = ("ours", "ours + history", "fixed 8 s", "fixed 1 s")


def spread(nominal: float) -> list[float]:
    return [nominal - 4 + 8 * (i + 0.5) / RUNS for i in range(RUNS)]


async def one_run(profile: str, length: float, seed: int, strategy: str, history: list[float],
                  folder: Path) -> tuple[int, float]:
    """Return (retrieve calls, seconds between the job finishing and the client noticing)."""
    now = [1_760_000_000.0]
    config = SimulatorConfig(clock=lambda: now[0], max_running_jobs=None, progress=profile,
                             progress_seed=seed - len(history))  # the measured job gets `seed`
    app = create_app(config)

    async def advance(seconds: float) -> None:
        now[0] += seconds

    record = JobRecord(folder / f"{profile}-{length}-{seed}.db") if history else False
    client = AsyncSoraClient(resolve_config("local", "http://sim/v1"), transport=httpx.ASGITransport(app=app),
                             record=record, clock=lambda: now[0], sleep=advance,
                             poll_policy=PollPolicy())  # the defaults for real providers, not the local ones
    async with client:
        for earlier in history:  # similar jobs seen through to completion before this one
            config.speed = BASE_RENDER / earlier
            done = await client.create("earlier clip", size="720x1280", seconds=4)
            now[0] += earlier + 1
            await client.retrieve(done.id)
        config.speed = BASE_RENDER / length
        video = await client.create("benchmark clip", size="720x1280", seconds=4)
        state = app.state.sim
        before = state.stats()["requests"].get("retrieve", 0)
        if strategy.startswith("ours"):
            await client.poll(video.id, deadline=None)
        else:
            interval = {"fixed 8 s": 8.0, "fixed 1 s": 1.0}[strategy]
            while (await client.retrieve(video.id)).status != "completed":
                now[0] += interval
        calls = state.stats()["requests"]["retrieve"] - before
        late = now[0] - state.jobs[video.id].finished_at
    if record:
        record.close()
    return calls, late


async def measure(profile: str, nominal: float, strategy: str, folder: Path) -> list[tuple[int, float]]:
    lengths = spread(nominal)
    runs = []
    for seed, length in enumerate(lengths):
        history = [lengths[(seed * 7 + k * 5 + 1) % RUNS] for k in range(SIMILAR)] if "history" in strategy else []
        runs.append(await one_run(profile, length, seed, strategy, history, folder))
    return runs


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


async def main() -> None:
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; virtual clock, in-process simulator; "
          f"{RUNS} runs per row (seeds 0-{RUNS - 1}, lengths spread over an 8 s window around the nominal one); "
          f"'history' = {SIMILAR} similar completed jobs in the record\n")
    print("| profile | job length | strategy | API calls (mean) | late by, s (mean) | late by, s (max) "
          "| calls vs 8 s | lateness vs 8 s |")
    print("|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, float, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-polling-") as tmp:
        for profile in PROFILES:
            for nominal in LENGTHS:
                results = {s: await measure(profile, nominal, s, Path(tmp)) for s in STRATEGIES}
                base_calls = statistics.mean(c for c, _ in results["fixed 8 s"])
                base_late = statistics.mean(d for _, d in results["fixed 8 s"])
                for strategy, runs in results.items():
                    calls, late = statistics.mean(c for c, _ in runs), statistics.mean(d for _, d in runs)
                    summary[(profile, nominal, strategy)] = (calls / base_calls, late / base_late)
                    print(f"| {profile} | {nominal:.0f} s | {strategy} | {calls:.1f} | {late:.2f} | "
                          f"{max(d for _, d in runs):.2f} | {ratio(calls, base_calls)} | {ratio(late, base_late)} |")
    print("\nOurs vs the fixed 8 s poll, per length (calls / mean lateness; 1.00x is a tie):\n")
    print("| profile | strategy | " + " | ".join(f"{n:.0f} s" for n in LENGTHS) + " |")
    print("|---|---|" + "---|" * len(LENGTHS))
    for profile in PROFILES:
        for strategy in ("ours", "ours + history"):
            cells = (summary[(profile, n, strategy)] for n in LENGTHS)
            print(f"| {profile} | {strategy} | " + " | ".join(f"{c:.2f}x / {d:.2f}x" for c, d in cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
