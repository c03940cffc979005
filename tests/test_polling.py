"""The adaptive interval against a fixed 8 s poll, on every progress curve the simulator serves, on a virtual clock.

Each run replays the simulator's own profile functions (shared/simulator/progress.py) with the simulator's phase
durations, and waits the way ``AsyncSoraClient.poll`` does (``first_wait``, then ``next_interval``). Lengths are
spread evenly over one 8 s window around 30, 120 and 300 s so where a job ends inside a fixed poll's interval is
averaged out rather than lucky; the runs are the benchmark's (bench/bench_polling.py), so its table is what these
bounds hold on.
"""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2_bridge.shared.polling import PollPolicy, PollState
from sora2_bridge.shared.simulator import SimulatorConfig
from sora2_bridge.shared.simulator.progress import PROFILES

LENGTHS = (30.0, 120.0, 300.0)
RUNS = 48  # per length, as in the benchmark


def phases(length: float) -> tuple[float, float]:
    """(queued, rendering) of a 4 s clip the simulator finishes in ``length`` seconds."""
    return SimulatorConfig(speed=3.0 / length).phase_durations("720x1280", 4)


def lengths(nominal: float) -> list[float]:
    return [nominal - 4 + 8 * (i + 0.5) / RUNS for i in range(RUNS)]


def replay(profile: str, length: float, seed: int, *, fixed: float | None = None,
           history: tuple[float, ...] = ()) -> tuple[list[float], float]:
    """Poll one job created at t=0; return (poll times, seconds between completion and the poll that saw it)."""
    queue_s, render_s = phases(length)
    curve = PROFILES[profile]
    state = PollState(PollPolicy(), started=0.0, history=history)
    t = state.first_wait(0.0) if fixed is None else 0.0
    polls = []
    while True:
        polls.append(t)
        if t >= length:
            return polls, t - length
        status, progress = curve(t, queue_s, render_s, seed)
        state.observe(t, progress, status)
        t += fixed if fixed is not None else state.next_interval()


def similar(nominal: float, seed: int) -> tuple[float, ...]:
    """Eight earlier jobs of the same kind: lengths from the same window as the job itself."""
    window = lengths(nominal)
    return tuple(window[(seed * 7 + k * 5 + 1) % RUNS] for k in range(8))


def measure(profile: str, nominal: float, **kw) -> tuple[float, float]:
    """(mean calls, mean lateness) over every run around one length."""
    runs = []
    for seed, length in enumerate(lengths(nominal)):
        extra = {"history": similar(nominal, seed)} if kw.get("history") else {}
        polls, late = replay(profile, length, seed, fixed=kw.get("fixed"), **extra)
        runs.append((len(polls), late))
    return statistics.mean(c for c, _ in runs), statistics.mean(d for _, d in runs)


@pytest.mark.parametrize("nominal", LENGTHS)
@pytest.mark.parametrize("profile", list(PROFILES))
def test_never_worse_than_a_fixed_eight_second_poll(profile: str, nominal: float) -> None:
    calls, late = measure(profile, nominal)
    fixed_calls, fixed_late = measure(profile, nominal, fixed=8.0)
    assert calls <= fixed_calls, (profile, nominal, calls, fixed_calls)
    assert late <= 1.1 * fixed_late, (profile, nominal, late, fixed_late)


@pytest.mark.parametrize("nominal", [120.0, 300.0])  # long enough to have a rate to read
@pytest.mark.parametrize("profile", ["linear", "queued"])
def test_progress_that_carries_information_is_used(profile: str, nominal: float) -> None:
    calls, late = measure(profile, nominal)
    fixed_calls, fixed_late = measure(profile, nominal, fixed=8.0)
    assert calls <= 0.6 * fixed_calls, (profile, nominal, calls, fixed_calls)
    assert late <= 0.5 * fixed_late, (profile, nominal, late, fixed_late)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(list(PROFILES)), st.floats(5, 400), st.integers(0, 10_000), st.booleans())
def test_never_ahead_of_the_fixed_polls_count_of_calls(profile: str, length: float, seed: int, history: bool) -> None:
    # The call budget, on any curve and length: our k-th call never comes before the fixed poll's k-th, so we can
    # only have made more calls than it in a run where we also noticed the end later than it did.
    polls, late = replay(profile, length, seed, history=similar(length, seed) if history else ())
    fixed_polls, fixed_late = replay(profile, length, seed, fixed=8.0)
    assert all(t >= 8.0 * k - 1e-9 for k, t in enumerate(polls)), polls
    assert len(polls) <= len(fixed_polls) or late > fixed_late, (polls, fixed_polls)


@pytest.mark.parametrize("nominal", LENGTHS)
def test_history_of_similar_jobs_halves_calls_and_lateness_on_a_silent_job(nominal: float) -> None:
    calls, late = measure("silent", nominal, history=True)
    fixed_calls, fixed_late = measure("silent", nominal, fixed=8.0)
    assert calls <= 0.5 * fixed_calls, (nominal, calls, fixed_calls)
    assert late <= 0.5 * fixed_late, (nominal, late, fixed_late)


