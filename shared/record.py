"""The local record of every job this machine created: nothing paid for is ever lost.

A job is written here as soon as the service returns its id (before ``create`` returns to the caller), then
updated as it is polled and downloaded. A crash, a Ctrl-C, a ComfyUI restart or an MCP server restart can always
find it again: ``sora2 list --local``, ``sora2 download ID``, the Load Job node and ``get_status`` read this file.
SQLite (standard library) because several processes (ComfyUI, an MCP server, the CLI) may share it safely.

The row is written from the service's raw answer first (id, status, the answer as JSON), and only then are derived
values (cost, model, size, progress, times) filled in, so an answer we cannot fully read still leaves its job here.

Two more tables keep processes that share the folder from taking each other's jobs. ``intents``: a row is written
before every job-creating request and closed when it ends (answered, reconciled, ambiguous, unidentified, failed),
so a caller whose answer was lost can see who else is waiting for a job with the same prompt. ``claims``: the video
id is the primary key, so a job belongs to exactly one request; a claim is taken inside ``BEGIN IMMEDIATE`` together
with the check of what is already known.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .models import Video, status_of

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
    files TEXT NOT NULL DEFAULT '{}',
    raw TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(request_key);
CREATE TABLE IF NOT EXISTS intents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request_key TEXT,
    match_key TEXT,
    started_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    video_id TEXT,
    answer TEXT,
    closed_at REAL
);
CREATE INDEX IF NOT EXISTS intents_live ON intents(match_key, state);
CREATE TABLE IF NOT EXISTS claims (
    video_id TEXT PRIMARY KEY,
    intent_id TEXT NOT NULL,
    how TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS characters (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    base_url TEXT NOT NULL,
    name TEXT NOT NULL,
    video_sha256 TEXT NOT NULL,
    video_file TEXT,
    created_at REAL NOT NULL,
    raw TEXT
);
CREATE INDEX IF NOT EXISTS characters_source ON characters(provider, base_url, name, video_sha256);
"""
# Columns added to ``jobs`` after the first release; a record file made before them gains them when opened.
_ADDED_COLUMNS = {"raw": "TEXT", "note": "TEXT"}
AMBIGUOUS = "ambiguous"
AMBIGUOUS_NOTE = (
    "A create whose answer was lost matched this job while another request for the same prompt was in flight, so it "
    "was not adopted. If it is yours, collect it with `sora2 download {id}`."
)


@dataclass(frozen=True)
class JobEntry:
    """What the record knows about a job before the service answers: who asked, where, and for what."""

    provider: str
    base_url: str
    kind: str
    request: dict[str, Any]
    source_id: str | None = None
    request_key: str | None = None


@dataclass(frozen=True)
class Settlement:
    """The outcome of matching a lost answer: the job claimed, or the candidates left ambiguous (or neither)."""

    claimed: Video | None = None
    ambiguous: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CharacterRow:
    """A character made through this record: on which service, from which video (by hash) and under which name."""

    id: str
    provider: str
    base_url: str
    name: str
    video_sha256: str
    video_file: str | None
    created_at: float
    raw: Any = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    raw: Any = None  # the service's answer as received when the job was recorded
    note: str | None = None  # a sentence for the user, e.g. why a job is marked ambiguous

    @property
    def video_file(self) -> str | None:
        return self.files.get("video")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


LOCK_WAIT_S = 30.0
"""How long a statement waits for another process's write lock before the record reports the folder as unusable."""


