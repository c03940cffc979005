"""Where shared state lives: a SQLite file on one machine, or one PostgreSQL database shared by many.

Written with SQLAlchemy Core (and psycopg 3 for PostgreSQL) rather than two hand-written SQL dialects: one table
definition creates the same schema on both, one set of queries runs on both, and the few places where the
databases really differ are here and small: how a writer takes its lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-scoped advisory lock on PostgreSQL), "insert unless present", and what a connection needs when it opens.
SQLAlchemy is already a requirement of ComfyUI itself; psycopg 3 is the driver the PostgreSQL community maintains,
with binary wheels, so nothing needs compiling (the ``team`` extra).

Set ``SORA2_DATABASE_URL=postgresql://user:password@host:5432/dbname`` and every front end on every machine shares
the job record (and the MCP servers their spending ledger); without it each data folder keeps its own SQLite files.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, Text, TypeDecorator, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError
from sqlalchemy.pool import QueuePool, StaticPool

from ..errors import ConfigurationError

ENV_DATABASE_URL = "SORA2_DATABASE_URL"
MEMORY = ":memory:"
LOCK_WAIT_S = 30.0
"""How long a statement waits for another process's write lock before the store reports itself unusable."""
PING_IF_IDLE_S = 1.0
"""A PostgreSQL connection idle longer than this is checked before use (see ``_ping_when_idle``)."""


class StoreUnavailable(ConfigurationError):
    """The record or ledger cannot be read or written (a folder not writable, a database down): nothing is sent."""


def database_url(default_path: Path) -> str | Path:
    """Where shared state lives: ``SORA2_DATABASE_URL`` if set, else the SQLite file ``default_path``."""
    return os.environ.get(ENV_DATABASE_URL, "").strip() or default_path


class SafeText(TypeDecorator[str]):
    """Text that any database can store: what a service or a user sends is kept, as nearly as it can be.

    PostgreSQL refuses NUL in text and every driver refuses lone surrogates (which JSON can carry: ``"\\ud800"``);
    an answer holding either must still leave its job in the record, so both are replaced by U+FFFD, on every
    dialect alike (the same value is written and looked up everywhere). A number where text belongs (a request's
    ``seconds`` sent as 8, a status an odd service sends as 1) is kept as its digits: PostgreSQL refuses to put a
    number into a text column, SQLite would keep it as a number.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            return value
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value


class Database:
    """One engine with the store's rules: how to open it, how a writer serializes, how its schema is migrated.

    ``what`` names the contents in messages ("the job record"). ``target`` is a SQLite file (a Path),
    ``":memory:"`` (this process only), or a PostgreSQL URL (any other str, as :func:`database_url` returns it from
    the environment: anything else in it is refused by name).
    """

    def __init__(self, target: str | Path, what: str) -> None:
        self.where = _describe(target, what)
        try:
            self.engine = _engine(target)
            with self.engine.connect():
                pass  # connect now: a store that cannot be opened is said before anything is sent
        except DBAPIError as exc:
            raise StoreUnavailable(
                f"Cannot open {self.where} ({_reason(exc)}). {_advice(target)}"
            ) from None
        except OSError as exc:
            raise StoreUnavailable(f"Cannot open {self.where} ({exc}). {_advice(target)}") from None
        self.dialect = self.engine.dialect.name
        # An in-memory database is one connection shared by every thread of this process: one user at a time.
        self._memory_lock = threading.RLock() if target == MEMORY else None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (on SQLite outside any transaction: each statement sees the latest commit)."""
        with self._guarded(), self.engine.connect().execution_options(single_statements=True) as conn:
            yield conn

    @contextmanager
    def write(self, lock_key: int | None = None) -> Iterator[Connection]:
        """With ``lock_key``: one transaction, committed at the end, that no other writer holding the same key (in
        any process, on any machine) runs beside, so what it reads cannot change before it commits. SQLite has one
        write lock per file, taken at ``BEGIN IMMEDIATE``; PostgreSQL takes the advisory lock ``lock_key`` until the
        transaction ends.

        Without: for single statements, each its own transaction: no BEGIN is sent for them (on SQLite a statement
        commits by itself; PostgreSQL connections run in autocommit), one round trip fewer per statement.
        """
        with self._guarded():
            conn = self.engine.connect()
            if lock_key is None:
                conn = conn.execution_options(single_statements=True)
            elif self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="READ COMMITTED")  # a real transaction, for this one
            else:
                conn = conn.execution_options(write_lock=True)
            with conn, conn.begin():
                if lock_key is not None and self.dialect == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(lock_key)))
                yield conn

    def insert_ignoring(self, table: Table) -> Any:
        """An INSERT that leaves an existing row (same primary key) as it is: add ``.on_conflict_do_nothing()``."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def migrate(self, version_table: Table, migrations: list[Callable[[Connection], None]], lock_key: int) -> None:
        """Run the migrations this database has not run yet, under the writers' lock (many processes may open a new
        store at once). Migrations are numbered by position: append, never edit or reorder."""
        with self.write(lock_key) as conn:
            version_table.create(conn, checkfirst=True)
            current = conn.execute(select(func.max(version_table.c.version))).scalar() or 0
            for number, migration in enumerate(migrations, start=1):
                if number > current:
                    migration(conn)
            if current < len(migrations):
                conn.execute(version_table.delete())
                conn.execute(version_table.insert().values(version=len(migrations)))

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """The memory lock if any; a database gone away (PostgreSQL restarted, a disk full) as a readable error."""
        with self._memory_lock or nullcontext():
            try:
                yield
            except DBAPIError as exc:
                if exc.connection_invalidated or isinstance(exc.orig, _UNAVAILABLE):
                    where = self.where[0].upper() + self.where[1:]
                    raise StoreUnavailable(f"{where} cannot be used right now ({_reason(exc)}).") from None
                raise


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """The drivers' "cannot reach or lock the database" errors (not a mistake in a query)."""
    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg

        errors.append(psycopg.OperationalError)
    except ImportError:
        pass
    return tuple(errors)


