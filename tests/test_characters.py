"""Characters through the shared client and the simulator: made once, reused from the record, refused before
anything is sent where they cannot work, and visible in the frames of the clips that name them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora2_bridge.shared import AsyncSoraClient, InvalidInputError, JobRecord, resolve_config
from sora2_bridge.shared.characters import load_character_video
from sora2_bridge.shared.errors import ContentPolicyError, NotFoundError, ServerError
from sora2_bridge.shared.simulator import SimulatorConfig, create_app
from sora2_bridge.shared.simulator.render import character_box, character_colours
from sora2_bridge.shared.video import decode_frames

SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "videos-openapi.yaml").read_text())


def sim_client(app, tmp_path: Path, provider: str = "local") -> AsyncSoraClient:
    cfg = resolve_config(provider, "http://simulator/v1", "fake-key", env={})
    return AsyncSoraClient(cfg, transport=httpx.ASGITransport(app=app), record=JobRecord(tmp_path / "jobs.sqlite3"),
                           downloads_dir=tmp_path)


def refusing_transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing may be sent, but {request.method} {request.url} was")

    return httpx.MockTransport(handler)


def box_share(frame: np.ndarray, slot: int, colour: tuple[int, int, int]) -> float:
    """The share of a character box's pixels that have the character's colour (the rest is its name)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = character_box(slot, w, h)
    region = frame[y0:y1, x0:x1].reshape(-1, 3).astype(int)
    return float((np.abs(region - np.array(colour)).max(axis=1) < 40).mean())


def as_uint8(frames: np.ndarray) -> np.ndarray:
    return frames if frames.dtype == np.uint8 else (frames * 255).round().astype(np.uint8)


async def test_made_once_then_reused_from_the_record(sim_app, tmp_path, character_mp4):
    async with sim_client(sim_app, tmp_path) as client:
        first = await client.create_character("Mochi", character_mp4)
        again = await client.create_character("  Mochi ", character_mp4)
        other = await client.create_character("Pip", character_mp4)  # another name: another character
        shown = await client.retrieve_character(first.id)
    stats = sim_app.state.sim.stats()["requests"]
    assert stats["character_create"] == 2 and stats["character_retrieve"] == 1
    assert (first.reused, again.reused, again.id) == (False, True, first.id)
    assert other.id != first.id and (shown.id, shown.name) == (first.id, "Mochi")
    row = client.record.get_character(first.id)
    assert row.name == "Mochi" and row.video_file == str(character_mp4) and row.raw["id"] == first.id


async def test_the_record_is_per_service(sim_app, tmp_path, character_mp4):
    """A character made on one service is not offered on another: the ids belong to the service."""
    async with sim_client(sim_app, tmp_path) as client:
        made = await client.create_character("Mochi", character_mp4)
    cfg = resolve_config("local", "http://other-simulator/v1", "fake-key", env={})
    async with AsyncSoraClient(cfg, transport=httpx.ASGITransport(app=create_app(SimulatorConfig(instant=True))),
                               record=JobRecord(tmp_path / "jobs.sqlite3")) as elsewhere:
        there = await elsewhere.create_character("Mochi", character_mp4)
    assert not there.reused and there.id != made.id


async def test_names_are_drawn_in_their_own_colour_boxes(sim_app, tmp_path, character_mp4):
    async with sim_client(sim_app, tmp_path) as client:
        mochi = await client.create_character("Mochi", character_mp4)
        pip = await client.create_character("Pip", character_mp4)
        video = await client.create_and_poll("Two friends meet", size="1280x720", characters=[mochi.id, pip.id])
        clip = await client.download_content(video.id, tmp_path / "friends.mp4")
        plain = await client.create_and_poll("Two friends meet", size="1280x720")
        plain_clip = await client.download_content(plain.id, tmp_path / "plain.mp4")
    frames = as_uint8(decode_frames(clip, max_frames=3))
    colours = character_colours(["Mochi", "Pip"])
    assert colours[0] != colours[1]
    for frame in frames:
        assert box_share(frame, 0, colours[0]) > 0.8 and box_share(frame, 1, colours[1]) > 0.8
    without = as_uint8(decode_frames(plain_clip, max_frames=1))[0]
    assert box_share(without, 0, colours[0]) < 0.5
    assert client.record.get(video.id).request["characters"] == [{"id": mochi.id}, {"id": pip.id}]


