"""Storyboards on the simulator: independent shots at once, the overhead of each cut in a chain, memory vs length.

Cases, through the shared client on the loopback simulator at its default speed (a 4 s 1280x720 clip takes 1 s in
the queue and 2 s rendering: real renders take minutes, scaled down ~50x):
  one shot          one clip through the single-clip path (create_and_poll + download): the reference time
  6 one by one      6 different clips through the single-clip path, one after another
  6 independent     a storyboard of 6 shots with no starts, cap 6 running jobs (and the local default cap, 4),
                    shots only and with the film joined and the contact sheet drawn
  6 chained         each shot continues the previous one: per cut, the time from the previous clip on disk to
                    this clip on disk minus this job's own queue + render time = our overhead (noticing the end,
                    downloading, taking the last frame, fitting and uploading it), p50 and max
  memory            peak RSS of a fresh process running a storyboard of 6 shots, then one of 24 (instant renders)

The simulator's media cache is warmed first (same prompts, same frames), so its video encoder is not measured.

    python bench/bench_storyboard.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sora2_bridge.shared import AsyncSoraClient, JobRecord, resolve_config
from sora2_bridge.shared.simulator import SimulatorConfig, SimulatorServer
from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard, run_storyboard

SIZE = "1280x720"


def board(n: int, chained: bool) -> dict:
    shots = []
    for i in range(n):
        shot = {"id": f"s{i + 1}", "prompt": f"Shot {i + 1}: a paper boat drifts down a rainy street"}
        if chained and i:
            shot["start"] = {"continue": f"s{i}"}
        shots.append(shot)
    return {"defaults": {"size": SIZE, "seconds": 4}, "shots": shots}


async def run_board(sim: SimulatorServer, data: dict, work: Path, cap: int, film: bool = True) -> tuple[float, dict]:
    cfg = resolve_config("local", sim.base_url).model_copy(update={"max_concurrent_jobs": cap})
    done_at: dict[str, float] = {}
    async with AsyncSoraClient(cfg, record=JobRecord(work / f"jobs-{time.monotonic_ns()}.db")) as client:
        plan = plan_storyboard(load_storyboard(data), client.provider, base_url=client.config.base_url,
                               base_dir=work, film=work / f"film-{time.monotonic_ns()}.mp4")

        def seen(ev) -> None:
            if ev.phase == "done":
                done_at[ev.shot_id] = time.perf_counter()

        t = time.perf_counter()
        await run_storyboard(client, plan, out_dir=work / "shots", on_event=seen, make_film=film)
        return time.perf_counter() - t, done_at


async def single_clips(sim: SimulatorServer, prompts: list[str], work: Path) -> float:
    async with AsyncSoraClient(resolve_config("local", sim.base_url), record=False) as client:
        t = time.perf_counter()
        for prompt in prompts:
            video = await client.create_and_poll(prompt, size=SIZE, seconds=4)
            await client.download_content(video.id, work / f"{video.id}.mp4")
        return time.perf_counter() - t


def fresh(media: Path, cap: int = 6, instant: bool = False) -> SimulatorServer:
    return SimulatorServer(SimulatorConfig(media_dir=media, max_running_jobs=cap, instant=instant))


async def timing() -> None:
    media = Path(tempfile.mkdtemp(prefix="bench-sb-media-"))
    work = Path(tempfile.mkdtemp(prefix="bench-sb-"))
    independent, chained = board(6, False), board(6, True)
    prompts = [s["prompt"] for s in independent["shots"]]
    with fresh(media, instant=True) as sim:  # warm the render cache: every clip and every continue frame
        await run_board(sim, independent, work, 6)
        await run_board(sim, chained, work, 6)
    rows = []
    with fresh(media) as sim:
        one = await single_clips(sim, prompts[:1], work)
    rows.append(("one shot (single-clip path)", one))
    with fresh(media) as sim:
        rows.append(("6 one by one (single-clip path)", await single_clips(sim, prompts, work)))
    for cap in (6, 4):
        with fresh(media, cap) as sim:
            rows.append((f"6 independent, cap {cap}, shots only", (await run_board(sim, independent, work, cap, False))[0]))
        with fresh(media, cap) as sim:
            rows.append((f"6 independent, cap {cap}, with film + contact sheet",
                         (await run_board(sim, independent, work, cap))[0]))
    with fresh(media) as sim:
        wall, done_at = await run_board(sim, chained, work, 6)
        jobs = list(sim.state.jobs.values())
    rows.append(("6 chained, with film + contact sheet", wall))
    overheads = []
    for i in range(1, 6):
        job = jobs[i]
        overheads.append(done_at[f"s{i + 1}"] - done_at[f"s{i}"] - (job.queue_s + job.render_s))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; simulator on "
          f"loopback, default speed (4 s clip: 1 s queued + 2 s rendering)\n")
    print("| case | wall time, s | vs one shot |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / one:.2f}x |")
    print(f"\nChained: overhead per cut beyond the render (notice, download, last frame, upload), 5 cuts: "
          f"p50 {statistics.median(overheads):.2f} s, max {max(overheads):.2f} s.")


def memory_child(n: int, media: str) -> None:
    async def go() -> None:
        work = Path(tempfile.mkdtemp(prefix="bench-sb-mem-"))
        with fresh(Path(media), cap=8, instant=True) as sim:
            await run_board(sim, board(n, False), work, 8)

    asyncio.run(go())
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def memory() -> None:
    media = tempfile.mkdtemp(prefix="bench-sb-media-")
    rss = {}
    for n in (6, 24):
        cmd = [sys.executable, __file__, "--memory", str(n), media]
        subprocess.run(cmd, check=True, capture_output=True)  # warm: encode the clips once
        rss[n] = float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
    print("\n| memory (fresh process, instant renders, film joined) | peak RSS, MB |")
    print("|---|---|")
    for n, mb in rss.items():
        print(f"| storyboard of {n} shots ({n * 4} s film) | {mb:.0f} |")
    print(f"\n24 shots vs 6: {rss[24] / rss[6]:.2f}x the peak memory for 4x the film.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        memory_child(int(sys.argv[2]), sys.argv[3])
    else:
        asyncio.run(timing())
        memory()
