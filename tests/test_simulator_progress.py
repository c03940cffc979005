"""Progress profiles: the curves themselves, the simulator serving them (per server and per job), and the client's
poll reading a job's history from the record, all on a virtual clock."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2_bridge.shared import AsyncSoraClient, JobRecord, PollPolicy, resolve_config
from sora2_bridge.shared.simulator import SimulatorConfig, create_app
from sora2_bridge.shared.simulator.progress import PROFILES

QUEUE_S, RENDER_S = 10.0, 50.0
T0 = 1_760_000_000.0


def curve(profile: str, seed: int, step: float = 0.25) -> list[tuple[str, int]]:
    n = int((QUEUE_S + RENDER_S) / step)
    return [PROFILES[profile](i * step, QUEUE_S, RENDER_S, seed) for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(PROFILES)), st.integers(0, 10**6))
def test_every_profile_is_a_reproducible_monotone_curve_below_100(profile: str, seed: int) -> None:
    points = curve(profile, seed)
    assert points == curve(profile, seed)  # a seed is a reproducible run
    progress = [p for _, p in points]
    assert progress == sorted(progress) and 0 <= progress[0] and progress[-1] <= 99
    statuses = [s for s, _ in points]
    assert statuses[0] == "queued" and set(statuses) <= {"queued", "in_progress"}
    assert statuses == sorted(statuses, key=["queued", "in_progress"].index)  # never back to the queue


def test_each_profile_has_its_shape() -> None:
    def levels(profile: str, seed: int = 1) -> set[int]:
        return {p for s, p in curve(profile, seed) if s == "in_progress"}

    assert levels("silent") == {0}
    for seed in range(20):  # 3-5 equal steps: 2-4 levels shown before the last step completes the job
        shown = sorted(levels("steps", seed) - {0})
        assert 2 <= len(shown) <= 4 and shown == [100 * k // (len(shown) + 1) for k in range(1, len(shown) + 1)]
    stall = curve("stall", 1)
    assert sum(p == 99 for _, p in stall) >= 0.15 * len(stall)  # at least 15 % of the time stuck at 99
    assert sum(p == 99 for _, p in curve("linear", 1)) < 0.02 * len(stall)
    queued = [s for s, _ in curve("queued", 1)]
    assert queued.count("queued") >= 0.5 * len(queued)
    assert len({tuple(curve("jumpy", seed)) for seed in range(5)}) == 5  # the seed moves the jumps


AUTH = {"Authorization": "Bearer sk-local"}


def simulated(profile: str = "linear", **kw) -> tuple[list[float], httpx.AsyncClient, object]:
    now = [T0]
    app = create_app(SimulatorConfig(clock=lambda: now[0], progress=profile, max_running_jobs=None, **kw))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim/v1", headers=AUTH)
    return now, http, app


async def test_the_server_profile_and_a_per_job_header_choose_the_curve() -> None:
    now, http, _ = simulated("silent")
    async with http:
        silent = (await http.post("/videos", json={"prompt": "a"})).json()
        stall = (await http.post("/videos", json={"prompt": "a"}, headers={"X-Sim-Progress": "stall"})).json()
        now[0] += 2.9  # a 4 s 720p clip: 1 s queued + 2 s rendering
        assert (await http.get(f"/videos/{silent['id']}")).json()["progress"] == 0
        assert (await http.get(f"/videos/{stall['id']}")).json()["progress"] == 99
        bad = await http.post("/videos", json={"prompt": "a"}, headers={"X-Sim-Progress": "wavy"})
        assert bad.status_code == 400
        assert "linear, queued, steps, stall, silent, jumpy" in bad.json()["error"]["message"]


def test_an_unknown_server_profile_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="use one of: linear, queued"):
        SimulatorConfig(progress="wavy")


async def poll_calls(tmp_path, similar_jobs: int) -> tuple[int, float]:
    """Poll a silent 120 s job through the client; return (retrieve calls, seconds late)."""
    now, http, app = simulated("silent", speed=3.0 / 120)
    record = JobRecord(tmp_path / f"jobs{similar_jobs}.db")

    async def advance(seconds: float) -> None:
        now[0] += seconds

    client = AsyncSoraClient(resolve_config("local", "http://sim/v1"), transport=httpx.ASGITransport(app=app),
                             record=record, clock=lambda: now[0], sleep=advance, poll_policy=PollPolicy())
    async with client:
        for _ in range(similar_jobs):  # earlier jobs like this one, seen through to completion
            done = await client.create("earlier", size="720x1280", seconds=4)
            now[0] += 130
            await client.retrieve(done.id)
        video = await client.create("this one", size="720x1280", seconds=4)
        sim = app.state.sim
        before = sim.stats()["requests"].get("retrieve", 0)
        assert (await client.poll(video.id, deadline=None)).status == "completed"
        return sim.stats()["requests"]["retrieve"] - before, now[0] - sim.jobs[video.id].finished_at


async def test_poll_places_its_polls_from_the_durations_of_similar_recorded_jobs(tmp_path) -> None:
    blind_calls, blind_late = await poll_calls(tmp_path, similar_jobs=0)
    calls, late = await poll_calls(tmp_path, similar_jobs=5)
    assert blind_calls >= 10  # backing off while queued, then every 8 s: nothing else to go on
    assert calls <= blind_calls / 2 and late <= 4.0, (calls, late, blind_calls, blind_late)
