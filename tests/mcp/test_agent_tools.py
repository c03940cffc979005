"""The tools agents reach for beyond generate/poll: who saves a finished clip, edit, join, a frame to look at,
stopping the collector, and paging through the list. In-memory SDK client against the loopback simulator."""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings as hsettings, strategies as st
from mcp import Client
from mcp.types import CallToolResult, ImageContent
from PIL import Image

from sora2_bridge.mcp_server.listing import check_cursor, make_cursor
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared.video import probe

PROMPT = "A calico cat playing a piano on stage"


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content  # type: ignore[return-value]


def error(result: CallToolResult) -> str:
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


async def wait_for(condition, rounds: int = 200) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition`` while the server's collector runs (bounded by rounds, not by a time assertion)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------- who saves
async def test_the_collector_saves_where_get_status_said(make_server, settings: Settings, sim, sim_config):
    sim_config.instant = False
    server = make_server(replace(settings, auto_download=True, collector_interval=0.05))
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        running = ok(await c.call_tool("get_status", {"video_id": vid}))
        sim.state.advance_clock(60)
        statuses = [ok(await c.call_tool("get_status", {"video_id": vid}))]
        await wait_for(lambda: Path(running["target_path"]).is_file())
        statuses.append(ok(await c.call_tool("get_status", {"video_id": vid})))
    assert running["status"] == "queued" and running["file_path"] is None
    first, last = statuses
    assert first["status"] == "completed"
    if first["file_path"] is None:  # asked before the collector's next run: it says who will save it, and where
        assert "collector" in first["hint"] and first["target_path"] == running["target_path"]
    assert last["file_path"] == running["target_path"] and last["target_path"] is None
    assert Path(last["file_path"]).stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------- forget
async def test_forget_video_stops_the_collector_and_keeps_the_job(make_server, settings: Settings, sim, sim_config):
    sim_config.instant = False
    server = make_server(replace(settings, auto_download=True, collector_interval=0.05))
    async with Client(server) as c:
        dropped = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        kept = ok(await c.call_tool("generate_video", {"prompt": PROMPT + ", at night"}))["video_id"]
        before = dict(sim.state.stats()["requests"])
        forgot = ok(await c.call_tool("forget_video", {"video_id": dropped}))
        assert sim.state.stats()["requests"] == before  # nothing sent: the service has no cancel
        again = ok(await c.call_tool("forget_video", {"video_id": dropped}))
        sim.state.advance_clock(60)
        kept_path = settings.output_dir / f"{kept}.mp4"
        await wait_for(kept_path.is_file)  # the collector's run that saved this one also passed the other
        status = ok(await c.call_tool("get_status", {"video_id": dropped}))
        listed = ok(await c.call_tool("list_videos", {}))
        saved = ok(await c.call_tool("download_video", {"video_id": dropped}))
    assert forgot["was_followed"] is True and forgot["still_billed"] is True
    assert "billed" in forgot["hint"] and "no cancel" in forgot["hint"]
    assert again["was_followed"] is False  # idempotent
    assert kept_path.is_file()
    assert status["status"] == "completed" and status["file_path"] is None and "collector" not in status["hint"]
    assert dropped in {v["video_id"] for v in listed["videos"]}  # still in the record and on the service
    assert saved["file_path"] == status["target_path"]  # download_video still saves it when asked


# ---------------------------------------------------------------------------------------------- edit
async def test_edit_video_starts_a_paid_job_through_the_edits_endpoint(server, sim):
    async with Client(server) as c:
        source = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))
        edited = ok(await c.call_tool("edit_video", {"video_id": source["video_id"], "prompt": "make it night"}))
        repeat = ok(await c.call_tool("edit_video", {"video_id": source["video_id"], "prompt": "make it night"}))
    assert edited["video_id"] != source["video_id"] and edited["kind"] == "edit"
    assert edited["cost_usd"] == source["cost_usd"] == 0.4  # the price of the original clip
    assert edited["budget_remaining_usd"] < source["budget_remaining_usd"]
    assert repeat["video_id"] == edited["video_id"] and repeat["reused_existing"] is True  # not paid twice
    assert sim.state.stats()["requests"]["edit"] == 1


async def test_edit_video_over_the_limit_is_refused_before_any_request(make_server, settings: Settings, sim):
    async with Client(make_server()) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))["video_id"]
    before = dict(sim.state.stats()["requests"])
    async with Client(make_server(replace(settings, max_usd_per_call=0.3))) as c:
        msg = error(await c.call_tool("edit_video", {"video_id": vid, "prompt": "make it night"}))
    assert "$0.40" in msg and "per-call limit" in msg
    assert sim.state.stats()["requests"] == before


# ---------------------------------------------------------------------------------------------- join
async def test_join_videos_makes_one_clip_with_sound_and_never_overwrites(server, settings: Settings, sim):
    async with Client(server) as c:
        a = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))["video_id"]
        b = ok(await c.call_tool("generate_video", {"prompt": "A dog surfing"}))["video_id"]  # done, not saved
        joined = ok(await c.call_tool("join_videos", {"video_ids": [a, b], "filename": "both"}))
        second = ok(await c.call_tool("join_videos", {"video_ids": [b, a], "filename": "both.mp4"}))
    path = Path(joined["file_path"])
    assert path == settings.output_dir / "both.mp4" and joined["requested_path"] is None
    info = probe(path)
    assert info.has_audio and joined["has_audio"] and abs(info.duration - 8.0) < 0.2
    assert abs(joined["duration"] - 8.0) < 0.2 and joined["video_ids"] == [a, b]
    assert (settings.output_dir / f"{b}.mp4").is_file()  # the missing clip was saved first
    assert second["file_path"] == str(settings.output_dir / "both-2.mp4")
    assert second["requested_path"] == str(path) and "already existed" in second["hint"]


