"""What the store costs per call: the job record through SQLAlchemy Core on a SQLite file and on PostgreSQL, vs the
same SQL written by hand against the sqlite3 module (what the record was before it could live in PostgreSQL).

The calls are the ones every poll of every front end makes (``get``, ``update`` of an unchanged job, which the
store answers from what its process last wrote, and of a changed one, ``find_by_key``) plus the rarer ones around a
create: recording a new job (``add``) and the cross-process lease a create holds
(``exclusive``: take and release). Each is timed over ``--calls`` calls, best of ``--repeats``; the record is
filled with ``--jobs`` jobs first. PostgreSQL is a temporary cluster from the machine's binaries (tests/postgres.py),
on a unix socket, or ``--postgres-url``. Run:

    python bench/bench_store.py [--calls 2000] [--repeats 5] [--jobs 2000] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mcp import machine_info  # noqa: E402
from postgres import fresh_database, postgres_bin, temporary_cluster  # noqa: E402

from sora2_bridge.shared import JobRecord, Video  # noqa: E402

OPS = ("get", "update (unchanged)", "update (changed)", "find_by_key", "add (a new job)",
       "exclusive (lease taken and freed)")


def video(i: int, **kw: object) -> Video:
    base = dict(id=f"video_{i:06d}", status="in_progress", progress=40, created_at=1760000000 + i,
                prompt=f"a fox number {i}", size="1280x720", seconds="4", model="sora-2")
    return Video.model_validate({**base, **kw})


def fill(record: JobRecord, jobs: int) -> None:
    for i in range(jobs):
        record.add(video(i), provider="local", base_url="http://127.0.0.1/v1", kind="create",
                   request={"prompt": f"a fox number {i}"}, cost_usd=0.4, request_key=f"key-{i}")


def best(fn: Callable[[int], object], calls: int, repeats: int) -> float:
    """Microseconds per call, the best of ``repeats`` runs of ``calls`` calls (the least disturbed run)."""
    for i in range(min(calls, 50)):
        fn(i)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(calls):
            fn(r * calls + i)
        times.append((time.perf_counter() - start) / calls * 1e6)
    return min(times)


def store_ops(record: JobRecord, jobs: int) -> dict[str, Callable[[int], object]]:
    seen = video(7)
    loop = asyncio.new_event_loop()

    async def exclusive(i: int) -> None:
        async with record.exclusive(f"bench-{i}"):
            pass

    return {
        "get": lambda i: record.get(f"video_{i % jobs:06d}"),
        "update (unchanged)": lambda i: record.update(seen),
        "update (changed)": lambda i: record.update(video(8, progress=i % 100)),
        "find_by_key": lambda i: record.find_by_key(f"key-{i % jobs}"),
        "add (a new job)": lambda i: record.add(video(10_000_000 + i), provider="local",
                                                base_url="http://127.0.0.1/v1", kind="create", request={},
                                                cost_usd=0.4, request_key=f"new-{i}"),
        "exclusive (lease taken and freed)": lambda i: loop.run_until_complete(exclusive(i)),
    }


def sqlite3_ops(path: Path, jobs: int) -> dict[str, Callable[[int], object]]:
    """The same calls as hand-written SQL on one sqlite3 connection (the previous record's way)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.row_factory = sqlite3.Row
    seen = ("in_progress", 40, None, None, None, None)

    def write_seen(video_id: str, state: tuple[object, ...]) -> None:
        db.execute(
            "UPDATE jobs SET status=?, progress=?, error_code=?, error_message=?, completed_at=?, expires_at=?,"
            " updated_at=? WHERE id=? AND (status IS NOT ? OR progress IS NOT ? OR error_code IS NOT ?"
            " OR error_message IS NOT ? OR completed_at IS NOT ? OR expires_at IS NOT ?)",
            (*state, time.time(), video_id, *state))

    def get(i: int) -> object:
        row = db.execute("SELECT * FROM jobs WHERE id=?", (f"video_{i % jobs:06d}",)).fetchone()
        return {**dict(row), "request": json.loads(row["request"]), "files": json.loads(row["files"]),
                "raw": json.loads(row["raw"]) if row["raw"] else None}


    def find(i: int) -> object:
        return db.execute("SELECT * FROM jobs WHERE request_key=? AND status!='deleted' ORDER BY created_at DESC"
                          " LIMIT 1", (f"key-{i % jobs}",)).fetchone()

    def add(i: int) -> None:
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT OR IGNORE INTO jobs (id, provider, base_url, kind, request, request_key, status,"
                   " created_at, updated_at, raw) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (f"video_raw_{i}", "local", "u", "create", "{}", f"raw-{i}", "queued", now, now, "{}"))
        db.execute("UPDATE jobs SET model=?, size=?, seconds=?, prompt=?, cost_usd=? WHERE id=?",
                   ("sora-2", "1280x720", "4", "a fox", 0.4, f"video_raw_{i}"))
        db.execute("COMMIT")

    return {"get": get, "update (unchanged)": lambda i: write_seen("video_000007", seen),
            "update (changed)": lambda i: write_seen("video_000008", ("in_progress", i % 100, None, None, None, None)),
            "find_by_key": find, "add (a new job)": add}


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str | None]:
    if url:
        with fresh_database(url) as db:
            yield db
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        print("PostgreSQL skipped: no binaries found; pass --postgres-url.", file=sys.stderr)
        yield None
        return
    with temporary_cluster(bin_dir) as server, fresh_database(server) as db:
        yield db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        path = Path(tmp) / "jobs.sqlite3"
        record = JobRecord(path)
        fill(record, args.jobs)
        ops = store_ops(record, args.jobs)
        columns["store, SQLite file"] = {name: best(fn, args.calls, args.repeats) for name, fn in ops.items()}
        raw = sqlite3_ops(path, args.jobs)
        columns["hand-written sqlite3"] = {name: best(fn, args.calls, args.repeats) for name, fn in raw.items()}
        record.close()
        with postgres(args.postgres_url) as url:
            if url is not None:
                pg = JobRecord(url)
                fill(pg, args.jobs)
                ops = store_ops(pg, args.jobs)
                columns["store, PostgreSQL (unix socket)"] = {
                    name: best(fn, args.calls, args.repeats) for name, fn in ops.items()}
                pg.close()
    names = list(columns)
    print(f"Microseconds per call, best of {args.repeats} runs of {args.calls} calls, {args.jobs} jobs recorded.")
    print()
    print("| call | " + " | ".join(names) + " | store on SQLite / hand-written |")
    print("|---|" + "---:|" * (len(names) + 1))
    for op in OPS:
        cells = [f"{columns[n][op]:.0f}" if op in columns[n] else "n/a" for n in names]
        base, ours = columns["hand-written sqlite3"].get(op), columns["store, SQLite file"][op]
        ratio = f"{ours / base:.1f}x" if base else "n/a (no lease: one process only)"
        print(f"| {op} | " + " | ".join(cells) + f" | {ratio} |")
    print()
    print(machine_info())


if __name__ == "__main__":
    main()
