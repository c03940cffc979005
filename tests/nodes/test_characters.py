"""Sora 2 Character and the character sockets of the clip nodes, against the local simulator: made once from a
VIDEO, reused from the record, refused readably (and before anything is sent) where it cannot work, and seen in the
frames and the dedupe key of the clips that name it."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfy_api.latest import InputImpl
from sora2_bridge.nodes.characters import CHARACTER_INPUTS, Sora2Character, character_video
from sora2_bridge.nodes.generate import Sora2Extend, Sora2Remix, Sora2Video
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.nodes.storyboard import Sora2Storyboard
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.characters import validate_character_name
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.errors import InvalidInputError
from sora2_bridge.shared.simulator.render import character_box, character_colours
from sora2_bridge.shared.video import decode_frames

PROMPT = "Mochi and Pip meet on a sunny kitchen floor, a paper boat between them"


def requests(sim) -> dict[str, int]:
    return httpx.get(f"{sim.root_url}/_sim/stats").json()["requests"]


def loaded(path) -> object:
    """What ComfyUI's core Load Video outputs for an uploaded file."""
    return InputImpl.VideoFromFile(str(path))


def box_share(frame: np.ndarray, slot: int, colour: tuple[int, int, int]) -> float:
    """The share of a character box's pixels that have the character's colour (the rest is its name)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = character_box(slot, w, h)
    region = frame[y0:y1, x0:x1].reshape(-1, 3).astype(int)
    return float((np.abs(region - np.array(colour)).max(axis=1) < 40).mean())


def queued_with_link(comfy, cls, node_id: str = "1", **inputs) -> list[str]:
    """Queue-time messages for a node whose character_1 is wired to another node's output."""
    return comfy.errors(cls, node_id, character_1=["7", 0], **inputs)


# ------------------------------------------------------------------------------------------- the node
async def test_character_is_made_from_the_loaded_file(comfy, local, character_mp4, caplog):
    caplog.set_level(logging.INFO, logger="sora2_bridge.nodes")
    (character_id,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name=" Mochi ")).args
    assert character_id in local.state.characters and local.state.characters[character_id].name == "Mochi"
    row = JobRecord(data_dir() / "jobs.sqlite3").get_character(character_id)
    # the file itself was uploaded (no re-encoding): the record keeps its path and its bytes' hash
    assert row.video_file == str(character_mp4)
    assert row.video_sha256 == hashlib.sha256(character_mp4.read_bytes()).hexdigest()
    assert comfy.texts[-1] == f"made character Mochi ({character_id})"
    assert f"made character Mochi ({character_id})" in caplog.text


