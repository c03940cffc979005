"""Leases: a named piece of work done by one process at a time, across every process and machine sharing a store.

Two front ends (two ComfyUI workers, two MCP servers, the CLI beside them) must not both pay for the same request,
and several MCP servers must not all download the same finished clip. An in-process lock cannot see the others, and
a lock a crashed process never releases would stop the work for good. A lease is a row: taken by one atomic
conditional upsert (a new key, or one whose lease has lapsed, or one this holder already has), renewed while its
holder works, deleted when it is done, and free again ``ttl`` seconds after its holder died. The same statement
runs on SQLite and PostgreSQL, so one machine and a team behave alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy import Column, Double, MetaData, Table, or_, select

from .engine import Database, SafeText

log = logging.getLogger("sora2_bridge.store")

LEASE_TTL_S = 30.0
"""How long a lease outlives a holder that stopped renewing it (a process killed, a machine gone)."""
WAIT_POLL_S = (0.05, 0.5)
"""A waiter asks again after the first, growing to the second: short waits are common (a create takes seconds)."""

leases = Table(
    "leases", MetaData(),
    Column("key", SafeText, primary_key=True),
    Column("holder", SafeText, nullable=False),
    Column("expires_at", Double, nullable=False),
)


def new_holder() -> str:
    """A name no other holder has: the machine and process (for whoever inspects the table) and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def take(self, key: str, holder: str, ttl: float = LEASE_TTL_S) -> bool:
        """Take (or renew) ``key`` for ``holder`` unless another holder's lease is still running."""
        now = time.time()
        stmt = self.db.insert_ignoring(leases).values(key=key, holder=holder, expires_at=now + ttl)
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.key],
            set_={"holder": holder, "expires_at": now + ttl},
            where=or_(leases.c.expires_at < now, leases.c.holder == holder),
        ).returning(leases.c.key)
        with self.db.write() as conn:
            return conn.execute(stmt).first() is not None

    def keep(self, key: str, holder: str, until: float) -> None:
        """Keep ``key`` held by ``holder`` until the time ``until`` (work done that must not be done again soon)."""
        with self.db.write() as conn:
            conn.execute(leases.update().where(leases.c.key == key, leases.c.holder == holder)
                         .values(expires_at=until))

    def release(self, key: str, holder: str) -> None:
        with self.db.write() as conn:
            conn.execute(leases.delete().where(leases.c.key == key, leases.c.holder == holder))

    def holder(self, key: str) -> str | None:
        """Who holds ``key`` now (None: nobody, or a lease that has lapsed)."""
        with self.db.read() as conn:
            return conn.execute(
                select(leases.c.holder).where(leases.c.key == key, leases.c.expires_at >= time.time())
            ).scalar()

    @asynccontextmanager
    async def hold(self, key: str, *, ttl: float = LEASE_TTL_S) -> AsyncIterator[str]:
        """Wait until ``key`` is free, hold it (renewed every ``ttl / 3`` seconds) while the block runs, then free it.

        Yields the holder's name. If this process dies, the lease lapses after ``ttl`` and the next waiter goes on.
        """
        me = new_holder()
        pause = WAIT_POLL_S[0]
        while not self.take(key, me, ttl):
            await asyncio.sleep(pause)
            pause = min(pause * 2, WAIT_POLL_S[1])
        renewing = asyncio.ensure_future(self._renew(key, me, ttl))
        try:
            yield me
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing
            try:
                self.release(key, me)
            except Exception as exc:  # noqa: BLE001 - the work is done; an unreleased lease lapses after ttl
                log.warning("lease %s not released (it lapses in %.0f s): %s", key, ttl, exc)

    async def _renew(self, key: str, me: str, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not self.take(key, me, ttl):
                    log.warning("lease %s lapsed and was taken by another process", key)
                    return
            except Exception as exc:  # noqa: BLE001 - a failed renewal must not end the work it protects
                log.warning("lease %s not renewed: %s", key, exc)