async def test_join_videos_refuses_a_clip_that_is_not_finished(server, settings: Settings, sim, sim_config):
    async with Client(server) as c:
        done = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        sim_config.instant = False
        running = ok(await c.call_tool("generate_video", {"prompt": "A dog surfing"}))["video_id"]
        (settings.output_dir / f"{done}.mp4").unlink()  # not saved here any more: it would need a download
        before = sim.state.stats()["requests"]["content"]
        msg = error(await c.call_tool("join_videos", {"video_ids": [done, running]}))
    assert "Nothing was joined" in msg and running in msg and "queued" in msg
    assert sim.state.stats()["requests"]["content"] == before  # every id checked before downloading any
    assert not any(name.endswith(".mp4") for name in files(settings.output_dir))


# ---------------------------------------------------------------------------------------------- get_frame
async def test_get_frame_returns_a_small_jpeg_and_saves_nothing(server, settings: Settings, sim):
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "size": "1280x720", "wait_seconds": 10}))[
            "video_id"]
        before_files, before_requests = files(settings.output_dir), dict(sim.state.stats()["requests"])
        result = await c.call_tool("get_frame", {"video_id": vid, "t": 1.5})
        past = error(await c.call_tool("get_frame", {"video_id": vid, "t": 9}))
        assert files(settings.output_dir) == before_files and sim.state.stats()["requests"] == before_requests
    data = ok(result)
    images = [b for b in result.content if isinstance(b, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/jpeg"
    raw = base64.b64decode(images[0].data)
    im = Image.open(io.BytesIO(raw))
    assert im.format == "JPEG" and im.size == (512, 288) and (data["width"], data["height"]) == im.size
    assert len(raw) == data["bytes"] <= 100_000 and abs(data["duration"] - 4.0) < 0.2
    assert "past the end" in past and "4.0" in past


# ---------------------------------------------------------------------------------------------- list_videos
async def _page_through(c: Client, **args: Any) -> tuple[list[list[str]], list[dict[str, Any]]]:
    pages: list[list[str]] = []
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        data = ok(await c.call_tool("list_videos", {**args, **({"cursor": cursor} if cursor else {})}))
        pages.append([v["video_id"] for v in data["videos"]])
        items.extend(data["videos"])
        cursor = data["next_cursor"]
        if cursor is None:
            break
    return pages, items


async def test_list_videos_pages_with_the_services_cursor(server, sim, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        local = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        sim.state.delete_job(local)  # known only to this machine's record now
        sim.state.advance_clock(100)
        made = []
        for i in range(5):
            made.append(sim.state.add_job(model="sora-2", prompt=f"clip {i}", size="720x1280", seconds=4).id)
            sim.state.advance_clock(100)
        pages, items = await _page_through(c, limit=2)
    ids = [i for page in pages for i in page]
    assert len(pages) >= 3 and all(len(p) <= 3 for p in pages)  # 2 from the service, plus a local-only one
    assert sorted(ids) == sorted([*made, local]) and len(ids) == len(set(ids))  # every job once
    assert ids[:5] == made[::-1]  # newest first
    assert next(i for i in items if i["video_id"] == local)["status"] == "deleted"
    assert sim.state.stats()["requests"]["list"] >= 3  # the service's own pages, one after another


async def test_list_videos_filters_by_status_and_since(server, sim, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        old = sim.state.add_job(model="sora-2", prompt="old", size="720x1280", seconds=4)
        sim.state.advance_clock(100)
        failed = sim.state.add_job(model="sora-2", prompt="bad __policy__", size="720x1280", seconds=4)
        sim.state.advance_clock(100)
        newer = [sim.state.add_job(model="sora-2", prompt=f"new {i}", size="720x1280", seconds=4) for i in range(3)]
        sim.state.advance_clock(100)
        running = sim.state.add_job(model="sora-2", prompt="running", size="720x1280", seconds=4)
        since = datetime.fromtimestamp(newer[0].created, tz=timezone.utc).isoformat()
        queued = ok(await c.call_tool("list_videos", {"status": "queued"}))
        failures = ok(await c.call_tool("list_videos", {"status": "failed"}))
        recent = ok(await c.call_tool("list_videos", {"since": since}))
        _, completed = await _page_through(c, status="completed", limit=2)
    assert [v["video_id"] for v in queued["videos"]] == [running.id]
    assert [v["video_id"] for v in failures["videos"]] == [failed.id]
    assert {v["video_id"] for v in recent["videos"]} == {running.id, *(j.id for j in newer)}
    assert recent["next_cursor"] is None  # older jobs are before `since`: no further page
    assert {v["video_id"] for v in completed} == {old.id, *(j.id for j in newer)}


@hsettings(max_examples=80, deadline=None)
@given(st.text(max_size=80))
def test_a_cursor_is_accepted_only_as_list_videos_made_it(text: str):
    try:
        accepted = check_cursor(text)
    except ValueError as exc:
        assert "next_cursor" in str(exc)
        return
    vid, _, stamp = accepted.rpartition("@")
    assert make_cursor(vid, float(stamp)).split("@")[0] == vid  # an id the service's `after` takes, and a time


@hsettings(max_examples=50, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True), st.integers(0, 4_000_000_000))
def test_next_cursor_round_trips(vid: str, created: int):
    assert check_cursor(make_cursor(vid, created)) == f"{vid}@{created}.000"


async def test_an_explicit_null_still_means_left_out(server, sim):
    async with Client(server) as c:
        data = ok(await c.call_tool("list_videos", {"cursor": None, "status": None, "since": None}))
    assert data["videos"] == [] and data["next_cursor"] is None
