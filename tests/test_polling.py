"""The adaptive interval: sparse while far from done, dense near the end, never sooner than the server asks."""

from sora2_bridge.shared.polling import PollPolicy, PollState


def simulate(job_seconds: float, queued: float = 2.0, policy: PollPolicy | None = None) -> tuple[int, float]:
    """Poll a job whose progress rises linearly after a queue phase; return (calls, detection delay)."""
    state = PollState(policy or PollPolicy())
    t, calls = 0.0, 0
    while True:
        calls += 1
        progress = 0 if t < queued else min(100, int(100 * (t - queued) / job_seconds))
        done = t >= queued + job_seconds
        state.observe(t, progress)
        if done:
            return calls, t - (queued + job_seconds)
        t += state.next_interval()


def fixed(job_seconds: float, interval: float, queued: float = 2.0) -> tuple[int, float]:
    t, calls = 0.0, 0
    while True:
        calls += 1
        if t >= queued + job_seconds:
            return calls, t - (queued + job_seconds)
        t += interval


QUEUE_TIMES = (1, 2, 3, 5, 8, 13)


def mean(xs):
    return sum(xs) / len(xs)


def test_fewer_calls_than_fixed_one_second_and_than_eight_seconds_with_less_delay():
    for length in (30, 120, 300):
        ours = [simulate(length, q) for q in QUEUE_TIMES]
        one = [fixed(length, 1.0, q) for q in QUEUE_TIMES]
        eight = [fixed(length, 8.0, q) for q in QUEUE_TIMES]
        calls, delay = mean([c for c, _ in ours]), mean([d for _, d in ours])
        assert calls < mean([c for c, _ in one]) / 5, (length, calls)
        assert calls < mean([c for c, _ in eight]), (length, calls)
        assert delay < mean([d for _, d in eight]) / 2, (length, delay)
        assert max(d for _, d in ours) < 4.0  # worse case still within the 8 s poll's average


def test_server_hint_is_a_floor():
    state = PollState(PollPolicy())
    state.observe(0, 0)
    assert state.next_interval(server_hint=12.5) == 12.5
    assert state.next_interval(server_hint=0.5) == 8.0  # a hint below our own interval changes nothing


def test_backs_off_while_queued_and_when_overdue():
    state = PollState(PollPolicy(initial_interval=2, max_interval=20))
    intervals = []
    for t in range(4):
        state.observe(t * 10, 0)
        intervals.append(state.next_interval())
    assert intervals == sorted(intervals) and intervals[-1] > intervals[0]
    stuck = PollState(PollPolicy(min_interval=1, max_interval=20))
    stuck.observe(0, 10)
    stuck.observe(10, 100)  # at 100 % but not yet "completed": past the estimated end
    first = stuck.next_interval()
    assert first == 1
    assert stuck.next_interval() > first
