"""How often to ask "is it done yet?": adaptive polling that spends few calls and notices completion quickly.

A fixed interval trades one for the other (8 s: few calls, up to 8 s late; 1 s: prompt, hundreds of calls). Here
the interval follows what the job tells us, and falls back to the fixed poll's interval when it tells us nothing,
so that on any progress curve we are never worse than the fixed poll (bench/bench_polling.py measures every curve
of shared/simulator/progress.py, at every length):

- a call budget: we never have made more calls than the fixed poll would have by the same moment, so we cannot
  spend more calls than it without also noticing the end later than it; the calls a queue or a steady rate let us
  save are what we spend on dense polls where the end is uncertain;
- a progress rate we can trust (two rises consistent with each other, with when rendering began and with every
  level seen standing still) predicts the end: wait a fraction of the time left, then aim just past the predicted
  end; a wait longer than the fixed interval never reaches past ``open_end`` %, where services may finish at any
  moment whatever the line says;
- a rate resting on one jump is only allowed to shorten the fixed interval, never to lengthen it;
- once the predicted end has passed (stalled at 99 %, a final step that does not come) we poll at half the fixed
  interval as far as the budget allows, then at the fixed poll's own rate: an end we cannot predict is noticed
  no later than the fixed poll would notice it;
- while queued the wait grows with the time already waited: the whole render is still ahead;
- with no usable progress, the durations of similar jobs in the record place the polls inside the window where
  those jobs finished (a few dense polls there instead of a steady stream before it);
- a server hint (``openai-poll-after-ms``) is a floor: we never ask sooner than the service asked us to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


# Progress points a rate must have promised, without any showing up, before we call the curve stepwise.
PLATEAU_POINTS = 3


@dataclass(frozen=True)
class PollPolicy:
    # The first wait of a fresh job, and the longest wait while a running job gives no signal: a fixed poll's
    # interval (ComfyUI's own Sora node polls every 8 s), which is what we must never be worse than.
    initial_interval: float = 8.0
    min_interval: float = 1.0
    # The longest wait at all: while queued, or far from an end a trusted rate or the history predicts.
    max_interval: float = 30.0
    # Wait this fraction of the estimated time left before asking again.
    eta_fraction: float = 0.7
    backoff: float = 2.0
    # Below this many seconds left, the next poll aims at the predicted end itself.
    close_enough: float = 8.0
    # Durations of at least this many similar jobs before the history places polls.
    min_history: int = 5
    # Progress from which services may finish at any moment (finalizing, or reporting coarsely): a trusted line
    # may not carry a wait longer than the fixed interval past it.
    open_end: int = 90
    # Total wait before giving up (the job keeps running and stays recorded); None waits forever.
    deadline: float | None = 3600.0
    # How long the same status word nobody knows may last before the wait ends (another vendor's model, a new
    # word): polling it until the deadline would only tell us the same thing for an hour. None waits on.
    unknown_status_limit: float | None = 600.0


@dataclass
class PollState:
    """What one job has shown so far, and the interval logic that reads it.

    ``started`` is when the job was created, on the caller's clock (or its ``created_at``, see :meth:`observe`);
    ``history`` holds how long similar jobs took from creation to completion (``JobRecord.durations``).
    """

    policy: PollPolicy = field(default_factory=PollPolicy)
    started: float | None = None
    history: Sequence[float] = ()
    last: tuple[float, int] | None = None
    queued: bool = False
    # The first sample at each new progress level: the evidence a rate rests on.
    rises: list[tuple[float, int]] = field(default_factory=list)
    # The last sample before each rise: the level then stood still, which a line must not contradict.
    before_rises: list[tuple[float, int]] = field(default_factory=list)
    # The last sample still at 0 % before the first rise: rendering began after it.
    zero_until: float | None = None
    # Progress stood still where the rate said it should have moved: it comes in jumps, so no line predicts it.
    plateau: bool = False
    queued_polls: int = 0
    overdue_polls: int = 0
    # Retrieves so far, and when a fixed poll compared with us would have made its first one.
    polls: int = 0
    origin: float | None = None

    def observe(self, t: float, progress: int, status: str | None = None, created_at: float | None = None) -> None:
        """Record one retrieve: its time, ``progress`` and (if known) ``status`` and the job's ``created_at``."""
        if self.origin is None:
            # A job we watched from its creation: a fixed poll would have asked right then. One we meet later
            # (its creation on another clock or unknown): it would have begun when we did.
            self.origin = self.started if self.started is not None else t
        self.polls += 1
        if self.started is None and created_at:
            self.started = float(created_at)
        self.queued = status == "queued"
        self.queued_polls = self.queued_polls + 1 if self.queued else 0
        if progress > (self.last[1] if self.last else 0):
            self.rises.append((t, progress))
            if self.last is not None:
                self.before_rises.append(self.last)
            self.overdue_polls = 0
        elif self.rises and not self.queued and (predicted := self._rate_end()) is not None:
            t1, p1 = self.rises[-1]
            if (t - t1) * (100 - p1) / max(predicted[0] - t1, 1e-9) >= PLATEAU_POINTS:
                self.plateau = True
        elif progress == 0 and not self.rises:
            self.zero_until = t
        self.last = (t, max(progress, self.last[1]) if self.last else progress)

    # -- what the evidence predicts --------------------------------------------------------------------------
    def _rate(self) -> tuple[float, bool] | None:
        """Progress per second over the rises, and whether it is trusted (more than one jump, all consistent)."""
        if len(self.rises) < 2:
            return None
        (t0, p0), (t1, p1) = self.rises[0], self.rises[-1]
        if t1 <= t0:
            return None
        rate = (p1 - p0) / (t1 - t0)
        # A rise is seen up to one poll after it happened; allow that much disagreement and no more.
        tolerance = 0.25 * (t1 - t0) + self.policy.min_interval
        consistent = all(abs(t - (t0 + (p - p0) / rate)) <= tolerance for t, p in self.rises[1:-1])
        # Nor may it claim a level was passed before a sample that still showed it (rendering began before a
        # sample at 0 %, a plateau the line runs through): such a line rests on one jump, not on two rises.
        consistent = consistent and all(t0 + (p - p0) / rate >= t - tolerance for t, p in self.before_rises)
        if self.zero_until is None:
            consistent = consistent and len(self.rises) >= 3
        return rate, consistent

    def _rate_end(self) -> tuple[float, bool] | None:
        """When progress would reach 100 %, counted from when the current level was first seen."""
        if (found := self._rate()) is None:
            if len(self.rises) == 1 and self.zero_until is not None:
                # One jump: a provisional line from the midpoint of the bracket where rendering began.
                (t1, p1), t0 = self.rises[0], self.zero_until
                start = (t0 + t1) / 2
                return t1 + (100 - p1) * (t1 - start) / p1, False
            return None
        rate, trusted = found
        t, p = self.rises[-1]
        return t + (100 - p) / rate, trusted and not self.plateau

    def _window(self) -> tuple[float, float] | None:
        """Where similar jobs finished, on our clock: their durations without the extreme tenth on each side,
        widened by the mean gap between them (the next job lands that far outside the seen range as often)."""
        if self.started is None or len(self.history) < max(2, self.policy.min_history):
            return None
        d = sorted(self.history)
        trim = len(d) // 10
        lo, hi = d[trim], d[-1 - trim]
        margin = max(1.0, (hi - lo) / (len(d) - 1))
        return self.started + lo - margin, self.started + hi + margin

    def eta(self) -> float | None:
        """Estimated seconds from the last sample until completion (the progress rate, else the history)."""
        if self.last is None:
            return None
        if (found := self._rate_end()) is not None:
            return max(0.0, found[0] - self.last[0])
        if (window := self._window()) is not None:
            return max(0.0, (window[0] + window[1]) / 2 - self.last[0])
        return None

    # -- when to ask next ------------------------------------------------------------------------------------
    def _toward(self, end: float, now: float) -> float:
        """Far from ``end``: a fraction of the time left. Close to it: just past it."""
        p, left = self.policy, end - now
        return left * p.eta_fraction if left > p.close_enough else left + p.min_interval / 2

    def _step(self, window: tuple[float, float]) -> float:
        """Three polls across the window, at most half the fixed interval apart (lateness under half of its)."""
        p = self.policy
        return min(max((window[1] - window[0]) / 3, p.min_interval), p.initial_interval / 2)

    def _in_window(self, window: tuple[float, float], now: float) -> float:
        """The next of a few evenly spaced polls across the window (the first one a step inside it)."""
        lo, step = window[0], self._step(window)
        k = max(1, math.floor((now - lo) / step + 1e-9) + 1)
        return lo + k * step - now

    def _overdue(self, first: float) -> float:
        """Past every prediction: dense at first, backing off to the fixed poll's interval, never beyond it."""
        self.overdue_polls += 1
        return first * self.policy.backoff ** min(self.overdue_polls - 1, 12)

    def _budget_floor(self, now: float) -> float:
        """The shortest wait after which our next call is not ahead of a fixed poll's count of calls by then.

        A fixed poll at ``initial_interval`` has made ``k`` calls by ``origin + (k - 1) * interval``; a policy that
        never gets ahead of that count cannot spend more calls on any curve unless it notices the end later. Calls
        saved while the job told us something (a long queue, a steady rate) are what dense polls around an
        uncertain end spend; once they are spent, the floor puts us on the fixed poll's own beat. No prediction is
        exempt: a line heading for 100 % looks the same whether the job ends there or stalls at 99 %.
        """
        if self.origin is None:
            return 0.0
        interval = self.policy.initial_interval
        earliest = self.origin + interval * self.polls
        return min(max(0.0, earliest - now), interval)

    def first_wait(self, now: float) -> float:
        """Seconds to wait before the first look at a job created at ``started`` (a fresh job is queued)."""
        if self.started is None:
            return 0.0
        p = self.policy
        window = self._window()
        if window is not None and now < window[1]:
            return min(self._in_window(window, now), p.max_interval)
        return max(0.0, self.started + p.initial_interval - now)

    def next_interval(self, server_hint: float | None = None) -> float:
        p = self.policy
        now = self.last[0] if self.last else (self.started or 0.0)
        predicted = self._rate_end()
        window = self._window()
        if predicted is not None and predicted[1] and now < predicted[0]:
            # Trusted, but never for longer than the evidence spans: a line seen for 8 s says little of a minute.
            (t0, p0), (t1, p1) = self.rises[0], self.rises[-1]
            # Nor past the progress from which the end may come at any moment.
            open_end = t1 + (p.open_end - p1) * (t1 - t0) / (p1 - p0)
            interval = min(self._toward(predicted[0], now), p.max_interval,
                           max(p.initial_interval, min(t1 - t0, open_end - now)))
            if window is not None and now < window[1]:
                interval = min(interval, self._in_window(window, now))
        elif window is not None and now < window[1]:
            interval = min(self._in_window(window, now), p.max_interval)
        elif predicted is not None and now < predicted[0]:
            # A rate resting on one jump may only make us ask sooner than the fixed poll.
            interval = min(self._toward(predicted[0], now), p.initial_interval)
        elif predicted is not None or window is not None:
            # Past every prediction (stalled at 99 %, a last step that does not come, later than similar jobs): the
            # end may come at any moment, so poll more densely than the fixed poll while the budget has calls left.
            first = p.initial_interval / 4 if window is None else self._step(window)
            interval = min(self._overdue(first), p.initial_interval / 2)
        elif self.queued:
            interval = min(p.initial_interval * p.backoff ** min(self.queued_polls - 1, 12), p.max_interval)
        else:
            interval = p.initial_interval
        interval = max(interval, self._budget_floor(now))
        interval = max(interval, p.min_interval)
        if server_hint is not None:
            interval = max(interval, server_hint)
        return interval
