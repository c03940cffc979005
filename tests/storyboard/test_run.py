"""Running storyboards on the simulator: the film, continuity, resume after a failed shot, and edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sora2_bridge.shared.storyboard import StoryboardFailed, run_storyboard, storyboard_status
from sora2_bridge.shared.video import decode_audio, decode_frames, last_frame, probe

FPS = 30

CHAIN = """
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: harbour
    prompt: A fishing harbour at dawn, gulls over the boats
  - id: deck
    prompt: The camera moves onto the deck of the nearest boat
    start: {continue: harbour}
    join_after: {crossfade_ms: 400}
  - id: market
    prompt: The fish market opens, people carry crates
"""


def _mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


async def test_film_is_the_shots_joined_with_sound_and_continuity(client, plan_for, sim, tmp_path: Path) -> None:
    plan = plan_for(CHAIN)
    events = []
    result = await run_storyboard(client, plan, out_dir=tmp_path / "shots", on_event=events.append)

    assert result.ok and sim.state.jobs_created == 3
    clips = {s.id: s.file for s in result.shots}
    # continuity: the continue shot starts on the previous shot's last frame
    first_of_deck = decode_frames(clips["deck"], max_frames=1, dtype=np.uint8)[0]
    assert _mean_diff(first_of_deck, last_frame(clips["harbour"])) < 6.0
    assert _mean_diff(first_of_deck, decode_frames(clips["market"], max_frames=1, dtype=np.uint8)[0]) > 20.0
    # the film: the sum of the shots within one frame per cut, with sound throughout
    film = probe(result.film)
    expected = sum(probe(c).duration for c in clips.values())
    assert abs(film.duration - expected) <= (len(clips) - 1) / FPS + 1e-6
    assert film.has_audio
    audio, rate = decode_audio(result.film)
    assert audio.shape[1] / rate == pytest.approx(film.duration, abs=0.1)
    for start in np.arange(0.0, film.duration - 0.5, 0.5):
        if not 7.7 < start + 0.25 < 8.3:  # the sound dips only around the crossfaded cut (deck -> market at 8 s)
            window = audio[:, int(start * rate): int((start + 0.5) * rate)]
            assert np.sqrt((window ** 2).mean()) > 1e-3, f"silence at {start:.1f}s"
    at_cut = audio[:, int(7.99 * rate): int(8.01 * rate)]
    assert np.abs(at_cut).max() < 0.1 * np.abs(audio).max()
    # the contact sheet and the events a front end draws
    assert result.contact_sheet.is_file() and result.contact_sheet.stat().st_size > 1000
    assert {e.shot_id for e in events if e.phase == "done"} == {"harbour", "deck", "market"}
    assert any(e.shot_id == "deck" and e.phase == "waiting" for e in events)
    assert result.spent_usd == plan.total_usd


FAILING = """
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: a
    prompt: A red kite over a green hill
  - id: b
    prompt: PROMPT_B
    start: {continue: a}
  - id: c
    prompt: A blue boat on a calm lake
  - id: d
    prompt: The kite string snaps and it drifts away
    start: {continue: b}
