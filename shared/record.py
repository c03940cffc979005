"""The record of every job: nothing paid for is ever lost.

A job is written here as soon as the service returns its id (before ``create`` returns to the caller), then
updated as it is polled and downloaded. A crash, a Ctrl-C, a ComfyUI restart or an MCP server restart can always
find it again: ``sora2 list --local``, ``sora2 download ID``, the Load Job node and ``get_status`` read it.
It lives in the store (``store/``): a SQLite file in the data folder, shared safely by the processes of one machine
(ComfyUI, an MCP server, the CLI), or one PostgreSQL database (``SORA2_DATABASE_URL``) shared by every front end on
every machine of a team.

The row is written from the service's raw answer first (id, status, the answer as JSON), and only then are derived
values (cost, model, size, progress, times) filled in, so an answer we cannot fully read still leaves its job here.

Two more tables keep processes that share the record from taking each other's jobs. ``intents``: a row is written
before every job-creating request and closed when it ends (answered, reconciled, ambiguous, unidentified, failed,
abandoned),
so a caller whose answer was lost can see who else is waiting for a job with the same prompt. ``claims``: the video
id is the primary key, so a job belongs to exactly one request; a claim is taken in a transaction no other writer
runs beside, together with the check of what is already known. And :meth:`JobRecord.exclusive` makes identical
requests from any process wait for one another, so they pay once.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    MetaData,
    Row,
    Table,
    bindparam,
    func,
    inspect,
    or_,
    select,
    text,
    union,
)

from .config import data_dir
from .locks import KeyedLocks
from .models import Video, status_of
from .store.engine import MEMORY, Database, SafeText, database_url
from .store.leases import Leases, leases

# The file name of the shared record inside a data folder: the CLI, the nodes and the MCP server all open it.
RECORD_FILE = "jobs.sqlite3"

METADATA = MetaData()
jobs = Table(
    "jobs", METADATA,
    Column("id", SafeText, primary_key=True),
    Column("provider", SafeText, nullable=False),
    Column("base_url", SafeText, nullable=False),
    Column("kind", SafeText, nullable=False),
    Column("source_id", SafeText),
    Column("model", SafeText),
    Column("size", SafeText),
    Column("seconds", SafeText),
    Column("prompt", SafeText),
    Column("request", SafeText, nullable=False),
    Column("request_key", SafeText),
    Column("cost_usd", Double),
    Column("status", SafeText, nullable=False),
    Column("progress", BigInteger, nullable=False, server_default="0"),
    Column("error_code", SafeText),
    Column("error_message", SafeText),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("completed_at", BigInteger),
    Column("expires_at", BigInteger),
    Column("files", SafeText, nullable=False, server_default="{}"),
    Column("raw", SafeText),  # the service's answer as received when the job was recorded
    Column("note", SafeText),
    Index("jobs_created", "created_at"),
    Index("jobs_key", "request_key"),
)
intents = Table(
    "intents", METADATA,
    Column("id", SafeText, primary_key=True),
    Column("kind", SafeText, nullable=False),
    Column("request_key", SafeText),
    Column("match_key", SafeText),
    Column("started_at", Double, nullable=False),
    Column("state", SafeText, nullable=False, server_default="pending"),
    Column("video_id", SafeText),
    Column("answer", SafeText),
    Column("closed_at", Double),
    Column("holder", SafeText),  # the lease holder that sent it (see JobRecord.exclusive), if it held one
    Index("intents_live", "match_key", "state"),
)
claims = Table(
    "claims", METADATA,
    Column("video_id", SafeText, primary_key=True),
    Column("intent_id", SafeText, nullable=False),
    Column("how", SafeText, nullable=False),
    Column("claimed_at", Double, nullable=False),
)
characters = Table(
    "characters", METADATA,
    Column("id", SafeText, primary_key=True),
    Column("provider", SafeText, nullable=False),
    Column("base_url", SafeText, nullable=False),
    Column("name", SafeText, nullable=False),
    Column("video_sha256", SafeText, nullable=False),
    Column("video_file", SafeText),
    Column("created_at", Double, nullable=False),
    Column("raw", SafeText),
    Index("characters_source", "provider", "base_url", "name", "video_sha256"),
)
storyboard_runs = Table(
    "storyboard_runs", METADATA,
    Column("id", SafeText, primary_key=True),
    Column("storyboard_id", SafeText, nullable=False),
    Column("status", SafeText, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("finished_at", Double),
    Column("plan", SafeText, nullable=False),
    Column("result", SafeText),
    Index("storyboard_runs_sb", "storyboard_id", "started_at"),
)
record_version = Table("record_schema_version", MetaData(), Column("version", Integer, nullable=False))
# The PostgreSQL advisory lock the record's deciding transactions (claims, settlements, migrations) hold: it
# serializes them across every process sharing the database, as BEGIN IMMEDIATE does on SQLite.
RECORD_LOCK_KEY = 0x50_52_A2_B0_D6_E8


# ---------------------------------------------------------------------------------------------- migrations
def _create_tables(conn: Connection) -> None:
    """Every table; a file from before versioning already has some (perhaps without later columns)."""
    METADATA.create_all(conn, checkfirst=True)
    leases.create(conn, checkfirst=True)


def _add_raw_and_note(conn: Connection) -> None:
    """``raw`` and ``note`` came after the first release: a file made before them gains them."""
    have = {c["name"] for c in inspect(conn).get_columns("jobs")}
    for name in ("raw", "note"):
        if name not in have:
            conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {name} TEXT"))


def _add_intent_holder(conn: Connection) -> None:
    """Intents name the lease holder that sent them, so a request whose process died can be told apart."""
    if "holder" not in {c["name"] for c in inspect(conn).get_columns("intents")}:
        conn.execute(text("ALTER TABLE intents ADD COLUMN holder TEXT"))


# Numbered by position (1, 2, ...); append, never edit or reorder: a database records the last one it ran.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_tables, _add_raw_and_note, _add_intent_holder]
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


# The statements every poll of every front end runs, built once: building a statement costs more than running it.
_SEEN = ("status", "progress", "error_code", "error_message", "completed_at", "expires_at")
_UPDATE_IF_CHANGED = (
    jobs.update()
    .where(jobs.c.id == bindparam("video_id"), or_(*(jobs.c[n].is_distinct_from(bindparam(n)) for n in _SEEN)))
    .values({**{n: bindparam(n) for n in _SEEN}, "updated_at": bindparam("updated_at")})
)
_GET = select(jobs).where(jobs.c.id == bindparam("video_id"))
_BY_KEY = (select(jobs).where(jobs.c.request_key == bindparam("key"), jobs.c.status != "deleted")
           .order_by(jobs.c.created_at.desc()).limit(1))
_BY_KEY_SINCE = _BY_KEY.where(jobs.c.created_at >= bindparam("since"))

LAST_SEEN_KEPT = 4096
"""How many jobs' last polled state a record remembers (a few hundred bytes each)."""

