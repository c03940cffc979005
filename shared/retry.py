"""When to try again, and how long to wait: one policy shared by every request the client sends.

Retries cover the answers the error table calls transient (``errors.ERROR_TABLE``: by what the service says, not
only by its HTTP status, so a 503 "model_not_found" is not retried) and transport failures, with jittered
exponential backoff capped both in attempts and in total waiting time, and the server's ``Retry-After`` /
``retry-after-ms`` taking precedence (capped at 120 s, as the official SDK does). Whether a *transport* failure may be retried depends on whether the request
could have reached the service: a refused connection is always safe, a read timeout after a create is not (the job
may exist and be billed), which is why :func:`is_ambiguous` exists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

from .errors import APIError

MAX_SERVER_WAIT = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 16.0
    max_total_wait: float = 180.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, MAX_SERVER_WAIT)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return ceiling * (0.5 + self.rng.random() / 2)


NO_RETRY = RetryPolicy(max_attempts=1)


def may_resend(error: APIError, *, idempotent: bool) -> bool:
    """Whether to send the request again after ``error``: only a transient one, and a job-creating request only
    after a 429 (refused before anything was done; any other answer may have come after the job was made)."""
    return error.transient and (idempotent or error.status_code == 429)


def never_sent(exc: httpx.TransportError) -> bool:
    """True when the request cannot have reached the service (so even a create may be resent)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def is_ambiguous(exc: httpx.TransportError) -> bool:
    """True when the service may have acted on the request although we got no answer."""
    return not never_sent(exc)