"""


async def test_resume_after_a_failed_shot_pays_only_for_what_is_missing(client, plan_for, sim, record,
                                                                        tmp_path: Path) -> None:
    failing = plan_for(FAILING.replace("PROMPT_B", "The kite dives __policy__"))
    with pytest.raises(StoryboardFailed) as caught:
        await run_storyboard(client, failing, out_dir=tmp_path / "shots")
    message = str(caught.value)
    assert 'shot "b" failed' in message and "moderation" in message and "d" in message.split("because of it:")[1]
    states = {s.id: s.status for s in caught.value.result.shots}
    assert states == {"a": "done", "b": "failed", "c": "done", "d": "skipped"}
    assert sim.state.jobs_created == 3  # a, c, and the refused b: d was never sent
    assert {s.id: s.state for s in storyboard_status(failing, record)} == {
        "a": "done", "b": "failed", "c": "done", "d": "missing"}

    fixed = plan_for(FAILING.replace("PROMPT_B", "The kite dives towards the sea"))
    result = await run_storyboard(client, fixed, out_dir=tmp_path / "shots")
    assert result.ok and sim.state.jobs_created == 5  # only b and d were made again
    assert {s.id for s in result.shots if s.reused} == {"a", "c"}
    assert len({s.video_id for s in result.shots}) == 4
    runs = record.storyboard_runs()
    assert [r["status"] for r in runs] == ["completed", "failed"]

    # an edit of b re-makes b and the shot made from it, nothing else
    edited = plan_for(FAILING.replace("PROMPT_B", "The kite climbs into a cloud"))
    again = await run_storyboard(client, edited, out_dir=tmp_path / "shots")
    assert sim.state.jobs_created == 7
    assert {s.id for s in again.shots if not s.reused} == {"b", "d"}
    assert all(s.state == "done" for s in storyboard_status(edited, record))


DERIVED = """
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: pier
    prompt: An old wooden pier in fog
  - id: pier-sun
    prompt: The same pier in bright sunshine
    start: {remix: pier}
  - id: walk
    prompt: Someone walks to the end of the pier
    start: {extend: pier-sun}
"""


async def test_remix_and_extend_shots_and_the_film_without_the_extended_source(client, plan_for, sim,
                                                                               tmp_path: Path) -> None:
    plan = plan_for(DERIVED)
    result = await run_storyboard(client, plan, out_dir=tmp_path / "shots")
    jobs = {j.id: j for j in sim.state.jobs.values()}
    made = {s.id: jobs[s.video_id] for s in result.shots}
    assert made["pier-sun"].kind == "remix" and made["pier-sun"].remixed_from_video_id == made["pier"].id
    assert made["walk"].kind == "extend" and made["walk"].seconds == 8
    assert probe(result.film).duration == pytest.approx(4 + 8, abs=1 / FPS)  # pier, then walk (which holds pier-sun)
    assert result.spent_usd == pytest.approx(0.4 + 0.4 + 0.4)  # the extension pays for its added 4 s only


async def test_a_cancelled_run_leaves_its_jobs_to_the_next_run(client, plan_for, sim, tmp_path: Path) -> None:
    plan = plan_for(CHAIN)
    with pytest.raises(StoryboardFailed) as caught:
        await run_storyboard(client, plan, out_dir=tmp_path / "shots", should_cancel=lambda: True)
    assert sim.state.jobs_created == 0  # cancelled before anything was created
    assert "cancelled" in str(caught.value)

    def cancel_after_first_create() -> bool:
        return sim.state.jobs_created >= 1

    with pytest.raises(StoryboardFailed) as caught:
        await run_storyboard(client, plan, out_dir=tmp_path / "shots", should_cancel=cancel_after_first_create)
    left = [s for s in caught.value.result.shots if s.status == "cancelled" and s.video_id]
    assert left and all(s.video_id in str(caught.value) for s in left)  # the error names what keeps running

    result = await run_storyboard(client, plan, out_dir=tmp_path / "shots")
    assert result.ok
    assert sim.state.jobs_created == 3  # the jobs left running were collected, not paid again
    assert {s.video_id for s in left} <= {s.video_id for s in result.shots}


async def test_shots_take_the_clients_job_slots(client, plan_for, sim, tmp_path: Path, monkeypatch) -> None:
    """The run shares the client's running-job slots (with its other jobs) instead of keeping its own limit."""
    import contextlib

    entered: list[str] = []
    original = client.job_slot

    @contextlib.asynccontextmanager
    async def counting():
        async with original():
            entered.append("slot")
            yield

    monkeypatch.setattr(client, "job_slot", counting)
    result = await run_storyboard(client, plan_for(CHAIN), out_dir=tmp_path / "shots", make_film=False)
    assert result.ok and len(entered) == 3 == sim.state.jobs_created
