"""Progress profiles: how a simulated job reports ``status`` and ``progress`` between creation and completion.

Real services do not report a straight line: jobs wait in a queue at 0 %, move in steps and jumps, stall at 99 %
while the file is finalized, or report nothing until done. A poll policy tuned on a line alone can be worse than a
fixed poll on those curves, so the simulator serves each of them, and the polling benchmark and tests replay the
very same functions on a virtual clock: what is measured is what the simulator serves.

Each profile is a pure function of ``(elapsed, queue_s, render_s, seed)`` for ``0 <= elapsed < queue_s +
render_s`` (the job completes at ``queue_s + render_s`` whatever the profile; only the reported curve differs)
and returns ``(status, progress)`` with status ``queued`` or ``in_progress`` and progress 0-99. The seed varies
the shape (where the steps fall, how long the stall lasts) reproducibly.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from functools import lru_cache

Profile = Callable[[float, float, float, int], tuple[str, int]]

DEFAULT_PROFILE = "linear"


def _line(elapsed: float, start: float, end: float, top: int = 99) -> tuple[str, int]:
    """Queued until ``start``, then a straight line that would reach 100 % at ``end`` (shown at most ``top``)."""
    if elapsed < start:
        return "queued", 0
    span = end - start
    return "in_progress", min(top, int(100 * (elapsed - start) / span)) if span > 0 else top


def _rng(name: str, seed: int) -> random.Random:
    return random.Random(f"{name}:{seed}")  # str seeds are hashed stably across runs and platforms


def linear(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """The simulator's historical curve: queued, then 0 to 99 % in a straight line."""
    return _line(elapsed, queue_s, queue_s + render_s)


def queued(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """A long queue: queued for 50-75 % of the job's time, then a straight line."""
    total = queue_s + render_s
    share = _rng("queued", seed).uniform(0.5, 0.75)
    return _line(elapsed, max(queue_s, share * total), total)


@lru_cache(maxsize=4096)
def _step_times(seed: int) -> tuple[int, tuple[float, ...]]:
    """3-5 equal steps; each lands near its even share of the render (seeded jitter of a third of a step)."""
    rng = _rng("steps", seed)
    count = rng.randint(3, 5)
    return count, tuple((i + rng.uniform(-1 / 3, 1 / 3)) / count for i in range(1, count))


def steps(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """Progress in equal steps (3-5 of them): 0, 25, 50, 75, then completed, for four."""
    if elapsed < queue_s:
        return "queued", 0
    count, times = _step_times(seed)
    done = bisect.bisect_right(times, (elapsed - queue_s) / render_s)
    return "in_progress", min(99, 100 * done // count)


def stall(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """A straight line to 99 %, then stuck there for 15-45 % of the job's time while the file is finalized."""
    total = queue_s + render_s
    stall_s = _rng("stall", seed).uniform(0.15, 0.45) * total
    at_99 = max(queue_s + 0.2 * render_s, total - stall_s)
    return _line(elapsed, queue_s, queue_s + (at_99 - queue_s) * 100 / 99)


def silent(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """No progress reported at all: queued, then in progress at 0 % until completed."""
    return ("queued" if elapsed < queue_s else "in_progress"), 0


@lru_cache(maxsize=4096)
def _knots(seed: int) -> tuple[tuple[float, ...], tuple[int, ...], tuple[bool, ...]]:
    """Irregular knots (render fraction, progress) and, per segment, whether it creeps (else plateau + jump)."""
    rng = _rng("jumpy", seed)
    n = rng.randint(3, 7)
    xs = sorted(rng.uniform(0.05, 0.95) for _ in range(n))
    weights = [rng.expovariate(1.0) for _ in range(n)]
    top = rng.uniform(70, 99)
    ps, acc = [], 0.0
    for w in weights:
        acc += w
        ps.append(int(top * acc / sum(weights)))
    return (0.0, *xs), (0, *ps), tuple(rng.random() < 0.3 for _ in range(n))


def jumpy(elapsed: float, queue_s: float, render_s: float, seed: int) -> tuple[str, int]:
    """Irregular jumps and plateaus, some segments creeping; completion comes from wherever it stands (70-99 %)."""
    if elapsed < queue_s:
        return "queued", 0
    xs, ps, creeps = _knots(seed)
    x = (elapsed - queue_s) / render_s
    i = bisect.bisect_right(xs, x) - 1
    if i + 1 < len(xs) and creeps[i]:
        return "in_progress", int(ps[i] + (ps[i + 1] - ps[i]) * (x - xs[i]) / (xs[i + 1] - xs[i]))
    return "in_progress", ps[i]


PROFILES: dict[str, Profile] = {
    "linear": linear,
    "queued": queued,
    "steps": steps,
    "stall": stall,
    "silent": silent,
    "jumpy": jumpy,
}


def check_profile(name: str) -> str:
    """The profile name, or a ValueError that lists the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"Unknown progress profile {name!r}; use one of: {', '.join(PROFILES)}.")
    return name