async def test_the_same_video_and_name_are_reused_and_nothing_is_sent(comfy, local, character_mp4, caplog):
    caplog.set_level(logging.INFO, logger="sora2_bridge.nodes")
    (first,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    (again,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    # the same clip held in memory (another pack's VIDEO) has the same bytes: the same character
    in_memory = InputImpl.VideoFromFile(io.BytesIO(character_mp4.read_bytes()))
    (from_memory,) = (await comfy.run(Sora2Character, video=in_memory, name="Mochi")).args
    assert first == again == from_memory
    assert requests(local).get("character_create") == 1
    assert "reused character Mochi" in comfy.texts[-1] and "nothing sent" in comfy.texts[-1]
    assert caplog.text.count("reused character Mochi") == 2
    (other,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Pip")).args
    assert other != first and requests(local).get("character_create") == 2


async def test_a_likeness_is_refused_readably(comfy, local, character_mp4):
    local.faults.likeness_next = 1
    with pytest.raises(NodeError) as caught:
        await comfy.run(Sora2Character, video=loaded(character_mp4), name="Ana")
    message = str(caught.value)
    assert "likeness" in message and "Traceback" not in message
    assert comfy.texts[-1] == f"Failed: {message}"
    assert JobRecord(data_dir() / "jobs.sqlite3").characters() == []


@pytest.mark.parametrize("video, says", [(None, "not connected"), ("clip.mp4", "not a ComfyUI VIDEO")])
async def test_a_missing_or_wrong_video_is_a_readable_error(comfy, local, video, says):
    with pytest.raises(NodeError, match=says):
        await comfy.run(Sora2Character, video=video, name="Mochi")
    assert requests(local).get("character_create", 0) == 0


def test_a_trimmed_video_is_uploaded_as_trimmed(character_mp4):
    """A VIDEO trimmed upstream still points at the whole file; ComfyUI's save_to writes what the graph shows."""
    saved = []

    class Trimmed(InputImpl.VideoFromFile):
        def get_active_trim_window(self):
            return 0.5, 0.0

        def save_to(self, path, *args, **kwargs):
            saved.append(path)
            path.write(b"trimmed clip")

    assert character_video(loaded(character_mp4)) == str(character_mp4)
    assert character_video(Trimmed(str(character_mp4))) == b"trimmed clip" and len(saved) == 1


# ------------------------------------------------------------------------------------------- queue time
@pytest.mark.parametrize("provider", ["cometapi", "custom"])
async def test_a_provider_without_characters_is_refused_at_queue_time(comfy, local, character_mp4, provider,
                                                                     monkeypatch):
    monkeypatch.setenv("SORA2_API_KEY", "sk-fake-for-tests")
    errors = comfy.errors(Sora2Character, name="Mochi", provider=provider)
    assert len(errors) == 1 and f"[providers.{provider}]" in errors[0] and "characters = true" in errors[0]
    # the clip node: only when a character socket is wired
    wired = queued_with_link(comfy, Sora2Video, prompt=PROMPT, provider=provider)
    assert len(wired) == 1 and f"{provider} does not offer characters" in wired[0]
    assert comfy.errors(Sora2Video, prompt=PROMPT, provider=provider) == []
    assert queued_with_link(comfy, Sora2Video, prompt=PROMPT) == []  # local has characters
    # and if queued anyway (an API-format prompt), refused before anything is sent
    with pytest.raises(NodeError, match="does not offer characters"):
        await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi", provider=provider,
                        base_url="https://relay.example/v1")
    assert requests(local) == {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.text(max_size=100), st.sampled_from(["", "   ", "x" * 80, "x" * 81, "Mo\nchi"])))
def test_queue_time_name_verdict_is_the_shared_one(comfy, name):
    errors = comfy.errors(Sora2Character, name=name, provider="local")
    try:
        validate_character_name(name)
    except InvalidInputError as exc:
        assert len(errors) == 1 and str(exc) in errors[0], errors
    else:
        assert errors == []


def test_remix_and_extend_take_no_characters():
    for node in (Sora2Remix, Sora2Extend):
        assert not {i.id for i in node.GET_SCHEMA().inputs} & set(CHARACTER_INPUTS)
    optional = Sora2Video.GET_NODE_INFO_V1()["input"]["optional"]
    for name in CHARACTER_INPUTS:  # sockets a Character's id is wired into, no text box
        assert optional[name][0] == "STRING" and optional[name][1]["forceInput"] is True


# ------------------------------------------------------------------------------------------- clips
async def test_a_clip_with_two_characters_shows_both(comfy, local, character_mp4):
    (mochi,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    (pip,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Pip")).args
    out = await comfy.run(Sora2Video, prompt=PROMPT, seed=1, character_1=mochi, character_2=pip)
    video, video_id = out.args[:2]
    frames = decode_frames(video.get_stream_source(), max_frames=3, dtype=np.uint8)
    colours = character_colours(["Mochi", "Pip"])
    for frame in frames:
        assert box_share(frame, 0, colours[0]) > 0.8 and box_share(frame, 1, colours[1]) > 0.8
    row = JobRecord(data_dir() / "jobs.sqlite3").get(video_id)
    assert row.request["characters"] == [{"id": mochi}, {"id": pip}]


async def test_characters_are_part_of_the_dedupe_key(comfy, local, character_mp4):
    (mochi,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    (pip,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Pip")).args

    async def clip(**characters) -> str:
        return (await comfy.run(Sora2Video, prompt=PROMPT, seed=3, **characters)).args[1]

    first = await clip(character_1=mochi)
    assert await clip(character_1=mochi) == first  # the same inputs and seed: the clip already paid for
    assert await clip(character_1=mochi, character_2="") == first  # an empty socket names no character
    with_pip = await clip(character_1=pip)
    both = await clip(character_1=mochi, character_2=pip)
    without = await clip()
    assert len({first, with_pip, both, without}) == 4
    assert requests(local)["create"] == 4


async def test_a_bad_character_id_costs_nothing(comfy, local):
    with pytest.raises(NodeError, match="named twice"):
        await comfy.run(Sora2Video, prompt=PROMPT, seed=4, character_1="char_1", character_2="char_1")
    with pytest.raises(NodeError, match="not a character id"):
        await comfy.run(Sora2Video, prompt=PROMPT, seed=4, character_1="Mochi the cat")
    assert requests(local).get("create", 0) == 0


# ------------------------------------------------------------------------------------------- storyboard
CAST_BOARD = """\
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: meet
    prompt: Mochi walks into a sunny kitchen and sniffs a paper boat
    characters: [Mochi]
  - id: play
    prompt: Mochi chases the paper boat across the kitchen floor
    start: {continue: meet}
    characters: [Mochi]
"""


async def test_storyboard_names_a_wired_character_in_two_shots(comfy, local, character_mp4):
    (mochi,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    out = await comfy.run(Sora2Storyboard, storyboard=CAST_BOARD, max_usd=2.0, character_1=mochi)
    film, ids = out.args[:2]
    shots = json.loads(ids)
    record = JobRecord(data_dir() / "jobs.sqlite3")
    for video_id in shots.values():
        assert record.get(video_id).request["characters"] == [{"id": mochi}]
        assert local.state.jobs[video_id].characters == ["Mochi"]
    colour = character_colours(["Mochi"])[0]
    for frame in decode_frames(film.get_stream_source(), start=5.0, max_frames=1, dtype=np.uint8):
        assert box_share(frame, 0, colour) > 0.8  # the second shot shows Mochi too
    stats = requests(local)
    assert stats["character_create"] == 1 and stats.get("character_retrieve", 0) == 0  # the name came from the record
    # a rerun with the same character pays for nothing
    again = await comfy.run(Sora2Storyboard, storyboard=CAST_BOARD, max_usd=2.0, character_1=mochi)
    assert json.loads(again.args[1]) == shots and requests(local)["create"] == stats["create"]


async def test_storyboard_asks_the_service_for_a_character_made_elsewhere(comfy, local, character_mp4):
    made = httpx.post(f"{local.base_url}/videos/characters", headers={"Authorization": "Bearer sk-fake-test-only"},
                      data={"name": "Mochi"}, files={"video": ("mochi.mp4", character_mp4.read_bytes(), "video/mp4")})
    mochi = made.json()["id"]
    out = await comfy.run(Sora2Storyboard, storyboard=CAST_BOARD, max_usd=2.0, character_2=mochi)
    assert requests(local)["character_retrieve"] == 1
    for video_id in json.loads(out.args[1]).values():
        assert local.state.jobs[video_id].characters == ["Mochi"]


async def test_storyboard_refuses_two_characters_of_one_name_before_sending(comfy, local, character_mp4, tmp_path):
    other = tmp_path / "other.mp4"
    other.write_bytes(character_mp4.read_bytes() + b"\0")  # another video: another character called Mochi
    (first,) = (await comfy.run(Sora2Character, video=loaded(character_mp4), name="Mochi")).args
    (second,) = (await comfy.run(Sora2Character, video=loaded(other), name="Mochi")).args
    assert first != second
    with pytest.raises(NodeError, match="both called 'Mochi'"):
        await comfy.run(Sora2Storyboard, storyboard=CAST_BOARD, max_usd=2.0, character_1=first, character_2=second)
    assert requests(local).get("create", 0) == 0


def test_storyboard_queue_time_knows_a_wired_character_will_come(comfy, monkeypatch):
    monkeypatch.setenv("SORA2_PROVIDER", "local")
    unwired = comfy.errors(Sora2Storyboard, storyboard=CAST_BOARD)
    assert len(unwired) == 1 and "'Mochi'" in unwired[0] and "character_1" in unwired[0], unwired
    assert queued_with_link(comfy, Sora2Storyboard, storyboard=CAST_BOARD) == []
    two = CAST_BOARD.replace("characters: [Mochi]\n", "characters: [Mochi, Pip]\n", 1)
    left = queued_with_link(comfy, Sora2Storyboard, storyboard=two)  # one socket cannot stand for two names
    assert len(left) == 1 and "'Pip'" in left[0] and "named Pip into character_2" in left[0], left
    refused = queued_with_link(comfy, Sora2Storyboard, storyboard=CAST_BOARD, provider="cometapi")
    assert len(refused) == 1 and "[providers.cometapi]" in refused[0], refused