def _enter_wal(db: sqlite3.Connection) -> None:
    """Switch the file to write-ahead logging, so readers never block the one writer.

    SQLite answers "database is locked" at once, without its busy handler, when two connections switch a new file to
    WAL at the same moment (two ComfyUI workers, or an MCP server and the CLI, opening a fresh data folder together).
    That is a wait, not a fault: retry until the same deadline as every other statement.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            waiting = "locked" in str(exc) or "busy" in str(exc)
            if not waiting or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class JobRecord:
    """A small SQLite store; one connection per instance, guarded by a lock (callers may be threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, timeout=LOCK_WAIT_S, isolation_level=None
            )
            self._db.row_factory = sqlite3.Row
            with self._lock:
                _enter_wal(self._db)
                self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            # Said before anything is sent: without its record no job may be paid for.
            raise ConfigurationError(
                f"Cannot open the job record at {self.path} ({exc}). Set SORA2_DATA_DIR to a folder you can write."
            ) from None
        with self._transaction() as db:
            have = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            for name, sql_type in _ADDED_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {sql_type}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that holds SQLite's write lock from its first statement (``BEGIN IMMEDIATE``):
        what is read inside it cannot change before it commits, in this process or any other."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        """Record a job known only as a Video (no claim): imports, and jobs recorded by other means."""
        entry = JobEntry(provider, base_url, kind, request, source_id, request_key)
        answer = video.raw if video.raw is not None else video.model_dump(mode="json")
        with self._transaction() as db:
            self._insert(db, video.id, answer, status_of(answer), entry)
        self.set_derived(video, cost_usd)

    # ------------------------------------------------------------------ intents and claims
    def open_intent(self, kind: str, *, request_key: str | None, match_key: str | None, started_at: float) -> str:
        """Say, before sending it, that a job-creating request is about to be made; returns the intent's id."""
        intent_id = uuid.uuid4().hex
        with self._transaction() as db:
            db.execute(
                "INSERT INTO intents (id, kind, request_key, match_key, started_at) VALUES (?,?,?,?,?)",
                (intent_id, kind, request_key, match_key, started_at),
            )
        return intent_id

    def close_intent(self, intent_id: str, state: str, *, answer: Any = None, video_id: str | None = None) -> None:
        """End a pending intent (a closed one is left as it is), keeping an answer we could not use."""
        with self._transaction() as db:
            self._close(db, intent_id, state, answer=answer, video_id=video_id)

    def record_answer(self, video_id: str, answer: Any, *, intent_id: str, entry: JobEntry) -> bool:
        """Write the job from the service's raw answer and claim it for ``intent_id``, in one transaction.

        Returns False when another request had already claimed the id (then the job is flagged, not taken away:
        the answer proves this request created it).
        """
        with self._transaction() as db:
            self._insert(db, video_id, answer, status_of(answer), entry)
            db.execute(
                "UPDATE jobs SET status=?, note=NULL, request_key=?, kind=?, request=?, source_id=?, raw=?"
                " WHERE id=? AND status=?",
                (status_of(answer), entry.request_key, entry.kind, json.dumps(entry.request), entry.source_id,
                 _json(answer), video_id, AMBIGUOUS),
            )
            claimed = self._claim(db, video_id, intent_id, "answered")
            if not claimed:
                db.execute(
                    "UPDATE jobs SET note=? WHERE id=?",
                    ("Also claimed by a request whose answer was lost: check that no one else uses this job.",
                     video_id),
                )
            self._close(db, intent_id, "answered", video_id=video_id)
        return claimed

    def settle_lost_answer(
        self,
        intent_id: str,
        candidates: list[Video],
        *,
        match_key: str | None,
        live_since: float,
        entry: JobEntry,
        cost: Callable[[Video], float | None],
    ) -> Settlement:
        """Decide which of ``candidates`` (jobs that match a request whose answer was lost) is this request's.

        Inside one ``BEGIN IMMEDIATE`` transaction: drop the ids any request has recorded or claimed (read now,
        not when the request was sent); if exactly one is left and no other live request for the same prompt is
        still waiting for its answer, claim it. If more than one is left, or another such request is waiting, it
        cannot be told whose is whose: record them as ambiguous (no request key, so no front end reuses them) and
        claim none. Intents older than ``live_since`` are ignored: their requests have given up.
        """
        with self._transaction() as db:
            known = self._known(db)
            free = [v for v in candidates if v.id not in known]
            if not free:
                return Settlement()
            others = db.execute(
                "SELECT COUNT(*) FROM intents WHERE match_key=? AND state='pending' AND id!=? AND started_at>=?",
                (match_key, intent_id, live_since),
            ).fetchone()[0]
            if len(free) == 1 and not others:
                video = free[0]
                self._insert(db, video.id, video.raw, status_of(video.raw or {}), entry)
                self._claim(db, video.id, intent_id, "reconciled")
                self._close(db, intent_id, "reconciled", video_id=video.id)
            else:
                ambiguous = JobEntry(entry.provider, entry.base_url, entry.kind, entry.request, entry.source_id)
                for v in free:
                    self._insert(db, v.id, v.raw, AMBIGUOUS, ambiguous, note=AMBIGUOUS_NOTE.format(id=v.id))
                self._close(db, intent_id, AMBIGUOUS, answer=[v.id for v in free])
        if len(free) == 1 and not others:
            self.set_derived(free[0], cost(free[0]))
            return Settlement(claimed=free[0])
        for v in free:
            self.set_derived(v, cost(v), keep_status=True)
        return Settlement(ambiguous=[v.id for v in free])

    def set_derived(self, video: Video, cost_usd: float | None, *, keep_status: bool = False) -> None:
        """Fill in what is read from the answer (after the raw row exists); unknown values stay as they were."""
        err = video.error
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET model=COALESCE(?, model), size=COALESCE(?, size), seconds=COALESCE(?, seconds),"
                " prompt=COALESCE(?, prompt), cost_usd=?, status=CASE WHEN ? THEN status ELSE ? END, progress=?,"
                " error_code=?, error_message=?, created_at=COALESCE(?, created_at), completed_at=?, expires_at=?"
                " WHERE id=?",
                (
                    video.model, video.size, video.seconds, video.prompt, cost_usd, keep_status, video.status,
                    video.progress, err.code if err else None, err.message if err else None, video.created_at,
                    video.completed_at, video.expires_at, video.id,
                ),
            )

    def intents(self) -> list[dict[str, Any]]:
        """Every intent, oldest first (for inspection: an unidentified answer is kept here whole)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM intents ORDER BY started_at").fetchall()
        return [{**dict(r), "answer": json.loads(r["answer"]) if r["answer"] else None} for r in rows]

    def claims(self) -> dict[str, str]:
        """Video id -> the intent that claimed it."""
        with self._lock:
            return {r[0]: r[1] for r in self._db.execute("SELECT video_id, intent_id FROM claims").fetchall()}

    @staticmethod
    def _insert(
        db: sqlite3.Connection, video_id: str, answer: Any, status: str, entry: JobEntry, note: str | None = None
    ) -> None:
        """The row as the raw answer allows: nothing in it is parsed beyond the id and the status word."""
        now = time.time()
        req = entry.request
        db.execute(
            "INSERT OR IGNORE INTO jobs (id, provider, base_url, kind, source_id, model, size, seconds, prompt,"
            " request, request_key, status, created_at, updated_at, raw, note)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                video_id, entry.provider, entry.base_url, entry.kind, entry.source_id, req.get("model"),
                req.get("size"), req.get("seconds"), req.get("prompt"), json.dumps(req), entry.request_key, status,
                now, now, _json(answer), note,
            ),
        )

    @staticmethod
    def _claim(db: sqlite3.Connection, video_id: str, intent_id: str, how: str) -> bool:
        cur = db.execute(
            "INSERT OR IGNORE INTO claims (video_id, intent_id, how, claimed_at) VALUES (?,?,?,?)",
            (video_id, intent_id, how, time.time()),
        )
        return cur.rowcount == 1

    @staticmethod
    def _close(db: sqlite3.Connection, intent_id: str, state: str, *, answer: Any = None,
               video_id: str | None = None) -> None:
        db.execute(
            "UPDATE intents SET state=?, video_id=?, answer=?, closed_at=? WHERE id=? AND state='pending'",
            (state, video_id, None if answer is None else _json(answer), time.time(), intent_id),
        )

    @staticmethod
    def _known(db: sqlite3.Connection) -> set[str]:
        return {r[0] for r in db.execute("SELECT id FROM jobs UNION SELECT video_id FROM claims").fetchall()}

    def update(self, video: Video) -> None:
        """Record what a poll saw. Only a change is written: most polls see the same status and progress, and a
        write is a committed transaction (an fsync) on every poll of every front end."""
        err = video.error
        seen = (video.status, video.progress, err.code if err else None, err.message if err else None,
                video.completed_at, video.expires_at)
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, progress=?, error_code=?, error_message=?, completed_at=?, expires_at=?,"
                " updated_at=? WHERE id=? AND (status IS NOT ? OR progress IS NOT ? OR error_code IS NOT ?"
                " OR error_message IS NOT ? OR completed_at IS NOT ? OR expires_at IS NOT ?)",
                (*seen, time.time(), video.id, *seen),
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
        """Every job id this record holds or has claimed."""
        with self._lock:
            return self._known(self._db)

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

    # ------------------------------------------------------------------ characters
    def add_character(self, character_id: str, *, provider: str, base_url: str, name: str, video_sha256: str,
                      video_file: str | None, raw: Any) -> None:
        """Record a character the service made, so the same video and name on this service is never sent again."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO characters (id, provider, base_url, name, video_sha256, video_file, created_at,"
                " raw) VALUES (?,?,?,?,?,?,?,?)",
                (character_id, provider, base_url, name, video_sha256, video_file, time.time(), _json(raw)),
            )

    def find_character(self, provider: str, base_url: str, name: str, video_sha256: str) -> CharacterRow | None:
        """The newest character made on this service from this video under this name."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM characters WHERE provider=? AND base_url=? AND name=? AND video_sha256=?"
                " ORDER BY created_at DESC LIMIT 1",
                (provider, base_url, name, video_sha256),
            ).fetchone()
        return _character_row(row) if row else None

    def get_character(self, character_id: str) -> CharacterRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM characters WHERE id=?", (character_id,)).fetchone()
        return _character_row(row) if row else None

    def characters(self, limit: int = 50) -> list[CharacterRow]:
        """Characters made through this record, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM characters ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_character_row(r) for r in rows]

    # ------------------------------------------------------------------ storyboard runs
    def _storyboard_db(self) -> sqlite3.Connection:
        if not getattr(self, "_storyboard_ready", False):
            with self._lock:
                self._db.executescript(_STORYBOARD_SCHEMA)
            self._storyboard_ready = True
        return self._db

    def start_storyboard_run(self, run_id: str, storyboard_id: str, plan: dict[str, Any]) -> None:
        """Record that a storyboard run began, with its plan (shot ids, keys, prices)."""
        db = self._storyboard_db()
        with self._lock:
            db.execute("INSERT INTO storyboard_runs (id, storyboard_id, status, started_at, plan) VALUES (?,?,?,?,?)",
                       (run_id, storyboard_id, "running", time.time(), _json(plan)))

    def finish_storyboard_run(self, run_id: str, status: str, result: dict[str, Any]) -> None:
        """Record how a run ended (completed, failed, cancelled) and what each shot became."""
        db = self._storyboard_db()
        with self._lock:
            db.execute("UPDATE storyboard_runs SET status=?, finished_at=?, result=? WHERE id=?",
                       (status, time.time(), _json(result), run_id))

    def storyboard_runs(self, storyboard_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Runs, newest first (of one storyboard if ``storyboard_id`` is given), with plan and result parsed."""
        db = self._storyboard_db()
        query, args = "SELECT * FROM storyboard_runs", []
        if storyboard_id is not None:
            query += " WHERE storyboard_id=?"
            args.append(storyboard_id)
        query += " ORDER BY started_at DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = db.execute(query, args).fetchall()
        return [{**dict(r), "plan": json.loads(r["plan"]), "result": json.loads(r["result"]) if r["result"] else None}
                for r in rows]


def _row(row: sqlite3.Row) -> JobRow:
    d = dict(row)
    d["request"] = json.loads(d["request"] or "{}")
    d["files"] = json.loads(d["files"] or "{}")
    d["raw"] = json.loads(d["raw"]) if d.get("raw") else None
    return JobRow(**d)


def _character_row(row: sqlite3.Row) -> CharacterRow:
    d = dict(row)
    d["raw"] = json.loads(d["raw"]) if d.get("raw") else None
    return CharacterRow(**d)


def _json(value: Any) -> str:
    return json.dumps(value, default=repr)



# The table of storyboard runs, created on first use (so record files made before it gain it).
_STORYBOARD_SCHEMA = """
CREATE TABLE IF NOT EXISTS storyboard_runs (
    id TEXT PRIMARY KEY,
    storyboard_id TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    plan TEXT NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS storyboard_runs_sb ON storyboard_runs(storyboard_id, started_at);
"""
