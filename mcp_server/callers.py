"""Who is calling: the identity a bearer token stands for, and the limits that come with it.

A tool call over authenticated HTTP runs "as" a :class:`Caller`; stdio and unauthenticated HTTP run as nobody
(``None``), which means "the owner of this machine": every job is visible and only the server's own limits apply.
The caller rides in a context variable rather than in every function's arguments because the spending guard and
the job plumbing sit several calls below the tools, and background work started by a call (a storyboard's shots)
must keep spending as the caller who started it: tasks inherit context variables when they are created.
Whatever stores spending and jobs (the SQLite ledger today, a shared database later) records ``Caller.name``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

UNLIMITED = float("inf")


@dataclass(frozen=True)
class Caller:
    """A named caller (a token's name) with its own per-call limit and daily budget in USD (inf: none of its own)."""

    name: str
    per_call_usd: float = UNLIMITED
    daily_usd: float = UNLIMITED

    @property
    def label(self) -> str:
        return f"token {self.name!r}"


_CALLER: ContextVar[Caller | None] = ContextVar("sora2_mcp_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the request being handled, or None (stdio, unauthenticated HTTP, the background collector)."""
    return _CALLER.get()


@contextlib.contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """Run the enclosed code (and the tasks it starts) as ``caller``."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)
