"""The spending ledger's storage, the same tests on SQLite and on a real PostgreSQL (tests/mcp/conftest.py starts it).

The proof that matters is the last one: many processes reserving at once against one database never spend a
cent past the team budget, and exactly as many reservations succeed as the budget holds.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from sora2_bridge.mcp_server import ledger_store
from sora2_bridge.mcp_server.callers import Caller, acting_as
from sora2_bridge.mcp_server.ledger_store import (
    MIGRATIONS,
    STALE_RESERVATION_SECONDS,
    Ledger,
    Limit,
    Scope,
    schema_version,
    spend,
)
from sora2_bridge.shared.errors import ConfigurationError
from sora2_bridge.shared.store import ENV_DATABASE_URL, database_url

ROW: dict[str, object] = {"server_id": "s1", "provider": "cometapi", "base_url": "https://x/v1", "kind": "create"}
REAL = Scope(simulated=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a ledger lives: a SQLite file, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "spend.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(target: Path | str) -> Iterator[Ledger]:
    opened = Ledger(target)
    yield opened
    opened.close()


def _version(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(schema_version.c.version)).scalar_one()


def test_reserve_settle_release(ledger: Ledger):
    rid, remaining = ledger.reserve(0.4, 1.0, REAL, ROW)
    assert rid is not None and remaining == pytest.approx(1.0)
    assert ledger.spent(REAL) == pytest.approx(0.4)
    ledger.settle(rid, "video_1")
    assert ledger.spent(REAL) == pytest.approx(0.4)
    assert ledger.video_ids("cometapi", "https://x/v1", 0) == ["video_1"]
    assert ledger.reserve(0.7, 1.0, REAL, ROW) == (None, pytest.approx(0.6))  # refused: 0.6 left
    ledger.release(rid)  # a settled row is spending: releasing it changes nothing
    assert ledger.spent(REAL) == pytest.approx(0.4)
    held, _ = ledger.reserve(0.6, 1.0, REAL, ROW)  # exactly what is left fits
    assert held is not None and ledger.spent(REAL) == pytest.approx(1.0)
    ledger.release(held)
    assert ledger.spent(REAL) == pytest.approx(0.4)


def test_team_budget_and_each_callers_daily_budget(ledger: Ledger):
    today = time.time() - 60

    def reserve(usd: float, caller: Caller | None) -> tuple[int | None, int, float]:
        limits = [Limit(1.0, REAL)]
        if caller is not None:
            limits.append(Limit(caller.daily_usd, Scope(simulated=False, caller=caller.name, since=today)))
        with acting_as(caller):
            return ledger.reserve_within(usd, limits, ROW)

    alice, bob = Caller("alice", daily_usd=0.5), Caller("bob", daily_usd=0.8)
    assert reserve(0.3, alice)[0] is not None
    assert reserve(0.3, alice)[1:] == (1, pytest.approx(0.2))  # alice's own budget, not the team's
    assert reserve(0.6, bob)[0] is not None
    assert reserve(0.2, alice)[1:] == (0, pytest.approx(0.1))  # alice has 0.2 of her own, the team only 0.1
    assert reserve(0.1, None)[0] is not None  # the owner fills the team budget to the cent
    assert reserve(0.01, None)[1:] == (0, pytest.approx(0.0))
    assert ledger.spent(Scope(caller="alice")) == pytest.approx(0.3)
    assert ledger.spent(Scope(caller="bob")) == pytest.approx(0.6)


def test_scopes_and_stale_reservations(ledger: Ledger, monkeypatch: pytest.MonkeyPatch):
    simulated_row = {**ROW, "provider": "local", "server_id": "s2"}
    ledger.settle(ledger.reserve(0.5, 1.0, REAL, ROW)[0], "video_1")  # type: ignore[arg-type]
    ledger.reserve(0.25, 1.0, Scope(simulated=True), simulated_row)  # held, never settled
    assert ledger.spent(REAL) == pytest.approx(0.5)
    assert ledger.spent(Scope(simulated=True)) == pytest.approx(0.25)
    assert ledger.spent(Scope(server_id="s2")) == pytest.approx(0.25)
    assert ledger.spent(Scope(since=time.time() + 60)) == 0
    later = time.time() + STALE_RESERVATION_SECONDS + 1
    monkeypatch.setattr(ledger_store.time, "time", lambda: later)
    assert ledger.spent(Scope()) == pytest.approx(0.5)  # a reservation nobody settled stops counting


def test_owned_by_and_unfollow(ledger: Ledger):
    with acting_as(Caller("alice")):
        rid, _ = ledger.reserve(0.1, 1.0, REAL, ROW)
    ledger.settle(rid, "video_a")  # type: ignore[arg-type]
    assert ledger.owned_by("video_a", "alice") and not ledger.owned_by("video_a", "bob")
    assert not ledger.follows("video_a", "cometapi", "https://x/v1", time.time() + 60)  # outside the window
    assert ledger.follows("video_a", "cometapi", "https://x/v1", 0)
    assert not ledger.follows("video_a", "cometapi", "https://elsewhere/v1", 0)
    ledger.unfollow("video_a")
    ledger.unfollow("video_a")  # twice is the same as once
    assert ledger.video_ids("cometapi", "https://x/v1", 0) == []
    assert not ledger.follows("video_a", "cometapi", "https://x/v1", 0)


def test_a_followed_job_is_not_asked_again_until_unfollowed(ledger: Ledger, tmp_path: Path):
    """Every poll of a finished, unsaved job asks whether the collector follows it: a yes is believed a while."""
    rid, _ = ledger.reserve(0.1, 1.0, REAL, ROW)
    ledger.settle(rid, "video_f")  # type: ignore[arg-type]
    asked: list[str] = []
    event.listen(ledger.engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: asked.append(statement))
    assert all(ledger.follows("video_f", "cometapi", "https://x/v1", 0) for _ in range(5))
    assert len([q for q in asked if "unfollowed" in q]) == 1
    ledger.unfollow("video_f")  # this server stopped it: known at once
    assert not ledger.follows("video_f", "cometapi", "https://x/v1", 0)


def test_a_known_owner_is_not_asked_again_but_a_stranger_is(ledger: Ledger):
    """Every poll of a job checks its owner: a yes never changes (spent rows stay), so it is asked once."""
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(ledger.engine, "before_cursor_execute",
                 lambda *a: statements.append(a[2]) if a[2].lstrip().upper().startswith("SELECT") else None)
    with acting_as(Caller("alice")):
        rid, _ = ledger.reserve(0.1, 1.0, REAL, ROW)
    ledger.settle(rid, "video_a")  # type: ignore[arg-type]
    statements.clear()
    assert all(ledger.owned_by("video_a", "alice") for _ in range(5))
    assert len(statements) == 1
    assert not ledger.owned_by("video_a", "bob") and not ledger.owned_by("video_a", "bob")
    assert len(statements) == 3


def test_reopening_keeps_rows_and_version(target: Path | str):
    first = Ledger(target)
    first.reserve(0.2, 1.0, REAL, ROW)
    first.close()
    again = Ledger(target)
    assert again.spent(REAL) == pytest.approx(0.2) and _version(again) == len(MIGRATIONS)
    again.close()


OLD_SPEND = """CREATE TABLE spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, usd REAL NOT NULL, state TEXT NOT NULL,
    server_id TEXT NOT NULL, provider TEXT NOT NULL, base_url TEXT NOT NULL, kind TEXT NOT NULL, video_id TEXT{caller}
);
CREATE INDEX spend_created ON spend(created_at);
CREATE TABLE unfollowed (video_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""


@pytest.mark.parametrize("caller_column", ["", ",\n    caller TEXT"], ids=["before-callers", "with-callers"])
def test_an_unversioned_sqlite_ledger_is_migrated_in_place(tmp_path: Path, caller_column: str):
    path = tmp_path / "mcp-spend.sqlite3"
    with sqlite3.connect(path) as old:  # a ledger file as earlier versions of the server wrote it
        old.executescript(OLD_SPEND.format(caller=caller_column))
        old.execute("INSERT INTO spend (created_at, usd, state, server_id, provider, base_url, kind, video_id)"
                    " VALUES (?, 0.75, 'spent', 'old', 'cometapi', 'https://x/v1', 'create', 'video_old')",
                    (time.time(),))
    old.close()
    ledger = Ledger(path)
    assert _version(ledger) == len(MIGRATIONS)
    assert ledger.spent(REAL) == pytest.approx(0.75)  # what was spent before still counts
    with acting_as(Caller("alice")):
        rid, remaining = ledger.reserve(0.25, 1.0, REAL, ROW)
    assert rid is not None and remaining == pytest.approx(0.25)
    ledger.settle(rid, "video_new")
    assert ledger.owned_by("video_new", "alice") and not ledger.owned_by("video_old", "alice")
    ledger.close()
    with sqlite3.connect(path) as check:
        indexes = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    check.close()
    assert {"spend_created", "spend_video"} <= indexes


def test_database_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    assert database_url(tmp_path / "a.sqlite3") == tmp_path / "a.sqlite3"
    monkeypatch.setenv(ENV_DATABASE_URL, "postgresql://u:p@db.example/sora")
    assert database_url(tmp_path / "a.sqlite3") == "postgresql://u:p@db.example/sora"


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "not a url", "sqlite:///x.db"])
def test_a_url_that_is_not_postgresql_is_refused_by_name(url: str):
    with pytest.raises(ConfigurationError, match=ENV_DATABASE_URL) as caught:
        Ledger(url)
    assert "secret" not in str(caught.value)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.lists(st.integers(min_value=1, max_value=300), max_size=12), budget=st.integers(0, 1000))
