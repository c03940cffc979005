"""The job record survives restarts and is shared by processes, in a SQLite file and in PostgreSQL alike."""

import os
import subprocess
import sys
import time

from sqlalchemy import event

from sora2_bridge.shared import JobRecord, Video


def v(**kw):
    base = dict(id="video_1", status="queued", progress=0, created_at=1760000000, prompt="a fox", size="720x1280",
                seconds="4", model="sora-2")
    base.update(kw)
    return Video.model_validate(base)


def test_add_update_file_and_reopen(tmp_path, record_target):
    path = record_target
    rec = JobRecord(path)
    rec.add(v(), provider="cometapi", base_url="https://x/v1", kind="create", request={"prompt": "a fox"},
            cost_usd=0.4, request_key="k1")
    rec.update(v(status="completed", progress=100, completed_at=1760000100, expires_at=1760003700))
    rec.set_file("video_1", "video", tmp_path / "a.mp4")
    rec.close()

    again = JobRecord(path)  # a new process after a restart
    row = again.get("video_1")
    assert (row.status, row.progress, row.cost_usd, row.expires_at) == ("completed", 100, 0.4, 1760003700)
    assert row.video_file == str(tmp_path / "a.mp4") and row.request == {"prompt": "a fox"}
    assert again.find_by_key("k1").id == "video_1"
    assert again.find_by_key("k1", since=2e9) is None
    assert [r.id for r in again.list()] == ["video_1"]


def test_failure_is_recorded_and_add_is_idempotent(record_target):
    rec = JobRecord(record_target)
    for _ in range(2):
        rec.add(v(), provider="p", base_url="u", kind="create", request={}, cost_usd=None)
    rec.update(v(status="failed", error={"code": "moderation_blocked", "message": "blocked"}))
    rows = rec.list()
    assert len(rows) == 1 and rows[0].error_code == "moderation_blocked" and rows[0].error_message == "blocked"
    assert rec.list(status="completed") == []




OPEN = """
import sys, time
from pathlib import Path
from sora2_bridge.shared import JobRecord
go = Path(sys.argv[2])
while not go.exists():  # every process imported: now open at the same moment
    time.sleep(0.001)
JobRecord(Path(sys.argv[1]))
print("opened")
"""


def test_processes_opening_a_new_record_together_all_succeed(tmp_path):
    """Two ComfyUI workers (or an MCP server and the CLI) starting on a fresh data folder at the same moment."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for round_ in range(6):
        path, go = tmp_path / f"round{round_}" / "jobs.sqlite3", tmp_path / f"go{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(path), str(go)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
        time.sleep(1.0)
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
        assert [out.strip() for out, _ in results] == ["opened"] * 4, [err[-300:] for _, err in results]


def rows_written(rec: JobRecord) -> list[int]:
    """A list that grows by the number of rows each later statement changed."""
    written: list[int] = []
    event.listen(rec.db.engine, "after_cursor_execute",
                 lambda conn, cursor, statement, *rest: written.append(max(cursor.rowcount, 0))
                 if statement.lstrip().upper().startswith(("UPDATE", "INSERT")) else None)
    return written


def test_a_poll_that_sees_nothing_new_writes_nothing(record_target):
    rec = JobRecord(record_target)
    rec.add(v(status="in_progress", progress=40), provider="p", base_url="u", kind="create", request={},
            cost_usd=None)
    before = rec.get("video_1").updated_at
    written = rows_written(rec)
    rec.update(v(status="in_progress", progress=40))  # the same answer again
    assert sum(written) == 0 and rec.get("video_1").updated_at == before
    sent: list[str] = []
    event.listen(rec.db.engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: sent.append(statement))
    rec.update(v(status="in_progress", progress=40))  # and again: this process knows it wrote nothing new
    assert sent == []
    rec.set_status("video_1", "in_progress")  # a change made here is not taken for what a poll saw
    rec.update(v(status="in_progress", progress=41))
    rec.update(v(status="failed", progress=41, error={"code": "x", "message": "m"}))
    row = rec.get("video_1")
    assert sum(written) == 3 and (row.progress, row.status, row.error_code) == (41, "failed", "x")