async def test_a_likeness_is_refused_readably_and_nothing_is_recorded(sim_app, tmp_path, character_mp4):
    sim_app.state.sim.faults.config.likeness_next = 1
    async with sim_client(sim_app, tmp_path) as client:
        with pytest.raises(ContentPolicyError) as caught:
            await client.create_character("Ana", character_mp4)
        assert client.record.characters() == []
        again = await client.create_character("Ana", character_mp4)  # the fault was for one upload
    message = str(caught.value)
    assert "likeness" in message and "moderation_blocked" in message and "animal" in message
    assert not again.reused


@pytest.mark.parametrize("provider", ["cometapi", "custom"])
async def test_a_provider_without_characters_refuses_before_sending(provider, tmp_path, character_mp4):
    cfg = resolve_config(provider, "https://relay.example/v1", "fake-key", env={})
    async with AsyncSoraClient(cfg, transport=refusing_transport(), record=False) as client:
        for call in (client.create_character("Mochi", character_mp4), client.retrieve_character("char_1"),
                     client.create("Mochi waves", characters=["char_1"])):
            with pytest.raises(InvalidInputError) as caught:
                await call
            text = str(caught.value)
            assert f"{provider} does not offer characters" in text and f"[providers.{provider}]" in text
            assert "characters = true" in text and "nothing was sent" in text


async def test_the_config_file_switches_characters_on_for_a_reseller(tmp_path, monkeypatch, character_mp4):
    config = tmp_path / "config.toml"
    config.write_text("[providers.cometapi]\ncharacters = true\n")
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    cfg = resolve_config("cometapi", "http://simulator/v1", "fake-key")
    assert cfg.provider_spec.characters
    async with AsyncSoraClient(cfg, transport=httpx.ASGITransport(app=create_app(SimulatorConfig(instant=True))),
                               record=False) as client:
        made = await client.create_character("Mochi", character_mp4)
        video = await client.create("Mochi waves", characters=[made.id])
    assert video.id


