"""How often to ask "is it done yet?": adaptive polling that spends few calls and notices completion quickly.

A fixed interval trades one for the other (8 s: few calls, up to 8 s late; 1 s: prompt, hundreds of calls).
Here the interval follows the job's own progress: from the rate at which ``progress`` rises we estimate the time
left and wait a fraction of it, so polls are sparse early and dense near the end; when progress gives no signal
(queued, or stalled at 99 %) the interval backs off geometrically. A server hint (``openai-poll-after-ms``) is a
floor: we never ask sooner than the service asked us to.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PollPolicy:
    # Defaults tuned with tests/test_polling.py's model of a linear job (bench/bench_polling.py measures them).
    initial_interval: float = 8.0
    min_interval: float = 1.0
    max_interval: float = 30.0
    # Wait this fraction of the estimated time left before asking again.
    eta_fraction: float = 0.7
    backoff: float = 2.0
    # Below this many seconds left, the next poll aims at the predicted end itself.
    close_enough: float = 8.0
    # Total wait before giving up (the job keeps running and stays recorded); None waits forever.
    deadline: float | None = 3600.0


@dataclass
class PollState:
    """Progress samples of one job, and the interval logic that reads them."""

    policy: PollPolicy = field(default_factory=PollPolicy)
    first: tuple[float, int] | None = None
    last: tuple[float, int] | None = None
    no_signal_streak: int = 0
    overdue_streak: int = 0
    provisional: bool = False

    def observe(self, t: float, progress: int) -> None:
        if progress > 0 and self.first is None:
            if self.last is not None and self.last[1] == 0:
                # Rendering began between the last zero sample and now: assume midway, so the very first
                # non-zero sample already yields a rate (the next samples replace this guess).
                self.first = ((self.last[0] + t) / 2, 0)
                self.provisional = True
            else:
                self.first = (t, progress)
        elif self.provisional and self.last is not None and progress > self.last[1]:
            self.first, self.provisional = self.last, False
        if self.last is not None and progress <= self.last[1]:
            self.no_signal_streak += 1
        else:
            self.no_signal_streak = 0
        self.last = (t, progress)

    def eta(self) -> float | None:
        """Estimated seconds until 100 %, from the progress rate since the first non-zero sample."""
        if self.first is None or self.last is None:
            return None
        (t0, p0), (t1, p1) = self.first, self.last
        if t1 <= t0 or p1 <= p0:
            return None
        rate = (p1 - p0) / (t1 - t0)
        return max(0.0, (100 - p1) / rate)

    def next_interval(self, server_hint: float | None = None) -> float:
        p = self.policy
        eta = self.eta()
        if eta is None:
            # No rate yet (queued, or a single sample): back off while nothing moves.
            interval = p.initial_interval * (p.backoff ** min(self.no_signal_streak, 12))
        elif eta > 0:
            # Far from the end: wait a fraction of the time left. Close to it: aim just past the predicted end.
            interval = eta * p.eta_fraction if eta > p.close_enough else eta + p.min_interval / 2
            if self.provisional:
                # The rate rests on a guessed start: never trust it for more than the uncertainty it came from.
                interval = min(interval, 3 * (self.last[0] - self.first[0])) if self.last and self.first else interval
        else:
            # Past the estimated end (e.g. stuck at 99 %): start dense, back off if it drags on.
            self.overdue_streak += 1
            interval = p.min_interval * (p.backoff ** min(self.overdue_streak - 1, 12))
        interval = min(max(interval, p.min_interval), p.max_interval)
        if server_hint is not None:
            interval = max(interval, server_hint)
        return interval
