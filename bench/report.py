"""Runs every benchmark and writes docs/benchmarks.md: each section names its command, what it compares, and the
table the script printed, all from one run on one machine.

    python bench/report.py            # about 7 minutes on 2 cores
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = [
    ("Polling: calls spent and lateness", "bench/bench_polling.py",
     "Every progress profile of the simulator (linear, a long queue, steps, a stall at 99 %, silent, irregular "
     "jumps) at 30 s, 120 s and 300 s on a virtual clock. Ours (adaptive, reading the job's progress), and ours "
     "with the durations of 8 similar jobs in the record, vs a fixed 8 s poll (ComfyUI's own Sora node) vs a fixed "
     "1 s poll (the official SDK's default). Goal: never more calls nor more than 1.1x the lateness of the 8 s "
     "poll on any profile at any length; at most 0.6x its calls and half its lateness where progress carries "
     "information (linear, queued, at 120 s and 300 s); with history, at most half its calls and half its "
     "lateness even on a silent job."),
    ("Concurrency: 16 clips at once", "bench/bench_concurrency.py",
     "16 clips through the shared client at once vs one after another, on the loopback simulator; then with a "
     "provider cap of 4 running jobs and 30 % of calls answered 429. Goal: within 1.3x of a single clip when the "
     "cap allows, and zero failed jobs under the 429 storm."),
    ("Download: 200 MB over loopback", "bench/bench_download.py",
     "Our streamed download vs `curl -o` (time) and vs reading the whole body into memory (peak RSS growth of "
     "the client process). Goal: under 32 MB of memory growth."),
    ("Frames: a 12 s 1280x720 clip to an IMAGE batch", "bench/bench_frames.py",
     "Sora 2 Frames' decoder vs the `ffmpeg` command line decoding the same file to null (time), and peak memory "
     "vs the size of the output tensor, with and without stride/cap. Goal: within 1.25x of ffmpeg's time and "
     "1.2x of the output size in memory."),
    ("MCP overhead: get_status over stdio", "bench/bench_mcp.py",
     "`get_status` round trips through `sora2-mcp --simulate` over stdio with the SDK's client, p50/p99, minus the "
     "simulator's own response time measured in the same run."),
    ("Serving a team: 50 agents over HTTP with tokens, SQLite vs PostgreSQL", "bench/bench_team.py",
     "50 agents at once, each an SDK client over streamable HTTP with one of 5 bearer tokens, in one run against: "
     "1 stateless `sora2-mcp` instance on SQLite (its data folder); 2 instances sharing one PostgreSQL database "
     "(`SORA2_DATABASE_URL` in each instance's environment, each with its own data folder as two machines would "
     "have; a temporary cluster from the machine's PostgreSQL binaries, or `--postgres-url`); 2 instances sharing "
     "one data folder (SQLite). Every instance has its own output folder; every request goes to the next instance "
     "(client-side round robin), on the loopback simulator. Each agent: generate_video, 6 get_status 1 s apart "
     "(the agents spread over the second), estimate_cost. get_status overhead beyond the simulator's own retrieve "
     "(timed in the same run under the same load), jobs created per second through the spending guard, errors; "
     "the same overhead for one agent alone over HTTP and in memory; and a server-side cProfile of where a "
     "get_status's time goes on one instance on PostgreSQL. Goals: overhead p50 under 5 ms and p99 under 25 ms, "
     "zero errors."),
    ("The store: what a record call costs, SQLite and PostgreSQL", "bench/bench_store.py",
     "The job record's calls through the store (SQLAlchemy Core) on a SQLite file and on PostgreSQL (a temporary "
     "cluster on a unix socket), vs the same SQL written by hand against the sqlite3 module (the record before it "
     "could live in PostgreSQL), with 2,000 jobs recorded: get, update (unchanged: answered from what the process "
     "last wrote; changed: one statement), find_by_key, add, and the cross-process lease around a create. "
     "Microseconds per call, best of 5 runs of 2,000 calls."),
    ("Storyboards: independent shots, chained cuts, memory", "bench/bench_storyboard.py",
     "6 independent shots as one storyboard vs the same 6 clips one after another through the single-clip path; "
     "6 chained shots (each continues the previous one): our overhead per cut beyond the render; peak RSS of a "
     "storyboard of 6 shots vs 24. Goals: at most 1.3x one shot when the provider's cap allows, p50 overhead per "
     "cut under 1 s, memory flat in the number of shots."),
    ("The simulator itself", "bench/bench_simulator.py",
     "Render time of a 4 s 1280x720 clip (and others), and how many concurrent jobs the simulator sustains."),
]


def main() -> None:
    out = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/report.py` on {dt.date.today().isoformat()}: {platform.machine()}, "
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}. "
        "Each script runs on its own with the command shown; none of these numbers is asserted by a test.",
        "",
    ]
    for title, script, what in SECTIONS:
        print(f"running {script} ...", file=sys.stderr, flush=True)
        result = subprocess.run([sys.executable, script], cwd=ROOT, capture_output=True, text=True)
        body = result.stdout.strip() if result.returncode == 0 else f"FAILED ({result.returncode}):\n{result.stderr}"
        out += [f"## {title}", "", what, "", f"Command: `python {script}`", "", body, ""]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(out))
    print("wrote docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