def test_reservations_in_turn_take_exactly_what_fits(ledger: Ledger, prices: list[int], budget: int):
    """Prices and budget in cents: each reservation succeeds if and only if it fits what is left."""
    with ledger.engine.begin() as conn:
        conn.execute(spend.delete())
    left = budget
    for cents in prices:
        rid, _ = ledger.reserve(cents / 100, budget / 100, REAL, ROW)
        assert (rid is not None) == (cents <= left)
        left -= cents if rid is not None else 0
    assert round(Decimal(str(ledger.spent(REAL))) * 100) == budget - left


# ---------------------------------------------------------------------------------------------- concurrency
PROCESSES, EACH, PRICE, BUDGET = 8, 5, 0.35, 5.00  # 40 attempts, room for 14


def _reserve_all_at_once(target: Path | str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One server process: open the ledger (migrating it, perhaps beside others), wait for all, then reserve."""
    ledger = Ledger(target)
    barrier.wait(timeout=60)
    won = [ledger.reserve(PRICE, BUDGET, REAL, ROW)[0] for _ in range(EACH)]
    ledger.close()
    results.put(sum(rid is not None for rid in won))


def test_many_processes_never_spend_past_the_team_budget(target: Path | str):
    context = multiprocessing.get_context("fork")  # the children only need the target, not this test's state
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [context.Process(target=_reserve_all_at_once, args=(target, barrier, results))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    won = sum(results.get(timeout=5) for _ in workers)
    ledger = Ledger(target)
    with ledger.engine.connect() as conn:
        rows, total = conn.execute(select(func.count(), func.sum(spend.c.usd))).one()
    ledger.close()
    fits = int(Decimal(str(BUDGET)) // Decimal(str(PRICE)))
    assert won == rows == fits == 14
    assert round(Decimal(str(total)) * 100) == fits * 35 <= round(Decimal(str(BUDGET)) * 100)
