"""generate_sequence, get_sequence_status and the storyboard prompt, through the SDK's in-memory client on the
loopback simulator: refusals send nothing, the guard sees the whole sequence first, repeats pay nothing, a failed
sequence continues where it stopped, and the MCP server and the CLI share every finished shot."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ImageContent
from PIL import Image

from sora2_bridge.cli import main as cli_main
from sora2_bridge.mcp_server.sequences import storyboard_example
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.providers import PROVIDERS
from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard

from .test_tools import error

SHOTS = [
    {"id": "harbour", "prompt": "A fishing harbour at dawn, gulls over the boats"},
    {"id": "deck", "prompt": "The camera moves onto the deck of the nearest boat", "start": {"continue": "harbour"}},
]
ARGS = {"shots": SHOTS, "size": "1280x720", "seconds": 4}


def without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    """What the text block shows: the result's empty top-level fields left out, lists whole."""
    return {k: v for k, v in value.items() if v is not None}


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result; the text block carries the same data (without the empty fields)."""
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == without_nulls(result.structured_content)  # type: ignore[union-attr]
    return result.structured_content


def ledger_rows() -> list[tuple[float, str, str | None]]:
    db = sqlite3.connect(data_dir() / "mcp-spend.sqlite3")
    return db.execute("SELECT usd, state, video_id FROM spend ORDER BY id").fetchall()


async def wait_done(c: Client, sequence_id: str) -> Any:
    """Poll get_sequence_status until the sequence stops running (the simulator renders instantly)."""
    while True:
        result = await c.call_tool("get_sequence_status", {"sequence_id": sequence_id})
        data = ok(result)
        if data["status"] not in ("running", "joining"):
            return result
        await asyncio.sleep(0.05)


async def test_tools_and_prompt_are_listed(server):
    async with Client(server) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        prompts = {p.name: p for p in (await c.list_prompts()).prompts}
        prompt = await c.get_prompt("storyboard", {"story": "A paper boat sails to the sea"})
    gen, status = tools["generate_sequence"], tools["get_sequence_status"]
    # Hints left out mean the spec's defaults (not read-only, open world): only the others are spelled out.
    assert not gen.annotations.read_only_hint and gen.annotations.idempotent_hint is True
    assert gen.annotations.open_world_hint in (None, True) and gen.annotations.destructive_hint is False
    assert status.annotations.read_only_hint is True
    # Prices live in the prompt, not in every description.
    assert "$0.10/s" not in gen.description and "storyboard prompt" in gen.description
    items = gen.input_schema["properties"]["shots"]["items"]
    assert gen.input_schema["additionalProperties"] is False and items["required"] == ["id", "prompt"]
    assert set(items["properties"]) == {"id", "prompt", "seconds", "model", "start", "join_after", "characters"}
    start = items["properties"]["start"]["description"]
    assert all(word in start for word in ("image", "continue", "remix", "extend"))
    assert "title" in gen.input_schema["properties"] and "title" not in items
    assert prompts["storyboard"].arguments[0].name == "story" and prompts["storyboard"].arguments[0].required
    text = prompt.messages[0].content.text
    assert "A paper boat sails to the sea" in text and "$0.10/s" in text and "$0.50/s" in text
    assert "4, 8, 12" in text and "last frame" in text and "remix" in text and "extend" in text
    example = json.loads(text[text.index("\n{") + 1:])
    assert example == storyboard_example(PROVIDERS["local"])


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_the_prompt_example_plans_on_every_provider(name: str) -> None:
    provider = PROVIDERS[name]
    example = storyboard_example(provider)
    sb = load_storyboard({"defaults": {"size": example["size"], "seconds": example["seconds"]},
                          "shots": example["shots"]})
    plan = plan_storyboard(sb, provider)
    assert [s.kind for s in plan.shots] == ["create", "continue", "remix"] and plan.total_usd > 0


@pytest.mark.parametrize(("args", "words"), [
    ({"shots": [{"id": "a", "prompt": "x", "secs": 4}]}, ('shot "a"', "'seconds'")),
    ({"shots": [SHOTS[0], {**SHOTS[1], "start": {"continue": "harbor"}}]},
     ('shot "deck", field "start.continue"', "'harbour'")),
    ({"shots": [{**SHOTS[0], "start": {"continue": "deck"}}, SHOTS[1]]}, ("cycle",)),
    ({"shots": SHOTS, "size": "640x480"}, ("defaults.size", "640x480")),
    ({"shots": SHOTS, "seconds": 5}, ('shot "harbour", field "seconds"',)),
    ({"shots": [{**SHOTS[0], "start": {"image": "https://127.0.0.1/a.png"}}]},
     ('shot "harbour", field "start.image"', "private")),
    ({"shots": SHOTS, "duration": 8}, ("Unknown argument 'duration'", "'seconds'")),
    ({"shots": []}, ("shots",)),
])
async def test_plan_refusals_send_nothing(server, sim, args, words):
    async with Client(server) as c:
        message = error(await c.call_tool("generate_sequence", args))
    for word in words:
        assert word in message, message
    assert sim.state.stats()["requests"] == {} and sim.state.jobs_created == 0
    assert ledger_rows() == []


@pytest.mark.parametrize(("limits", "words"), [
    ({"max_usd_per_call": 0.5}, ("$0.80", "per-call limit of $0.50")),
    ({"budget_usd": 0.5}, ("$0.80", "only $0.50 is left")),
])
async def test_the_guard_refuses_the_whole_sequence_before_any_request(make_server, settings, sim, limits, words):
    server = make_server(dataclasses.replace(settings, **limits))
    async with Client(server) as c:
        message = error(await c.call_tool("generate_sequence", ARGS))
    for word in words:
        assert word in message, message
    assert "2 shots" in message and sim.state.stats()["requests"] == {}
    assert ledger_rows() == []


async def test_two_shot_continue_sequence_completes_once_however_often_asked(server, sim, settings: Settings):
    async with Client(server) as c:
        first = ok(await c.call_tool("generate_sequence", ARGS))
        again = ok(await c.call_tool("generate_sequence", ARGS))
        done = await wait_done(c, first["sequence_id"])
        after = ok(await c.call_tool("generate_sequence", ARGS))
    assert first["sequence_id"].startswith("sb_") and first["to_pay_usd"] == 0.8 and not first["reused_existing"]
    assert first["estimated_usd"] == 0.8 and [s["id"] for s in first["shots"]] == ["harbour", "deck"]
    for repeat in (again, after):
        assert repeat["sequence_id"] == first["sequence_id"] and repeat["reused_existing"]
        assert repeat["to_pay_usd"] is None and "nothing new was paid" in repeat["hint"]
    data = done.structured_content
    assert data["status"] == "completed", data
    assert [(s["state"], s["progress"]) for s in data["shots"]] == [("done", 100), ("done", 100)]
    film = Path(data["film_path"])
    assert film.is_file() and film.is_relative_to(settings.output_dir) and "get_sequence_status" not in data["hint"]
    assert sim.state.jobs_created == 2
    # Each shot's reservation became its job's spending; nothing else was counted.
    assert sorted(ledger_rows()) == sorted((0.4, "spent", s["video_id"]) for s in data["shots"])
    images = [b for b in done.content if isinstance(b, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/webp"
    sheet = base64.b64decode(images[0].data)
    assert len(sheet) < 100_000 and max(Image.open(io.BytesIO(sheet)).size) <= 640
    assert {b.uri for b in done.content if b.type == "resource_link"} == {
        f"sora2://videos/{s['video_id']}" for s in data["shots"]}


async def test_a_failed_sequence_continues_paying_only_for_what_is_missing(make_server, sim):
    shots = [SHOTS[0], {**SHOTS[1], "prompt": SHOTS[1]["prompt"] + " __policy__"}]
    args = {**ARGS, "shots": shots}
    async with Client(make_server()) as c:
        first = ok(await c.call_tool("generate_sequence", args))
        failed = (await wait_done(c, first["sequence_id"])).structured_content
    assert failed["status"] == "failed" and "deck" in failed["error"]
    assert [s["state"] for s in failed["shots"]] == ["done", "failed"]
    assert "generate_sequence again" in failed["hint"]
    sim.faults.policy_marker = ""  # the service now accepts the prompt
    async with Client(make_server()) as c:  # a new server: only the job record remembers the sequence
        status = ok(await c.call_tool("get_sequence_status", {"sequence_id": first["sequence_id"]}))
        second = ok(await c.call_tool("generate_sequence", args))
        done = (await wait_done(c, first["sequence_id"])).structured_content
    assert status["status"] == "failed" and [s["state"] for s in status["shots"]] == ["done", "failed"]
    assert second["sequence_id"] == first["sequence_id"] and second["to_pay_usd"] == 0.4
    assert done["status"] == "completed" and sim.state.jobs_created == 3  # harbour once, deck twice


async def test_mcp_and_cli_give_the_same_record_keys(server, sim, tmp_path: Path, capsys):
    async with Client(server) as c:
        started = ok(await c.call_tool("generate_sequence", ARGS))
        assert (await wait_done(c, started["sequence_id"])).structured_content["status"] == "completed"
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"defaults": {"size": "1280x720", "seconds": 4}, "shots": SHOTS}))
    base = ["--provider", "local", "--base-url", sim.base_url, "storyboard", str(board), "--json"]
    assert await asyncio.to_thread(cli_main, [*base, "--dry-run"]) == 0  # the CLI runs its own loop
    cli_plan = json.loads(capsys.readouterr().out)
    mcp_plan = JobRecord(data_dir() / "jobs.sqlite3").storyboard_runs(started["sequence_id"])[0]["plan"]
    assert [s["key"] for s in cli_plan["shots"]] == [s["key"] for s in mcp_plan["shots"]]
    assert await asyncio.to_thread(cli_main, base) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and all(s["reused"] for s in result["shots"]) and result["spent_usd"] == 0
    assert sim.state.jobs_created == 2  # the second front end paid nothing


async def test_an_image_start_goes_through_the_input_guards(server, sim, input_dir: Path, make_png):
    (input_dir / "first.png").write_bytes(make_png("1280x720"))
    shots = [{**SHOTS[0], "start": {"image": "first.png"}}, SHOTS[1]]
    async with Client(server) as c:
        started = ok(await c.call_tool("generate_sequence", {**ARGS, "shots": shots}))
        done = (await wait_done(c, started["sequence_id"])).structured_content
        outside = error(await c.call_tool("generate_sequence", {
            **ARGS, "shots": [{**SHOTS[0], "start": {"image": "/etc/hostname"}}]}))
    assert done["status"] == "completed" and sim.state.jobs_created == 2
    assert 'shot "harbour", field "start.image"' in outside and "outside the allowed input folders" in outside


async def test_status_of_an_unknown_sequence_is_a_readable_error(server):
    async with Client(server) as c:
        missing = error(await c.call_tool("get_sequence_status", {"sequence_id": "sb_" + "0" * 24}))
        malformed = error(await c.call_tool("get_sequence_status", {"sequence_id": "video_1"}))
    assert "No sequence sb_000" in missing and "generate_sequence" in missing
    assert "sequence_id" in malformed


async def test_a_sequence_running_on_another_server_is_answered_not_started_again(make_server, sim, sim_config):
    """Behind a round-robin proxy an agent's retry of generate_sequence reaches the other instance: it answers with
    the run already going (running, nothing reserved), instead of a second run reserving the missing shots again."""
    sim_config.instant = False
    sim_config.speed = 2.0  # a 4 s clip: about 1 s queued, 2 s rendering, so the first shot is still running
    first, second = make_server(), make_server()  # two servers on one record, as two instances on one database
    async with Client(first) as a, Client(second) as b:
        started = ok(await a.call_tool("generate_sequence", ARGS))
        again = ok(await b.call_tool("generate_sequence", ARGS))
        seen = ok(await b.call_tool("get_sequence_status", {"sequence_id": started["sequence_id"]}))
        done = ok(await wait_done(a, started["sequence_id"]))
    assert again["sequence_id"] == started["sequence_id"] and again["reused_existing"] is True
    assert not again.get("to_pay_usd") and again["status"] == "running" and seen["status"] == "running"
    assert "nothing new was paid" in again["hint"]
    assert done["status"] == "completed" and sim.state.requests["create"] == len(SHOTS)
    assert sorted(state for _, state, _ in ledger_rows()) == ["spent"] * len(SHOTS)  # one reservation per shot
