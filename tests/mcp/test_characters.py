"""Characters through the MCP server on the loopback simulator: create_character reads its video through the
input guards and makes a character once; generate_video and generate_sequence name characters; every refusal
reaches the agent as a readable tool error, and the ones that can be decided locally send nothing."""

from __future__ import annotations

import asyncio
import base64
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import JobRecord, resolve_config
from sora2_bridge.shared.config import data_dir

from .test_sequences import ok, wait_done
from .test_tools import error

PROMPT = "Mochi the cat waves at the camera"


def created(sim) -> int:
    return sim.state.stats()["requests"].get("character_create", 0)


def sent(sim) -> dict[str, int]:
    return sim.state.stats()["requests"]


@pytest.fixture
def mochi(input_dir: Path, character_mp4: Path) -> Path:
    """The character video inside the allowed input folder."""
    return Path(shutil.copy(character_mp4, input_dir / "mochi.mp4"))


async def make(c: Client, name: str, video: str) -> dict[str, Any]:
    return ok(await c.call_tool("create_character", {"name": name, "video": video}))


async def test_listed_with_hints_and_strict_arguments(server, sim, mochi):
    async with Client(server) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        unknown = error(await c.call_tool("create_character", {"name": "Mochi", "video": "mochi.mp4", "x": 1}))
    tool = tools["create_character"]
    assert tool.annotations.destructive_hint is False and tool.annotations.idempotent_hint is True
    assert tool.annotations.read_only_hint is not True and tool.input_schema["additionalProperties"] is False
    assert tool.input_schema["required"] == ["name", "video"]
    assert tools["generate_video"].input_schema["properties"]["characters"]["maxItems"] == 2
    assert "generate_sequence" in tools and "characters" in tools["generate_sequence"].input_schema["properties"]
    assert "Unknown argument 'x'" in unknown and sent(sim) == {}


async def test_made_once_then_reused_without_a_second_upload(server, sim, mochi):
    async with Client(server) as c:
        first = await make(c, "Mochi", "mochi.mp4")  # relative: from the first input folder
        again = await make(c, " Mochi ", str(mochi))
    assert created(sim) == 1
    assert (first["reused"], again["reused"], again["id"]) == (False, True, first["id"])
    assert first["name"] == "Mochi" and first["id"] in sim.state.characters
    assert f'generate_video(characters=["{first["id"]}"])' in first["hint"]
    assert "nothing was sent" in again["hint"]
    row = JobRecord(data_dir() / "jobs.sqlite3").get_character(first["id"])
    assert row is not None and row.video_file == str(mochi)  # the record says which file it was made from


async def test_two_calls_at_once_make_one_character(server, sim, mochi):
    sim.faults.endpoints = ["character_create"]
    sim.faults.latency_ms = 100  # the first upload is still on its way when the second call arrives
    async with Client(server) as c:
        both = await asyncio.gather(make(c, "Mochi", "mochi.mp4"), make(c, "Mochi", str(mochi)))
    assert created(sim) == 1 and both[0]["id"] == both[1]["id"]
    assert sorted(r["reused"] for r in both) == [False, True]


async def test_a_video_from_a_data_url(server, sim, character_mp4):
    url = "data:video/mp4;base64," + base64.b64encode(character_mp4.read_bytes()).decode()
    async with Client(server) as c:
        made = await make(c, "Pip", url)
    assert not made["reused"] and created(sim) == 1


async def test_videos_outside_the_allowed_folders_are_refused_unsent(server, sim, input_dir, tmp_path, character_mp4):
    outside = Path(shutil.copy(character_mp4, tmp_path / "outside.mp4"))
    (input_dir / "link.mp4").symlink_to(outside)
    async with Client(server) as c:
        messages = [error(await c.call_tool("create_character", {"name": "Mochi", "video": video}))
                    for video in (str(outside), "../outside.mp4", str(input_dir / "link.mp4"))]
        missing = error(await c.call_tool("create_character", {"name": "Mochi", "video": "missing.mp4"}))
        private = error(await c.call_tool("create_character", {"name": "Mochi", "video": "http://10.0.0.1/a.mp4"}))
    assert all("outside the allowed input folders" in m for m in messages), messages
    assert "Video file not found" in missing and "Only https:// video URLs" in private
    assert sent(sim) == {}


async def test_local_videos_are_refused_when_no_folder_is_allowed(make_server, settings, sim, mochi):
    async with Client(make_server(replace(settings, input_dirs=()))) as c:
        msg = error(await c.call_tool("create_character", {"name": "Mochi", "video": str(mochi)}))
    assert "Local video paths are disabled" in msg and "SORA2_MCP_INPUT_DIRS" in msg and sent(sim) == {}


