"""The spending ledger's storage: one SQLite file by default, or one PostgreSQL database shared by many servers.

It lives in ``mcp_server/`` because only the MCP server spends against a budget: the CLI and the ComfyUI nodes
spend what their user asks for and keep no ledger, so ``shared/`` has no use for it.

Written with SQLAlchemy Core (and psycopg 3 for PostgreSQL) rather than two hand-written SQL dialects: one table
definition (:data:`METADATA`) creates the same schema on both, one set of queries runs on both, and the few places
where the databases really differ are explicit and small: how a reservation takes its lock (``BEGIN IMMEDIATE`` on
SQLite, a transaction-scoped advisory lock on PostgreSQL) and "insert unless present". psycopg 3 is the driver the
PostgreSQL project's own community maintains, with binary wheels, so nothing needs compiling.

Set ``SORA2_DATABASE_URL=postgresql://user:password@host/dbname`` to share one budget between servers on several
machines; without it the ledger is ``<data dir>/mcp-spend.sqlite3``, as before. The schema is versioned
(``schema_version``); ledgers written by earlier versions are migrated in place when opened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..shared.errors import ConfigurationError
from .callers import current_caller

ENV_DATABASE_URL = "SORA2_DATABASE_URL"
# A reservation whose server died before it could settle stops counting after this long.
STALE_RESERVATION_SECONDS = 3600.0
# The key of the PostgreSQL advisory lock every reservation (and migration) holds until its transaction ends:
# it serializes budget checks across every server sharing the database. Any fixed 64-bit number will do.
RESERVE_LOCK_KEY = 0x50_52_A2_B0_D6_E7

METADATA = MetaData()
spend = Table(
    "spend", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Double, nullable=False),
    Column("usd", Double, nullable=False),  # double precision: PostgreSQL's REAL would round to 6 digits
    Column("state", Text, nullable=False),  # 'reserved' or 'spent'
    Column("server_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("video_id", Text),
    Column("caller", Text),
    Index("spend_created", "created_at"),
    sqlite_autoincrement=True,  # the AUTOINCREMENT of existing files: ids are never reused
)
unfollowed = Table(
    "unfollowed", METADATA,
    Column("video_id", Text, primary_key=True),
    Column("at", Double, nullable=False),
)
spend_video = Index("spend_video", spend.c.video_id)
schema_version = Table("schema_version", METADATA, Column("version", Integer, nullable=False))


# ---------------------------------------------------------------------------------------------- migrations
def _create_tables(conn: Connection) -> None:
    """The ledger's tables; a file from before versioning already has them (perhaps without ``caller``)."""
    METADATA.create_all(conn, tables=[spend, unfollowed], checkfirst=True)


def _add_caller(conn: Connection) -> None:
    """Rows record who spent (a token's name); ledgers from before tokens lack the column."""
    if "caller" not in {c["name"] for c in inspect(conn).get_columns("spend")}:
        conn.execute(text("ALTER TABLE spend ADD COLUMN caller TEXT"))


def _index_video(conn: Connection) -> None:
    """Ownership checks look rows up by video id."""
    spend_video.create(conn, checkfirst=True)


# Numbered by position (1, 2, ...); append, never edit or reorder: a database records the last one it ran.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_tables, _add_caller, _index_video]


def _migrate(conn: Connection) -> None:
    schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
    for number, migration in enumerate(MIGRATIONS, start=1):
        if number > current:
            migration(conn)
    if current < len(MIGRATIONS):
        conn.execute(schema_version.delete())
        conn.execute(schema_version.insert().values(version=len(MIGRATIONS)))


# ---------------------------------------------------------------------------------------------- engines
def database_url(default_path: Path) -> str | Path:
    """Where the ledger lives: ``SORA2_DATABASE_URL`` if set, else the SQLite file ``default_path``."""
    return os.environ.get(ENV_DATABASE_URL, "").strip() or default_path


def _engine(target: str | Path) -> Engine:
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{target}", connect_args={"timeout": 30})
        _sqlite_transactions(engine)
        return engine
    try:
        url = make_url(target)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() != "postgresql" or url.get_driver_name() not in ("psycopg", "psycopg2"):
        raise ConfigurationError(
            f"{ENV_DATABASE_URL} must be a PostgreSQL URL like postgresql://user:password@host:5432/dbname "
            "(or unset for the SQLite file in the data folder)."
        )
    try:
        import psycopg  # noqa: F401  (only to name the missing extra clearly)
    except ImportError:
        raise ConfigurationError(
            f"{ENV_DATABASE_URL} is set but the PostgreSQL driver is missing: pip install 'sora2-bridge[team]'."
        ) from None
    return create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True)


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, so a reservation can ``BEGIN IMMEDIATE``.

    The sqlite3 module would otherwise start a deferred transaction on its own at the first write; the
    write lock must be taken before the budget is read, or two processes could both read the same total.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write_lock") else "BEGIN")


# ---------------------------------------------------------------------------------------------- the ledger
@dataclass(frozen=True)
class Scope:
    """Which rows count against a budget; a field left None does not narrow the rows."""

    simulated: bool | None = None  # the local simulator's rows, or the real providers' rows
    server_id: str | None = None
    caller: str | None = None
    since: float | None = None


