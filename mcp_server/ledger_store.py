"""The spending ledger's tables and queries: one SQLite file by default, or one PostgreSQL database shared by many
servers (``SORA2_DATABASE_URL``; see ``shared/store/engine.py`` for how either is opened and locked).

It lives in ``mcp_server/`` because only the MCP server spends against a budget: the CLI and the ComfyUI nodes
spend what their user asks for and keep no ledger. Without a database URL the ledger is
``<data dir>/mcp-spend.sqlite3``, as before. The schema is versioned (``schema_version``); ledgers written by
earlier versions are migrated in place when opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    Connection,
    Double,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    inspect,
    or_,
    select,
    text,
)

from ..shared.store.engine import Database
from .callers import current_caller

# A reservation whose server died before it could settle stops counting after this long.
STALE_RESERVATION_SECONDS = 3600.0
# How long a "the collector follows this job" is believed without asking again.
FOLLOWS_KEPT_SECONDS = 30.0
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


def _followed(provider: str, base_url: str, since: float):  # type: ignore[no-untyped-def]
    """The paid jobs of one service since ``since`` that nobody told the collector to leave alone."""
    return (
        select(spend.c.video_id)
        .where(spend.c.state == "spent", spend.c.provider == provider, spend.c.base_url == base_url,
               spend.c.created_at >= since, spend.c.video_id.not_in(select(unfollowed.c.video_id)))
        .order_by(spend.c.created_at)
    )


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

    ``target`` is a SQLite file (a Path) or a database URL (a str); see ``shared/store/engine.py``.
    """

    def __init__(self, target: Path | str) -> None:
        self.db = Database(target, "the spending ledger")
        self.engine = self.db.engine
        self.dialect = self.db.dialect
        # (video id, caller) pairs known to be owned: a spent row is never taken back, so a yes stays a yes and
        # every later poll of the same job skips the query. A no is asked again (the job may be made elsewhere).
        self._owned: set[tuple[str, str]] = set()
        # (video id, provider, base URL) -> when it was last seen followed by the collector (see follows).
        self._follows: dict[tuple[str, str, str], float] = {}
        self.db.migrate(schema_version, MIGRATIONS, RESERVE_LOCK_KEY)

    def close(self) -> None:
        self.db.close()

    def spent(self, scope: Scope) -> float:
        with self.db.read() as conn:
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
        with self.db.write(RESERVE_LOCK_KEY) as conn:
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
        with self.db.read() as conn:
            owned = conn.execute(query).first() is not None
        if owned:
            self._owned.add((video_id, caller))
        return owned

    def settle(self, reservation_id: int, video_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(spend.update().where(spend.c.id == reservation_id).values(state="spent", video_id=video_id))

    def release(self, reservation_id: int) -> None:
        with self.db.write() as conn:
            conn.execute(spend.delete().where(spend.c.id == reservation_id, spend.c.state == "reserved"))

    def video_ids(self, provider: str, base_url: str, since: float) -> list[str]:
        """The jobs paid for since ``since`` that the collector still follows (not stopped with ``unfollow``)."""
        with self.db.read() as conn:
            return [video_id for video_id in conn.execute(_followed(provider, base_url, since)).scalars() if video_id]

    def follows(self, video_id: str, provider: str, base_url: str, since: float) -> bool:
        """Whether ``video_id`` is among :meth:`video_ids` (one row looked up, not the whole window listed).

        Every poll of a finished, unsaved job asks (for the agent's hint), so a yes is kept for
        ``FOLLOWS_KEPT_SECONDS``: :meth:`unfollow` here forgets it at once, one on another server within that time.
        """
        now = time.time()
        key = (video_id, provider, base_url)
        if now - self._follows.get(key, float("-inf")) < FOLLOWS_KEPT_SECONDS:
            return True
        query = _followed(provider, base_url, since).where(spend.c.video_id == video_id).limit(1)
        with self.db.read() as conn:
            follows = conn.execute(query).first() is not None
        if follows:
            if len(self._follows) > 4096:
                self._follows = {k: t for k, t in self._follows.items() if now - t < FOLLOWS_KEPT_SECONDS}
            self._follows[key] = now
        return follows

    def unfollow(self, video_id: str) -> None:
        """Stop collecting ``video_id``; kept across restarts and shared by every server using this ledger."""
        self._follows = {k: t for k, t in self._follows.items() if k[0] != video_id}
        with self.db.write() as conn:
            conn.execute(self.db.insert_ignoring(unfollowed).values(video_id=video_id, at=time.time())
                         .on_conflict_do_nothing())
