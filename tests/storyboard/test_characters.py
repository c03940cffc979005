"""Characters in storyboards: declared once, made before the shots that name them, keyed so a rerun makes nothing
again, and drawn in the frames of every shot that names them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sora2_bridge.shared import InvalidInputError
from sora2_bridge.shared.providers import COMETAPI, LOCAL
from sora2_bridge.shared.simulator.render import character_box, character_colours
from sora2_bridge.shared.storyboard import StoryboardFailed, load_storyboard, plan_storyboard, run_storyboard
from sora2_bridge.shared.video import decode_frames

TWO_SHOTS = """
defaults: {size: 1280x720, seconds: 4}
characters:
  - {name: Mochi, video: mochi.mp4}
  - {name: Pip, shot: meet}
shots:
  - id: meet
    prompt: A small cat walks into a sunny garden
    characters: [Mochi]
  - id: play
    prompt: The cat and a bird play among the flowers
    start: {continue: meet}
    characters: [Mochi, Pip]
"""


@pytest.fixture
def board(tmp_path: Path, character_mp4: Path) -> Path:
    shutil.copy(character_mp4, tmp_path / "mochi.mp4")
    return tmp_path


def plan(text: str, base: Path, provider=LOCAL, **kw):
    return plan_storyboard(load_storyboard(text), provider, base_url="http://sim/v1", base_dir=base, **kw)


def box_share(frame: np.ndarray, slot: int, colour: tuple[int, int, int]) -> float:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = character_box(slot, w, h)
    region = frame[y0:y1, x0:x1].reshape(-1, 3).astype(int)
    return float((np.abs(region - np.array(colour)).max(axis=1) < 40).mean())


# ---------------------------------------------------------------------------------------------- planning
def test_characters_are_planned_before_the_shots_that_name_them(board):
    p = plan(TWO_SHOTS, board)
    assert [(c.name, c.source) for c in p.characters] == [("Mochi", "video"), ("Pip", "shot")]
    assert p.shot("play").characters == ("Mochi", "Pip")
    assert p.as_dict()["characters"][1]["ref"] == "meet"
    assert p.total_usd == sum(s.cost_usd for s in p.shots)  # characters are free in the simulator's table


def test_a_shot_key_follows_its_characters_and_nothing_else(board, character_mp4):
    base = plan(TWO_SHOTS, board)
    without = plan(TWO_SHOTS.replace("    characters: [Mochi]\n", ""), board)
    assert without.shot("meet").key != base.shot("meet").key
    (board / "other.mp4").write_bytes(character_mp4.read_bytes() + b"\0")  # another video for Mochi
    other = plan(TWO_SHOTS.replace("mochi.mp4", "other.mp4"), board)
    assert other.shot("meet").key != base.shot("meet").key
    plain = "defaults: {size: 1280x720}\nshots:\n  - {id: a, prompt: A quiet lake}\n"
    declared = plain.replace("shots:", "characters: [{name: Mochi, video: mochi.mp4}]\nshots:")
    assert plan(plain, board).shot("a").key == plan(declared, board).shot("a").key  # unused: no effect


def test_a_front_end_supplies_or_replaces_a_character_by_name(board):
    given = TWO_SHOTS.replace("{name: Pip, shot: meet}", "{name: Pip}")
    with pytest.raises(InvalidInputError, match=r'"characters.Pip": give video, shot or id'):
        plan(given, board)
    p = plan(given, board, characters={"Pip": "char_abc", "Mochi": "char_def"})
    assert [(c.name, c.source, c.ref) for c in p.characters] == [("Mochi", "id", "char_def"), ("Pip", "id", "char_abc")]
    undeclared = "defaults: {size: 1280x720}\nshots:\n  - {id: a, prompt: A cat, characters: [Kit]}\n"
    assert plan(undeclared, board, characters={"Kit": "char_kit"}).character("Kit").ref == "char_kit"


@pytest.mark.parametrize(("change", "words"), [
    (("characters: [Mochi, Pip]", "characters: [Mochi, Pipp]"), r"shot \"play\", field \"characters\": no character 'Pipp'; did you mean 'Pip'\?"),
    (("characters: [Mochi, Pip]", "characters: [Mochi, Pip, Mochi]"), r"field \"characters\": takes at most 2 entries, got 3"),
    (("characters: [Mochi, Pip]", "characters: [Pip, Pip]"), "named twice"),
    (("{name: Pip, shot: meet}", "{name: Pip, shot: meat}"), r"\"characters.Pip.shot\": no shot 'meat'; did you mean 'meet'"),
    (("{name: Pip, shot: meet}", "{name: Mochi, shot: meet}"), "two characters are called 'Mochi'"),
    (("{name: Pip, shot: meet}", "{name: Pip, shot: meet, id: char_1}"), "give one of video, shot, id, not shot and id"),
    (("{name: Pip, shot: meet}", "{name: '', shot: meet}"), "needs a name"),
    (("start: {continue: meet}", "start: {extend: meet}"), r"shot \"play\", field \"characters\": an extension cannot"),
    (("mochi.mp4", "missing.mp4"), r"\"characters.Mochi.video\": Character video not found"),
])
def test_mistakes_are_refused_naming_the_field(board, change, words):
    with pytest.raises(InvalidInputError, match=words):
        plan(TWO_SHOTS.replace(*change), board)


def test_a_character_made_from_a_shot_that_needs_it_is_a_cycle(board):
    text = TWO_SHOTS.replace("characters: [Mochi]\n", "characters: [Pip]\n")
    with pytest.raises(InvalidInputError, match=r'cycle \("meet" -> character "Pip" -> "meet"\)|cycle \(character '
                                                r'"Pip" -> "meet" -> character "Pip"\)'):
        plan(text, board)


def test_a_provider_without_characters_refuses_the_storyboard_before_anything(board):
    with pytest.raises(InvalidInputError, match=r'storyboard field "characters": cometapi does not offer characters'):
        plan(TWO_SHOTS.replace("1280x720", "720x1280"), board, provider=COMETAPI)


# ---------------------------------------------------------------------------------------------- running
async def test_two_shots_show_their_characters_and_a_rerun_makes_nothing_again(client, sim, board):
    p = plan_storyboard(load_storyboard(TWO_SHOTS), client.provider, base_url=client.config.base_url,
                        base_dir=board)
    result = await run_storyboard(client, p, out_dir=board / "shots")
    made = {c.name: c for c in result.characters}
    assert result.ok and all(c.status == "done" and not c.reused for c in made.values())
    assert sim.state.stats()["requests"]["character_create"] == 2
    mochi, pip = character_colours(["Mochi"])[0], character_colours(["Mochi", "Pip"])[1]
    meet = decode_frames(result.shots[0].file, max_frames=2, dtype=np.uint8)
    play = decode_frames(result.shots[1].file, max_frames=2, dtype=np.uint8)
    assert all(box_share(f, 0, mochi) > 0.8 for f in meet) and all(box_share(f, 1, pip) < 0.5 for f in meet)
    assert all(box_share(f, 0, mochi) > 0.8 and box_share(f, 1, pip) > 0.8 for f in play)
    film = decode_frames(result.film, max_frames=1, dtype=np.uint8)[0]
    assert box_share(film, 0, mochi) > 0.8
    jobs = sim.state.jobs_created

    again = await run_storyboard(client, p, out_dir=board / "shots")
    assert again.ok and sim.state.jobs_created == jobs
    assert sim.state.stats()["requests"]["character_create"] == 2
    assert all(c.reused for c in again.characters) and all(s.reused for s in again.shots)
    assert again.as_dict()["characters"][0]["id"] == made["Mochi"].character_id


async def test_a_refused_character_fails_its_shots_and_a_rerun_continues(client, sim, board):
    p = plan_storyboard(load_storyboard(TWO_SHOTS), client.provider, base_url=client.config.base_url,
                        base_dir=board)
    sim.faults.likeness_next = 1
    with pytest.raises(StoryboardFailed) as caught:
        await run_storyboard(client, p, out_dir=board / "shots")
    message = str(caught.value)
    assert 'shot "meet" failed: its character "Mochi" could not be made' in message and "likeness" in message
    assert sim.state.jobs_created == 0  # nothing was paid for a shot whose character is missing
    result = await run_storyboard(client, p, out_dir=board / "shots")
    assert result.ok and sim.state.jobs_created == 2