@dataclass(frozen=True)
class Limit:
    """One budget a reservation must fit: its amount and which ledger rows count against it."""

    budget: float
    scope: Scope


def _counted(scope: Scope, now: float):  # type: ignore[no-untyped-def]
    """Spent rows, and reservations young enough to still be held, within ``scope``."""
    conditions = [or_(spend.c.state == "spent",
                      (spend.c.state == "reserved") & (spend.c.created_at > now - STALE_RESERVATION_SECONDS))]
    if scope.simulated is not None:
        conditions.append(spend.c.provider == "local" if scope.simulated else spend.c.provider != "local")
    if scope.server_id is not None:
        conditions.append(spend.c.server_id == scope.server_id)
    if scope.caller is not None:
        conditions.append(spend.c.caller == scope.caller)
    if scope.since is not None:
        conditions.append(spend.c.created_at >= scope.since)
    return select(func.coalesce(func.sum(spend.c.usd), 0.0)).where(*conditions)


class Ledger:
    """Reserved and spent amounts, shared by every MCP server using the same data folder or database.

    ``target`` is a SQLite file (a Path) or a database URL (a str); see :func:`database_url`.
    """

    def __init__(self, target: Path | str) -> None:
        self.engine = _engine(target)
        self.dialect = self.engine.dialect.name
        # (video id, caller) pairs known to be owned: a spent row is never taken back, so a yes stays a yes and
        # every later poll of the same job skips the query. A no is asked again (the job may be made elsewhere).
        self._owned: set[tuple[str, str]] = set()
        with self._serialized() as conn:
            _migrate(conn)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _serialized(self) -> Iterator[Connection]:
        """A transaction no other writer of this ledger (in any process, on any machine) runs beside."""
        with self.engine.connect().execution_options(write_lock=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(RESERVE_LOCK_KEY)))
            yield conn

    def spent(self, scope: Scope) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(_counted(scope, time.time())).scalar_one())

    def reserve(self, usd: float, budget: float, scope: Scope, row: dict[str, object]) -> tuple[int | None, float]:
        """Insert a reservation if ``spent + usd <= budget``; return (id or None, remaining before it)."""
        rid, _, remaining = self.reserve_within(usd, [Limit(budget, scope)], row)
        return rid, remaining

    def reserve_within(
        self, usd: float, limits: list[Limit], row: dict[str, object]
    ) -> tuple[int | None, int, float]:
        """Insert a reservation if ``usd`` fits every limit, in one transaction that serializes reservations.

        Return (id, -1, remaining under the first limit) or (None, index of the limit it does not fit, what was
        left of it). The row records ``row["caller"]``, by default the current caller's name (None: the owner).
        """
        now = time.time()
        caller = row.get("caller", getattr(current_caller(), "name", None))
        with self._serialized() as conn:
            left = []
            for i, limit in enumerate(limits):
                left.append(limit.budget - float(conn.execute(_counted(limit.scope, now)).scalar_one()))
                if usd > left[-1] + 1e-9:
                    return None, i, left[-1]  # nothing written: the commit only ends the lock
            rid = conn.execute(
                spend.insert().values(
                    created_at=now, usd=usd, state="reserved", server_id=row["server_id"], provider=row["provider"],
                    base_url=row["base_url"], kind=row["kind"], caller=caller,
                ).returning(spend.c.id)
            ).scalar_one()
        return rid, -1, left[0] if left else float("inf")

    def owned_by(self, video_id: str, caller: str) -> bool:
        """Whether ``caller`` paid for (so created) ``video_id``."""
        if (video_id, caller) in self._owned:
            return True
        query = select(spend.c.id).where(
            spend.c.video_id == video_id, spend.c.caller == caller, spend.c.state == "spent").limit(1)
        with self.engine.connect() as conn:
            owned = conn.execute(query).first() is not None
        if owned:
            self._owned.add((video_id, caller))
        return owned

    def settle(self, reservation_id: int, video_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(spend.update().where(spend.c.id == reservation_id).values(state="spent", video_id=video_id))

    def release(self, reservation_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(spend.delete().where(spend.c.id == reservation_id, spend.c.state == "reserved"))

    def video_ids(self, provider: str, base_url: str, since: float) -> list[str]:
        """The jobs paid for since ``since`` that the collector still follows (not stopped with ``unfollow``)."""
        query = (
            select(spend.c.video_id)
            .where(spend.c.state == "spent", spend.c.provider == provider, spend.c.base_url == base_url,
                   spend.c.created_at >= since, spend.c.video_id.not_in(select(unfollowed.c.video_id)))
            .order_by(spend.c.created_at)
        )
        with self.engine.connect() as conn:
            return [video_id for video_id in conn.execute(query).scalars() if video_id]

    def unfollow(self, video_id: str) -> None:
        """Stop collecting ``video_id``; kept across restarts and shared by every server using this ledger."""
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(unfollowed)
        with self.engine.begin() as conn:
            conn.execute(insert.values(video_id=video_id, at=time.time()).on_conflict_do_nothing())