_UNAVAILABLE = _unavailable_errors()


def _describe(target: str | Path, what: str) -> str:
    if target == MEMORY:
        return f"{what} in memory"
    if isinstance(target, str):
        try:
            return f"{what} in the database {make_url(target).render_as_string(hide_password=True)}"
        except ArgumentError:
            return f"{what} in the database named by {ENV_DATABASE_URL}"
    return f"{what} at {target}"


def _advice(target: str | Path) -> str:
    if isinstance(target, str) and target != MEMORY:
        return f"Check {ENV_DATABASE_URL}, that the database server runs and that its user may connect."
    return "Set SORA2_DATA_DIR to a folder you can write."


def _reason(exc: DBAPIError) -> str:
    """The driver's own words, first line only (no SQL, no parameters: they may hold a prompt)."""
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else exc.orig.__class__.__name__


# ---------------------------------------------------------------------------------------------- engines
def _engine(target: str | Path) -> Engine:
    if target == MEMORY:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        _sqlite_rules(engine, wal=False)
        return engine
    if isinstance(target, str):
        # Statements commit on their own unless a writer asks for a transaction (``write(lock_key)``): a read then
        # costs one round trip, not BEGIN, the read and a ROLLBACK when the connection goes back to the pool.
        engine = create_engine(_postgres_url(target), isolation_level="AUTOCOMMIT")
        _ping_when_idle(engine)
        return engine
    path = target.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Connected by path, never through a URL: a data folder may be named anything ("AI #1", "what?", "100%").
    engine = create_engine("sqlite://", poolclass=QueuePool, creator=lambda: sqlite3.connect(
        path, timeout=LOCK_WAIT_S, check_same_thread=False))
    _sqlite_rules(engine, wal=True)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use if it has been idle a while; a dead one is replaced, unseen.

    A connection idle for ``PING_IF_IDLE_S`` may have been closed by a server restart, a failover or a firewall;
    one used moments ago almost never has, and pinging every checkout (SQLAlchemy's ``pool_pre_ping``) costs a
    round trip per statement: 0.6 ms of every MCP poll under load on the team benchmark. A connection that dies
    while busy fails that one call readably (``StoreUnavailable``), and the pool is renewed for the next.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_S:
            return
        try:
            dbapi_connection.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - any failure means this connection is no use
            raise DisconnectionError(str(exc)) from None


def _postgres_url(target: str) -> URL:
    try:
        url = make_url(target)
    except ArgumentError:
        url = None
    if url is None or url.get_backend_name() != "postgresql" or url.get_driver_name() not in ("psycopg", "psycopg2"):
        raise ConfigurationError(
            f"{ENV_DATABASE_URL} must be a PostgreSQL URL like postgresql://user:password@host:5432/dbname "
            "(or unset for the SQLite files in the data folder)."
        )
    try:
        import psycopg  # noqa: F401  (only to name the missing extra clearly)
    except ImportError:
        raise ConfigurationError(
            f"{ENV_DATABASE_URL} is set but the PostgreSQL driver is missing: pip install 'sora2-bridge[team]'."
        ) from None
    return url.set(drivername="postgresql+psycopg")


def _sqlite_rules(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions, so a writer can ``BEGIN IMMEDIATE``.

    The sqlite3 module would otherwise start a deferred transaction on its own at the first write; the write lock
    must be taken before anything the decision depends on is read, or two processes could both read the same state.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        if wal:
            _enter_wal(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("write_lock"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("single_statements"):
            conn.exec_driver_sql("BEGIN")


def _enter_wal(dbapi_connection: Any) -> None:
    """Switch the file to write-ahead logging, so readers never block the one writer.

    SQLite answers "database is locked" at once, without its busy handler, when two connections switch a new file to
    WAL at the same moment (two ComfyUI workers, or an MCP server and the CLI, opening a fresh data folder together).
    That is a wait, not a fault: retry until the same deadline as every other statement.
    """
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            waiting = "locked" in str(exc) or "busy" in str(exc)
            if not waiting or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