def test_a_wrong_switch_in_the_config_file_is_named(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[providers.cometapi]\ncharacters = "yes"\n')
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    with pytest.raises(Exception, match=r"\[providers.cometapi\] characters in .* must be true or false"):
        resolve_config("cometapi", api_key="fake-key")


@pytest.mark.parametrize(("args", "words"), [
    ({"name": ""}, "needs a name"),
    ({"name": "x" * 81}, "at most 80"),
    ({"name": "tab\there"}, "control characters"),
    ({"video": b"not a video at all"}, "not a video PyAV can read"),
    ({"video": b""}, "empty"),
    ({"video": "missing.mp4"}, "not found"),
])
async def test_bad_character_input_is_refused_before_sending(args, words, tmp_path, character_mp4):
    cfg = resolve_config("openai", api_key="fake-key", env={})
    async with AsyncSoraClient(cfg, transport=refusing_transport(), record=False) as client:
        with pytest.raises(InvalidInputError, match=words):
            await client.create_character(args.get("name", "Mochi"), args.get("video", character_mp4))


@pytest.mark.parametrize(("ids", "words"), [
    (["char_1", "char_2", "char_3"], "at most 2"),
    (["char_1", "char_1"], "named twice"),
    (["char 1"], "not a character id"),
    (["../videos"], "not a character id"),
])
async def test_bad_character_lists_are_refused_before_sending(ids, words):
    cfg = resolve_config("openai", api_key="fake-key", env={})
    async with AsyncSoraClient(cfg, transport=refusing_transport(), record=False) as client:
        with pytest.raises(InvalidInputError, match=words):
            await client.create("Mochi waves", characters=ids)


async def test_an_unknown_character_is_the_services_readable_error(sim_app, tmp_path):
    async with sim_client(sim_app, tmp_path) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.retrieve_character("char_nope")
    assert "character id" in str(caught.value) and caught.value.subject == "character"


def test_the_simulator_keeps_characters_across_a_restart(tmp_path, sim_media_dir):
    config = SimulatorConfig(instant=True, data_dir=tmp_path / "sim", media_dir=sim_media_dir)
    first = create_app(config).state.sim
    made = first.add_character("Mochi")
    again = create_app(config).state.sim
    assert again.characters[made.id].name == "Mochi"


async def test_simulator_character_answers_match_the_published_contract(sim_asgi_client, character_mp4):
    schema = {"$ref": "#/components/schemas/VideoCharacterResource", "components": SPEC["components"]}
    made = await sim_asgi_client.post("/videos/characters", files={
        "name": (None, "Mochi"), "video": ("mochi.mp4", character_mp4.read_bytes(), "video/mp4")})
    shown = await sim_asgi_client.get(f"/videos/characters/{made.json()['id']}")
    for answer in (made, shown):
        assert answer.status_code == 200
        jsonschema.validate(answer.json(), schema)
    refused = await sim_asgi_client.post("/videos", json={"prompt": "p", "characters": [{"id": "char_nope"}]})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "characters[0].id"


# Arbitrary answers to a character upload: each is read or refused with a sentence, never a traceback.
ANSWERS = st.one_of(
    st.dictionaries(st.sampled_from(["id", "name", "created_at", "object", "extra"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                              st.lists(st.integers(), max_size=2)), max_size=5),
    st.lists(st.integers(), max_size=3), st.text(max_size=20), st.integers(), st.none(),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=ANSWERS)
async def test_any_answer_to_a_character_upload_is_read_or_refused_readably(answer, tmp_path, character_mp4):
    cfg = resolve_config("openai", api_key="fake-key", env={})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=json.dumps(answer).encode()))
    async with AsyncSoraClient(cfg, transport=transport, record=JobRecord(":memory:")) as client:
        try:
            made = await client.create_character("Mochi", character_mp4)
        except ServerError as exc:
            assert "no usable character id" in str(exc) and "Run the request again" in str(exc)
            assert client.record.characters() == []
        else:
            assert made.id and client.record.get_character(made.id) is not None


def test_a_character_video_is_checked_readable(character_mp4):
    video = load_character_video(character_mp4)
    assert video.mime_type == "video/mp4" and video.filename == "mochi.mp4" and len(video.sha256) == 64


# Any code point, lone surrogates included (JSON may carry them: an agent's tool call, a storyboard file).
NAMES = st.text(alphabet=st.characters(exclude_categories=()), min_size=0, max_size=90)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
async def test_any_name_is_refused_before_sending_or_kept_exactly(name, sim_app, tmp_path, character_mp4):
    """Brackets, quotes, emoji, right-to-left text, surrogates: refused with a sentence, or sent in the multipart
    form and answered with the same name."""
    async with sim_client(sim_app, tmp_path / "h") as client:
        try:
            made = await client.create_character(name, character_mp4)
        except InvalidInputError as exc:
            assert exc.param == "name" and str(exc)
            return
    assert made.name == name.strip() and sim_app.state.sim.characters[made.id].name == name.strip()


@settings(max_examples=40, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=2))
def test_any_names_are_drawn_without_fail(names):
    from sora2_bridge.shared.simulator.render import RenderSpec, _Painter

    painter = _Painter(RenderSpec("p", "160x96", 1, "sora-2", characters=tuple(names)), 160, 96, None)
    frame = painter.frame(0)
    for slot, colour in enumerate(character_colours(names)):
        assert box_share(frame, slot, colour) > 0.3


async def test_two_identical_calls_at_once_make_one_character(sim_app, tmp_path, character_mp4):
    import asyncio

    async with sim_client(sim_app, tmp_path) as client:
        first, second = await asyncio.gather(client.create_character("Mochi", character_mp4),
                                             client.create_character("Mochi", character_mp4))
    assert first.id == second.id and sorted([first.reused, second.reused]) == [False, True]
    assert sim_app.state.sim.stats()["requests"]["character_create"] == 1