# The leases the running task holds through JobRecord.exclusive, by key (a task may hold several, nested).
_HELD: ContextVar[dict[str, str]] = ContextVar("sora2_held_keys", default={})

# Identical requests in this process wait here first, so only one of them asks the store for the lease.
_LOCAL_KEYS = KeyedLocks()


def open_record() -> JobRecord:
    """The record every front end shares: ``SORA2_DATABASE_URL`` if set, else the file in the data folder."""
    return JobRecord(database_url(data_dir() / RECORD_FILE))


class JobRecord:
    """The record's queries over one :class:`~.store.engine.Database` (callers may be threads and processes).

    ``target``: a SQLite file (a Path), ``":memory:"``, or a PostgreSQL URL (a str; see :func:`open_record`).
    """

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.db = Database(target, "the job record")
        self.leases = Leases(self.db)
        # What this process last wrote for each job it polls, so a poll that sees it again costs no statement.
        self._last_seen: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self.db.migrate(record_version, MIGRATIONS, RECORD_LOCK_KEY)

    def close(self) -> None:
        self.db.close()

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[None]:
        """Run the block while no other request with the same ``key`` runs its own, in any process sharing this record.

        Front ends look for a job made from the same request and create one only if there is none, inside this
        block: two ComfyUI workers, two MCP servers or the CLI beside them then pay once. The lease lapses if its
        holder dies (the next waiter finds the job it recorded, or creates it).
        """
        async with _LOCAL_KEYS.hold(key):
            if self.target == MEMORY:  # no other process can see this record
                yield
                return
            async with self.leases.hold(f"request:{key}") as me:
                held = _HELD.set({**_HELD.get(), key: me})
                try:
                    yield
                finally:
                    _HELD.reset(held)

    def holder_of(self, key: str) -> str | None:
        """The lease this task holds on ``key`` through :meth:`exclusive`, if it does."""
        return _HELD.get().get(key)

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
        with self.db.write(RECORD_LOCK_KEY) as conn:
            self._insert(conn, video.id, answer, status_of(answer), entry)
        self.set_derived(video, cost_usd)

    # ------------------------------------------------------------------ intents and claims
    def open_intent(self, kind: str, *, request_key: str | None, match_key: str | None, started_at: float,
                    holder: str | None = None) -> str:
        """Say, before sending it, that a job-creating request is about to be made; returns the intent's id.

        ``holder``: the lease on ``request_key`` the sender holds (:meth:`holder_of`), if any.
        """
        intent_id = uuid.uuid4().hex
        with self.db.write() as conn:
            conn.execute(intents.insert().values(id=intent_id, kind=kind, request_key=request_key,
                                                 match_key=match_key, started_at=started_at, state="pending",
                                                 holder=holder))
        return intent_id

    def orphaned_intents(self, request_key: str, *, holder: str, since: float) -> list[dict[str, Any]]:
        """Requests for ``request_key`` sent under another holder's lease and never closed, oldest first.

        Asked by the holder of that lease: had their sender lived, it would have closed them before freeing the
        lease (answered, reconciled or failed). So their process died after sending, and the job may exist.
        Requests sent without a lease (no holder) are never taken for orphans: they may still be waiting.
        """
        query = select(intents).where(
            intents.c.request_key == request_key, intents.c.state == "pending", intents.c.holder.is_not(None),
            intents.c.holder != holder, intents.c.started_at >= since).order_by(intents.c.started_at)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def close_intent(self, intent_id: str, state: str, *, answer: Any = None, video_id: str | None = None) -> None:
        """End a pending intent (a closed one is left as it is), keeping an answer we could not use."""
        with self.db.write() as conn:
            self._close(conn, intent_id, state, answer=answer, video_id=video_id)

    def record_answer(self, video_id: str, answer: Any, *, intent_id: str, entry: JobEntry) -> bool:
        """Write the job from the service's raw answer and claim it for ``intent_id``, in one transaction.

        Returns False when another request had already claimed the id (then the job is flagged, not taken away:
        the answer proves this request created it).
        """
        with self.db.write(RECORD_LOCK_KEY) as conn:
            self._insert(conn, video_id, answer, status_of(answer), entry)
            conn.execute(
                jobs.update().where(jobs.c.id == video_id, jobs.c.status == AMBIGUOUS).values(
                    status=status_of(answer), note=None, request_key=entry.request_key, kind=entry.kind,
                    request=json.dumps(entry.request), source_id=entry.source_id, raw=_json(answer),
                )
            )
            claimed = self._claim(conn, video_id, intent_id, "answered")
            if not claimed:
                conn.execute(jobs.update().where(jobs.c.id == video_id).values(
                    note="Also claimed by a request whose answer was lost: check that no one else uses this job."))
            self._close(conn, intent_id, "answered", video_id=video_id)
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

        In one transaction no other writer runs beside: drop the ids any request has recorded or claimed (read now,
        not when the request was sent); if exactly one is left and no other live request for the same prompt is
        still waiting for its answer, claim it. If more than one is left, or another such request is waiting, it
        cannot be told whose is whose: record them as ambiguous (no request key, so no front end reuses them) and
        claim none. Intents older than ``live_since`` are ignored: their requests have given up.
        """
        with self.db.write(RECORD_LOCK_KEY) as conn:
            known = self._known(conn)
            free = [v for v in candidates if v.id not in known]
            if not free:
                return Settlement()
            others = conn.execute(
                select(func.count()).select_from(intents).where(
                    intents.c.match_key == match_key, intents.c.state == "pending", intents.c.id != intent_id,
                    intents.c.started_at >= live_since)
            ).scalar_one()
            if len(free) == 1 and not others:
                video = free[0]
                self._insert(conn, video.id, video.raw, status_of(video.raw or {}), entry)
                self._claim(conn, video.id, intent_id, "reconciled")
                self._close(conn, intent_id, "reconciled", video_id=video.id)
            else:
                ambiguous = JobEntry(entry.provider, entry.base_url, entry.kind, entry.request, entry.source_id)
                for v in free:
                    self._insert(conn, v.id, v.raw, AMBIGUOUS, ambiguous, note=AMBIGUOUS_NOTE.format(id=v.id))
                self._close(conn, intent_id, AMBIGUOUS, answer=[v.id for v in free])
        if len(free) == 1 and not others:
            self.set_derived(free[0], cost(free[0]))
            return Settlement(claimed=free[0])
        for v in free:
            self.set_derived(v, cost(v), keep_status=True)
        return Settlement(ambiguous=[v.id for v in free])

    def set_derived(self, video: Video, cost_usd: float | None, *, keep_status: bool = False) -> None:
        """Fill in what is read from the answer (after the raw row exists); unknown values stay as they were."""
        err = video.error
        known = {"model": video.model, "size": video.size, "seconds": video.seconds, "prompt": video.prompt,
                 "created_at": video.created_at}
        values: dict[str, Any] = {k: v for k, v in known.items() if v is not None}
        values.update(cost_usd=cost_usd, progress=video.progress, error_code=err.code if err else None,
                      error_message=err.message if err else None, completed_at=video.completed_at,
                      expires_at=video.expires_at)
        if not keep_status:
            values["status"] = video.status
        self._last_seen.pop(video.id, None)
        with self.db.write() as conn:
            conn.execute(jobs.update().where(jobs.c.id == video.id).values(**values))

    def intents(self) -> list[dict[str, Any]]:
        """Every intent, oldest first (for inspection: an unidentified answer is kept here whole)."""
        with self.db.read() as conn:
            rows = conn.execute(select(intents).order_by(intents.c.started_at)).mappings().all()
        return [{**r, "answer": json.loads(r["answer"]) if r["answer"] else None} for r in rows]

    def claims(self) -> dict[str, str]:
        """Video id -> the intent that claimed it."""
        with self.db.read() as conn:
            return {r.video_id: r.intent_id for r in conn.execute(select(claims.c.video_id, claims.c.intent_id))}

    def _insert(
        self, conn: Connection, video_id: str, answer: Any, status: str, entry: JobEntry, note: str | None = None
    ) -> None:
        """The row as the raw answer allows: nothing in it is parsed beyond the id and the status word."""
        now = time.time()
        req = entry.request
        conn.execute(self.db.insert_ignoring(jobs).values(
            id=video_id, provider=entry.provider, base_url=entry.base_url, kind=entry.kind, source_id=entry.source_id,
            model=req.get("model"), size=req.get("size"), seconds=req.get("seconds"), prompt=req.get("prompt"),
            request=json.dumps(req), request_key=entry.request_key, status=status,
            created_at=now, updated_at=now, raw=_json(answer), note=note, progress=0, files="{}",
        ).on_conflict_do_nothing())

    def _claim(self, conn: Connection, video_id: str, intent_id: str, how: str) -> bool:
        """Claim ``video_id`` for ``intent_id``; False if it was claimed before. Told by the row the insert returns:
        a driver's row count is not to be trusted here (psycopg reports -1 for an insert that did insert)."""
        return conn.execute(self.db.insert_ignoring(claims).values(
            video_id=video_id, intent_id=intent_id, how=how, claimed_at=time.time(),
        ).on_conflict_do_nothing().returning(claims.c.video_id)).first() is not None

    @staticmethod
    def _close(conn: Connection, intent_id: str, state: str, *, answer: Any = None,
               video_id: str | None = None) -> None:
        conn.execute(intents.update().where(intents.c.id == intent_id, intents.c.state == "pending").values(
            state=state, video_id=video_id, answer=None if answer is None else _json(answer), closed_at=time.time()))

    @staticmethod
    def _known(conn: Connection) -> set[str]:
        return set(conn.execute(union(select(jobs.c.id), select(claims.c.video_id))).scalars())

    def update(self, video: Video) -> None:
        """Record what a poll saw. Only a change is written: most polls see the same status and progress, and a
        write is a committed transaction (an fsync) on every poll of every front end."""
        err = video.error
        seen = {"status": video.status, "progress": video.progress,
                "error_code": err.code if err else None, "error_message": err.message if err else None,
                "completed_at": video.completed_at, "expires_at": video.expires_at}
        state = tuple(seen.values())
        if self._last_seen.get(video.id) == state:
            return  # this process wrote (or found) exactly this already; a newer state elsewhere is newer still
        with self.db.write() as conn:
            conn.execute(_UPDATE_IF_CHANGED, {**seen, "video_id": video.id, "updated_at": time.time()})
        self._last_seen[video.id] = state
        while len(self._last_seen) > LAST_SEEN_KEPT:
            self._last_seen.popitem(last=False)

    def set_status(self, video_id: str, status: str) -> None:
        self._last_seen.pop(video_id, None)
        with self.db.write() as conn:
            conn.execute(jobs.update().where(jobs.c.id == video_id).values(status=status, updated_at=time.time()))

    def set_file(self, video_id: str, variant: str, path: str | Path) -> None:
        """Note where a variant was saved; two processes saving two variants at once both stay noted."""
        with self.db.write(RECORD_LOCK_KEY) as conn:
            files_json = conn.execute(
                select(jobs.c.files).where(jobs.c.id == video_id).with_for_update()).scalar()
            if files_json is None:
                return
            files = json.loads(files_json)
            files[variant] = str(path)
            conn.execute(jobs.update().where(jobs.c.id == video_id).values(
                files=json.dumps(files), updated_at=time.time()))

    def get(self, video_id: str) -> JobRow | None:
        with self.db.read() as conn:
            row = conn.execute(_GET, {"video_id": video_id}).first()
        return _row(row) if row else None

    def list(self, limit: int = 50, *, status: str | None = None) -> list[JobRow]:
        query = select(jobs)
        if status:
            query = query.where(jobs.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(jobs.c.created_at.desc()).limit(limit)).all()
        return [_row(r) for r in rows]

    def find_by_key(self, request_key: str, *, since: float | None = None) -> JobRow | None:
        """The newest job made from an identical request (used to avoid paying twice for the same thing)."""
        with self.db.read() as conn:
            if since is None:
                row = conn.execute(_BY_KEY, {"key": request_key}).first()
            else:
                row = conn.execute(_BY_KEY_SINCE, {"key": request_key, "since": since}).first()
        return _row(row) if row else None

    def known_ids(self) -> set[str]:
        """Every job id this record holds or has claimed."""
        with self.db.read() as conn:
            return self._known(conn)

    def durations(self, provider: str, model: str | None, size: str | None, seconds: str | None,
                  limit: int = 20) -> list[float]:
        """Seconds from creation to completion of the newest completed jobs like this one (same provider, model,
        size and seconds): polling places its polls where these finished when progress says nothing."""
        query = (
            select(jobs.c.completed_at - jobs.c.created_at)
            .where(jobs.c.provider == provider, jobs.c.model.is_not_distinct_from(model),
                   jobs.c.size.is_not_distinct_from(size), jobs.c.seconds.is_not_distinct_from(seconds),
                   jobs.c.completed_at.is_not(None), jobs.c.status.not_in(("failed", "queued", "in_progress")),
                   jobs.c.error_code.is_(None))
            .order_by(jobs.c.created_at.desc()).limit(limit)
        )
        with self.db.read() as conn:
            spans = conn.execute(query).scalars().all()
        return [float(s) for s in spans if s is not None and s > 0]

    # ------------------------------------------------------------------ characters
    def add_character(self, character_id: str, *, provider: str, base_url: str, name: str, video_sha256: str,
                      video_file: str | None, raw: Any) -> None:
        """Record a character the service made, so the same video and name on this service is never sent again."""
        values = {"provider": provider, "base_url": base_url, "name": name, "video_sha256": video_sha256,
                  "video_file": video_file, "created_at": time.time(), "raw": _json(raw)}
        stmt = self.db.insert_ignoring(characters).values(id=character_id, **values)
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=[characters.c.id], set_=values))

    def find_character(self, provider: str, base_url: str, name: str, video_sha256: str) -> CharacterRow | None:
        """The newest character made on this service from this video under this name."""
        query = select(characters).where(
            characters.c.provider == provider, characters.c.base_url == base_url, characters.c.name == name,
            characters.c.video_sha256 == video_sha256).order_by(characters.c.created_at.desc()).limit(1)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return _character_row(row) if row else None

    def get_character(self, character_id: str) -> CharacterRow | None:
        with self.db.read() as conn:
            row = conn.execute(select(characters).where(characters.c.id == character_id)).first()
        return _character_row(row) if row else None

    def characters(self, limit: int = 50) -> list[CharacterRow]:
        """Characters made through this record, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(select(characters).order_by(characters.c.created_at.desc()).limit(limit)).all()
        return [_character_row(r) for r in rows]

    # ------------------------------------------------------------------ storyboard runs
    def start_storyboard_run(self, run_id: str, storyboard_id: str, plan: dict[str, Any]) -> None:
        """Record that a storyboard run began, with its plan (shot ids, keys, prices)."""
        with self.db.write() as conn:
            conn.execute(storyboard_runs.insert().values(
                id=run_id, storyboard_id=storyboard_id, status="running", started_at=time.time(), plan=_json(plan)))

    def running_storyboard(self, run_id: str) -> AbstractAsyncContextManager[str]:
        """Hold while a run is running: its lease tells every process sharing the record that it still is."""
        return self.leases.hold(_run_key(run_id))

    def finish_storyboard_run(self, run_id: str, status: str, result: dict[str, Any]) -> None:
        """Record how a run ended (completed, failed, cancelled) and what each shot became."""
        with self.db.write() as conn:
            conn.execute(storyboard_runs.update().where(storyboard_runs.c.id == run_id).values(
                status=status, finished_at=time.time(), result=_json(result)))

    def storyboard_runs(self, storyboard_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Runs, newest first (of one storyboard if ``storyboard_id`` is given), with plan and result parsed.

        A run recorded as running whose process no longer holds it (killed, machine gone) is ``interrupted``;
        one still held is running, in this process or any other sharing the record (another MCP server, a
        ComfyUI worker).
        """
        query = select(storyboard_runs)
        if storyboard_id is not None:
            query = query.where(storyboard_runs.c.storyboard_id == storyboard_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(storyboard_runs.c.started_at.desc()).limit(limit)).mappings().all()
        return [{**r, "plan": json.loads(r["plan"]), "result": json.loads(r["result"]) if r["result"] else None,
                 "status": "interrupted" if r["status"] == "running" and self.leases.holder(_run_key(r["id"])) is None
                 else r["status"]} for r in rows]


def _run_key(run_id: str) -> str:
    return f"storyboard-run:{run_id}"


def _row(row: Row[Any]) -> JobRow:
    d = dict(row._mapping)
    d["request"] = json.loads(d["request"] or "{}")
    d["files"] = json.loads(d["files"] or "{}")
    d["raw"] = json.loads(d["raw"]) if d.get("raw") else None
    return JobRow(**d)


def _character_row(row: Row[Any]) -> CharacterRow:
    d = dict(row._mapping)
    d["raw"] = json.loads(d["raw"]) if d.get("raw") else None
    return CharacterRow(**d)


def _json(value: Any) -> str:
    return json.dumps(value, default=repr)