def test_history_moves_the_polls_toward_the_expected_end() -> None:
    without, _ = replay("silent", 120.0, 0)
    with_history, late = replay("silent", 120.0, 0, history=(116, 118, 119, 121, 122, 124))
    before = [t for t in with_history if t < 110]
    near = [t for t in with_history if 110 <= t <= 130]
    # Without history: a steady 8 s stream from the start. With it: sparse until the window, dense inside it.
    assert len(with_history) < len(without) / 2
    assert with_history[0] > without[0] and len(before) <= 120 / 30
    assert len(near) >= 2 and near[-1] == with_history[-1] and late <= 4.0
    assert all(b - a <= 4.0 for a, b in zip(near, near[1:]))
    # Fewer than five similar jobs say too little: the policy falls back to the fixed-interval rule.
    assert replay("silent", 120.0, 0, history=(116, 118, 119, 121))[0] == without


def test_a_stall_at_99_does_not_produce_a_poll_every_second() -> None:
    length = 300.0
    polls, late = replay("stall", length, seed=3)
    queue_s, render_s = phases(length)
    stalled = [t for t in polls if t < length and PROFILES["stall"](t, queue_s, render_s, 3)[1] == 99]
    gaps = [b - a for a, b in zip(stalled, stalled[1:])]
    assert len(stalled) >= 4, stalled  # the stall is long: it must be observed for a while
    assert sum(g <= 1.5 for g in gaps) <= 1, gaps
    # Backed off from dense polls to half the fixed interval (the calls the steady rate saved pay for it).
    assert statistics.median(gaps) >= 4.0 and max(gaps) <= 8.0 and late <= 8.0, gaps


def test_silence_never_waits_longer_than_the_fixed_poll() -> None:
    state = PollState(PollPolicy())
    for t in range(0, 400, 8):
        state.observe(t, 0, "in_progress")
        assert state.next_interval() == 8.0


def test_queued_jobs_back_off_up_to_the_ceiling() -> None:
    state = PollState(PollPolicy(initial_interval=2, max_interval=20))
    intervals = []
    for t in range(6):
        state.observe(t * 10, 0, "queued")
        intervals.append(state.next_interval())
    assert intervals == sorted(intervals) and intervals[0] == 2 and intervals[-1] == 20


def test_one_jump_never_lengthens_the_fixed_interval() -> None:
    state = PollState(PollPolicy())
    state.observe(0, 0, "in_progress")
    state.observe(8, 25, "in_progress")  # one jump: its "rate" predicts the end 24 s away
    assert state.next_interval() <= 8.0


def test_a_line_through_a_plateau_rests_on_one_jump() -> None:
    # Rendering began by 62 s (1 %), stood at 1 % until 102 s, then jumped to 56 %: the line through the two rises
    # runs through that plateau, so it may not stretch the wait (the job can end anywhere from here).
    state = PollState(PollPolicy(), started=0.0)
    for t, progress in [(8, 0), (16, 0), (32, 0), (62, 1), (70, 1), (86, 1), (102, 1), (110, 56)]:
        state.observe(t, progress, "in_progress")
    assert state.next_interval() <= 8.0


def test_a_steady_line_stretches_waits_only_before_the_open_end() -> None:
    state = PollState(PollPolicy(), started=0.0)
    for t in range(8, 72, 8):  # a steady 1 % a second from 0 s: far from the end, waits grow past the fixed one
        state.observe(t, t, "in_progress")
    assert state.next_interval() > 8.0
    state.observe(88, 88, "in_progress")  # nearly at 90 %, from where services may finish at any moment
    assert state.next_interval() <= 8.0


def test_server_hint_is_a_floor() -> None:
    state = PollState(PollPolicy())
    state.observe(0, 0)
    assert state.next_interval(server_hint=12.5) == 12.5
    assert state.next_interval(server_hint=0.5) == 8.0  # a hint below our own interval changes nothing


samples = st.lists(st.tuples(st.floats(0.1, 60), st.integers(0, 30), st.sampled_from(["queued", "in_progress"])),
                   min_size=1, max_size=25)


@settings(max_examples=80, deadline=None)
@given(samples, st.none() | st.floats(0, 90), st.lists(st.floats(5, 600), max_size=12))
def test_any_curve_keeps_the_interval_within_bounds_and_above_the_hint(steps, hint, history) -> None:
    policy = PollPolicy()
    state = PollState(policy, started=0.0, history=history)
    t, progress = 0.0, 0
    for dt, rise, status in steps:
        t, progress = t + dt, min(99, progress + rise)
        state.observe(t, progress, status)
        interval = state.next_interval(hint)
        assert policy.min_interval <= interval <= max(policy.max_interval, hint or 0)
        if hint is not None:
            assert interval >= hint
