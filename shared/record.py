"""The local record of every job this machine created: nothing paid for is ever lost.

A job is written here as soon as the service returns its id (before ``create`` returns to the caller), then
updated as it is polled and downloaded. A crash, a Ctrl-C, a ComfyUI restart or an MCP server restart can always
find it again: ``sora2 list --local``, ``sora2 download ID``, the Load Job node and ``get_status`` read this file.
SQLite (standard library) because several processes (ComfyUI, an MCP server, the CLI) may share it safely.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models import Video

# The file name of the shared record inside a data folder: the CLI, the nodes and the MCP server all open it.
RECORD_FILE = "jobs.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    base_url TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_id TEXT,
    model TEXT,
    size TEXT,
    seconds TEXT,
    prompt TEXT,
    request TEXT NOT NULL,
    request_key TEXT,
    cost_usd REAL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    completed_at INTEGER,
    expires_at INTEGER,
    files TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(request_key);
"""


@dataclass(frozen=True)
class JobRow:
    id: str
    provider: str
    base_url: str
    kind: str
    source_id: str | None
    model: str | None
    size: str | None
    seconds: str | None
    prompt: str | None
    request: dict[str, Any]
    request_key: str | None
    cost_usd: float | None
    status: str
    progress: int
    error_code: str | None
    error_message: str | None
    created_at: float
    updated_at: float
    completed_at: int | None
    expires_at: int | None
    files: dict[str, str]

    @property
    def video_file(self) -> str | None:
        return self.files.get("video")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class JobRecord:
    """A small SQLite store; one connection per instance, guarded by a lock (callers may be threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        video: Video,
        *,
        provider: str,
        base_url: str,
        kind: str,
        request: dict[str, Any],
        cost_usd: float | None,
        source_id: str | None = None,
        request_key: str | None = None,
    ) -> None:
        now = time.time()
        err = video.error
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO jobs (id, provider, base_url, kind, source_id, model, size, seconds, prompt,"
                " request, request_key, cost_usd, status, progress, error_code, error_message, created_at, updated_at,"
                " completed_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    video.id, provider, base_url, kind, source_id, video.model or request.get("model"),
                    video.size or request.get("size"), video.seconds or request.get("seconds"),
                    video.prompt or request.get("prompt"), json.dumps(request), request_key, cost_usd,
                    video.status, video.progress, err.code if err else None, err.message if err else None,
                    float(video.created_at or now), now, video.completed_at, video.expires_at,
                ),
            )

    def update(self, video: Video) -> None:
        err = video.error
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, progress=?, error_code=?, error_message=?, completed_at=?, expires_at=?,"
                " updated_at=? WHERE id=?",
                (
                    video.status, video.progress, err.code if err else None, err.message if err else None,
                    video.completed_at, video.expires_at, time.time(), video.id,
                ),
            )

    def set_status(self, video_id: str, status: str) -> None:
        with self._lock:
            self._db.execute("UPDATE jobs SET status=?, updated_at=? WHERE id=?", (status, time.time(), video_id))

    def set_file(self, video_id: str, variant: str, path: str | Path) -> None:
        with self._lock:
            row = self._db.execute("SELECT files FROM jobs WHERE id=?", (video_id,)).fetchone()
            if row is None:
                return
            files = json.loads(row["files"])
            files[variant] = str(path)
            self._db.execute(
                "UPDATE jobs SET files=?, updated_at=? WHERE id=?", (json.dumps(files), time.time(), video_id)
            )

    def get(self, video_id: str) -> JobRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (video_id,)).fetchone()
        return _row(row) if row else None

    def list(self, limit: int = 50, *, status: str | None = None) -> list[JobRow]:
        query, args = "SELECT * FROM jobs", []
        if status:
            query += " WHERE status=?"
            args.append(status)
        query += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [_row(r) for r in rows]

    def find_by_key(self, request_key: str, *, since: float | None = None) -> JobRow | None:
        """The newest job made from an identical request (used to avoid paying twice for the same thing)."""
        query, args = "SELECT * FROM jobs WHERE request_key=? AND status!='deleted'", [request_key]
        if since is not None:
            query += " AND created_at>=?"
            args.append(since)
        query += " ORDER BY created_at DESC LIMIT 1"
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return _row(row) if row else None

    def known_ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM jobs").fetchall()}

    def durations(self, provider: str, model: str | None, size: str | None, seconds: str | None,
                  limit: int = 20) -> list[float]:
        """Seconds from creation to completion of the newest completed jobs like this one (same provider, model,
        size and seconds): polling places its polls where these finished when progress says nothing."""
        with self._lock:
            rows = self._db.execute(
                "SELECT completed_at - created_at FROM jobs WHERE provider=? AND model IS ? AND size IS ?"
                " AND seconds IS ? AND completed_at IS NOT NULL AND status NOT IN ('failed', 'queued', 'in_progress')"
                " AND error_code IS NULL ORDER BY created_at DESC LIMIT ?",
                (provider, model, size, seconds, limit),
            ).fetchall()
        return [float(r[0]) for r in rows if r[0] is not None and r[0] > 0]


def _row(row: sqlite3.Row) -> JobRow:
    d = dict(row)
    d["request"] = json.loads(d["request"] or "{}")
    d["files"] = json.loads(d["files"] or "{}")
    return JobRow(**d)