def test_the_video_size_cap_comes_from_the_environment(tmp_path):
    env = {"SORA2_MCP_MAX_VIDEO_MB": "2", "SORA2_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).max_video_bytes == 2 * 1024 * 1024
    assert Settings.from_env({"SORA2_DATA_DIR": str(tmp_path)}).max_video_bytes == 50 * 1024 * 1024


async def test_size_cap_and_unreadable_videos_are_refused_unsent(make_server, settings, sim, input_dir, mochi):
    (input_dir / "notes.mp4").write_bytes(b"not a video at all")
    async with Client(make_server(replace(settings, max_video_bytes=100))) as c:
        big = error(await c.call_tool("create_character", {"name": "Mochi", "video": "mochi.mp4"}))
    async with Client(make_server()) as c:
        bad = error(await c.call_tool("create_character", {"name": "Mochi", "video": "notes.mp4"}))
        long = error(await c.call_tool("create_character", {"name": "M" * 81, "video": "mochi.mp4"}))
    assert "larger than" in big and "SORA2_MCP_MAX_VIDEO_MB" in big
    assert "not a video PyAV can read" in bad and "at most 80" in long
    assert sent(sim) == {}


async def test_generate_video_with_two_characters_sends_and_records_them(server, sim, mochi):
    async with Client(server) as c:
        mochi_id = (await make(c, "Mochi", "mochi.mp4"))["id"]
        pip_id = (await make(c, "Pip", "mochi.mp4"))["id"]
        video = ok(await c.call_tool("generate_video", {"prompt": "Mochi and Pip meet",
                                                        "characters": [mochi_id, pip_id]}))
    row = JobRecord(data_dir() / "jobs.sqlite3").get(video["video_id"])
    assert row.request["characters"] == [{"id": mochi_id}, {"id": pip_id}]
    assert sim.state.jobs[video["video_id"]].characters == ["Mochi", "Pip"]  # the service got both


async def test_the_same_call_with_other_characters_is_a_new_job(server, sim, mochi):
    """The never-pay-twice window keys on the characters too: only a truly identical call returns the first job."""
    async with Client(server) as c:
        mochi_id = (await make(c, "Mochi", "mochi.mp4"))["id"]
        pip_id = (await make(c, "Pip", "mochi.mp4"))["id"]
        first = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": [mochi_id]}))
        repeat = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": [mochi_id]}))
        other = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": [pip_id]}))
        plain = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
    assert repeat["video_id"] == first["video_id"] and repeat["reused_existing"]
    assert len({first["video_id"], other["video_id"], plain["video_id"]}) == 3
    assert not other["reused_existing"] and not plain["reused_existing"]
    assert sent(sim)["create"] == 3


@pytest.mark.parametrize(("characters", "words"), [
    (["char_1", "char_2", "char_3"], "at most 2"),
    (["char_1", "char_1"], "named twice"),
    (["char 1"], "not a character id"),
])
async def test_bad_character_lists_are_refused_unsent(server, sim, characters, words):
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": characters}))
        left = ok(await c.call_tool("estimate_cost", {}))
    assert words in msg and sent(sim) == {}
    assert left["budget_remaining_usd"] == 50.0  # nothing was reserved


async def test_a_likeness_is_a_readable_tool_error(server, sim, mochi):
    sim.faults.likeness_next = 1
    async with Client(server) as c:
        msg = error(await c.call_tool("create_character", {"name": "Ana", "video": "mochi.mp4"}))
        later = await make(c, "Ana", "mochi.mp4")  # nothing was recorded: the next upload is sent
    assert "likeness" in msg and "Traceback" not in msg
    assert not later["reused"] and created(sim) == 2


async def test_an_unknown_character_is_the_services_readable_error(server, sim):
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": ["char_nope"]}))
        left = ok(await c.call_tool("estimate_cost", {}))
    assert "char_nope" in msg and "not found" in msg and "Traceback" not in msg
    assert left["budget_remaining_usd"] == 50.0  # the refused create released its reservation


async def test_a_provider_without_characters_refuses_unsent_naming_the_switch(make_server, sim, mochi):
    config = resolve_config("cometapi", sim.base_url, "fake-key", env={})
    async with Client(make_server(config=config)) as c:
        made = error(await c.call_tool("create_character", {"name": "Mochi", "video": "mochi.mp4"}))
        named = error(await c.call_tool("generate_video", {"prompt": PROMPT, "characters": ["char_1"]}))
        shots = error(await c.call_tool("generate_sequence", {
            "shots": [{"id": "a", "prompt": PROMPT, "characters": ["Mochi"]}], "characters": {"Mochi": "char_1"}}))
    for msg in (made, named, shots):
        assert "cometapi does not offer characters" in msg and "[providers.cometapi]" in msg, msg
        assert "characters = true" in msg and "nothing was sent" in msg
    assert sent(sim) == {}


async def test_a_sequence_names_a_character_in_both_shots(server, sim, mochi):
    shots = [
        {"id": "hello", "prompt": "Mochi waves on a sunny porch", "characters": ["Mochi"]},
        {"id": "bye", "prompt": "Mochi bows and walks away", "characters": ["Mochi"], "start": {"continue": "hello"}},
    ]
    async with Client(server) as c:
        mochi_id = (await make(c, "Mochi", "mochi.mp4"))["id"]
        start = ok(await c.call_tool("generate_sequence", {"shots": shots, "size": "1280x720",
                                                           "characters": {"Mochi": mochi_id}}))
        done = ok(await wait_done(c, start["sequence_id"]))
        unnamed = error(await c.call_tool("generate_sequence", {"shots": shots, "size": "1280x720"}))
    assert done["status"] == "completed", done
    record = JobRecord(data_dir() / "jobs.sqlite3")
    for shot in done["shots"]:
        assert record.get(shot["video_id"]).request["characters"] == [{"id": mochi_id}]
        assert sim.state.jobs[shot["video_id"]].characters == ["Mochi"]
    assert created(sim) == 1 and sent(sim)["create"] == 2
    assert 'shot "hello", field "characters": no character \'Mochi\'' in unnamed  # refused before sending
