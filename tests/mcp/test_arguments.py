"""Tools accept exactly what they declare: unknown names, malformed ids and unsafe file names are refused in
sentences before anything is sent; ``seconds`` is an integer in and out; files are never replaced."""

from __future__ import annotations

import os
import re
import string
from dataclasses import replace
from typing import Any
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from mcp import Client

from sora2_bridge.mcp_server.arguments import check_video_id, compact_schema, suggest
from sora2_bridge.mcp_server.guard import Ledger, PathRefused, plain_file_name
from sora2_bridge.mcp_server.ledger_store import Scope
from sora2_bridge.mcp_server.server import LEDGER_FILE
from sora2_bridge.shared.models import VIDEO_ID_PATTERN

PROMPT = "A calico cat playing a piano on stage"


def _text(result) -> str:
    return result.content[0].text


async def test_every_tool_declares_and_enforces_a_closed_argument_list(server, sim):
    async with Client(server) as c:
        tools = (await c.list_tools()).tools
        for tool in tools:
            assert tool.input_schema.get("additionalProperties") is False, tool.name
            result = await c.call_tool(tool.name, {"colour_scheme": "red"})
            assert result.is_error and "Unknown argument 'colour_scheme'" in _text(result), (tool.name, _text(result))
            assert "This tool accepts:" in _text(result) and "pydantic" not in _text(result)
    assert sim.state.stats()["requests"] == {}


async def test_seconds_is_an_integer_in_every_schema_and_result(server):
    def seconds_types(schema: dict) -> list:
        found = []
        for key, value in schema.items():
            if key == "seconds" and isinstance(value, dict):
                found.append(value)
            elif isinstance(value, dict):
                found += seconds_types(value)
        return found

    async with Client(server) as c:
        tools = (await c.list_tools()).tools
        made = (await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": "8", "wait_seconds": 10}))
        listed = await c.call_tool("list_videos", {})
        price = await c.call_tool("estimate_cost", {"seconds": 8})
    declared = [s for t in tools for schema in (t.input_schema, t.output_schema or {}) for s in seconds_types(schema)]
    assert declared and all("string" not in repr(s) for s in declared), declared
    assert all("integer" in repr(s) for s in declared), declared
    assert made.structured_content["seconds"] == 8
    assert listed.structured_content["videos"][0]["seconds"] == 8
    assert price.structured_content["seconds"] == 8


async def test_a_file_name_that_exists_gets_a_numbered_name(server, settings):
    async with Client(server) as c:
        vid = (await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10})).structured_content[
            "video_id"]
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        mine = settings.output_dir / "take.mp4"
        mine.write_bytes(b"the user's own file")
        first = (await c.call_tool("download_video", {"video_id": vid, "filename": "take"})).structured_content
        second = (await c.call_tool("download_video", {"video_id": vid, "filename": "take.mp4"})).structured_content
        thumb = (await c.call_tool("download_video", {"video_id": vid, "variant": "thumbnail",
                                                      "filename": "take"})).structured_content
    assert mine.read_bytes() == b"the user's own file"
    assert Path(first["file_path"]).name == "take-2.mp4" and first["requested_path"] == str(mine)
    assert "already existed" in first["hint"]
    assert Path(second["file_path"]).name == "take-3.mp4"
    assert Path(thumb["file_path"]).name == "take.webp" and thumb["requested_path"] is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
async def test_an_unwritable_output_folder_is_refused_before_paying(make_server, settings, sim, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        await _refused_before_paying(make_server(replace(settings, output_dir=locked / "clips")), sim, "Cannot write")
    finally:
        locked.chmod(0o700)


async def test_an_output_folder_under_a_file_is_refused_before_paying(make_server, settings, sim, tmp_path):
    (tmp_path / "plain-file").write_text("x")
    server = make_server(replace(settings, output_dir=tmp_path / "plain-file" / "clips"))
    await _refused_before_paying(server, sim, "is a file, not a folder")


async def _refused_before_paying(server, sim, words: str) -> None:
    async with Client(server) as c:
        result = await c.call_tool("generate_video", {"prompt": PROMPT})
    assert result.is_error and words in _text(result) and "Refused before sending anything" in _text(result)
    assert sim.state.stats()["requests"] == {}
    ledger = Ledger(Path(os.environ["SORA2_DATA_DIR"]) / LEDGER_FILE)
    assert ledger.spent(Scope()) == 0  # nothing reserved, nothing counted


# ---------------------------------------------------------------------------------------------- properties
ID_CHARS = string.ascii_letters + string.digits + "_-"


@hsettings(max_examples=100)
@given(st.text(min_size=1, max_size=220))
def test_video_ids_are_letters_digits_underscore_and_dash(text):
    stripped = text.strip()
    if re.fullmatch(VIDEO_ID_PATTERN, stripped):
        assert check_video_id(text) == stripped
    else:
        with pytest.raises(ValueError, match="video id"):
            check_video_id(text)


@hsettings(max_examples=100)
@given(st.text(alphabet=ID_CHARS, min_size=1, max_size=200))
def test_every_id_of_the_allowed_shape_passes(vid):
    assert check_video_id(vid) == vid


INVISIBLE = st.sampled_from(["\x00", "\x1b", "\x7f", "\u200b", "\u200e", "\u202e", "\u2066", "\ufeff", "\u2028"])


@hsettings(max_examples=100)
@given(st.text(alphabet=string.ascii_letters + string.digits + " _-", max_size=30), INVISIBLE,
       st.text(alphabet=string.ascii_letters, max_size=10))
def test_file_names_with_invisible_characters_are_refused(head, invisible, tail):
    with pytest.raises(PathRefused, match="control or invisible"):
        plain_file_name(f"a{head}{invisible}{tail}b", _Stub())


@hsettings(max_examples=100)
@given(st.text(alphabet=st.characters(categories=["L", "N", "Pd", "Zs"]), min_size=1, max_size=100))
def test_visible_names_are_accepted(name):
    name = name.strip()
    if name and len(name.encode()) <= 200:
        assert plain_file_name(name, _Stub()) == name


class _Stub:
    output_dir = Path("/out")


@pytest.mark.parametrize("wrong,meant", [
    ("duration", "seconds"), ("length", "seconds"), ("resolution", "size"), ("aspect_ratio", "size"),
    ("image_url", "image"), ("reference", "image"), ("id", "video_id"), ("promtp", "prompt"), ("Seconds", "seconds"),
])
def test_the_parameter_probably_meant(wrong, meant):
    assert suggest(wrong, ["prompt", "model", "size", "seconds", "image", "video_id"]) == meant


def test_no_suggestion_for_a_parameter_the_tool_lacks():
    assert suggest("duration", ["video_id"]) is None


nullable = st.sampled_from(["string", "integer", "number", "boolean", "array", "object"])


@hsettings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(kind=nullable, name=st.text(min_size=1, max_size=12).filter(lambda n: n != "title"), describe=st.booleans())
def test_compact_schema_keeps_the_meaning_of_optional_values(kind: str, name: str, describe: bool) -> None:
    """Any optional property is written as its plain type with its other keywords kept (leaving it out is how a
    caller says none); a property may be called ``title`` (or anything) without being taken for the keyword."""
    prop: dict[str, Any] = {"anyOf": [{"type": kind}, {"type": "null"}], "default": None, "title": name}
    if describe:
        prop["description"] = name
    schema = {"type": "object", "title": "Args", "properties": {name: prop, "title": {"type": "string"}}}
    out = compact_schema(schema)
    assert out["properties"][name] == {"type": kind, **({"description": name} if describe else {})}
    assert out["properties"]["title"] == {"type": "string"} and "title" not in out
