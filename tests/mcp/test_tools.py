"""Every tool through the SDK's own in-memory client, against the loopback simulator."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ImageContent, ResourceLink
from PIL import Image

from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import JobRecord, resolve_config
from sora2_bridge.shared.config import data_dir

PROMPT = "A calico cat playing a piano on stage"
TOOLS = {
    "generate_video", "get_status", "remix_video", "edit_video", "extend_video", "list_videos", "download_video",
    "get_frame", "join_videos", "forget_video", "delete_video", "estimate_cost", "generate_sequence",
    "get_sequence_status", "create_character",
}


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    # The text block carries the same data, for clients that ignore structured content.
    text = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert all(result.structured_content[k] == v for k, v in text.items())
    return result.structured_content


def error(result: CallToolResult) -> str:
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


async def test_tools_are_listed_with_schemas_annotations_and_prices(server):
    async with Client(server) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations is not None, tool.name
    gen = tools["generate_video"]
    # Hints left out mean the spec's defaults: not read-only, not idempotent, open world; destructive is explicit.
    assert not gen.annotations.read_only_hint and not gen.annotations.idempotent_hint
    assert gen.annotations.destructive_hint is False and gen.annotations.open_world_hint is not False
    assert "$0.10/s" in gen.description and "$0.50/s" in gen.description and "1-5 min" in gen.description
    assert "$5.00/call" in gen.description and "$50.00/day" in gen.description
    props = gen.input_schema["properties"]
    assert props["seconds"]["enum"] == [4, 8, 12, 16, 20] and "1920x1080" in props["size"]["enum"]
    assert props["wait_seconds"]["default"] == 0 and props["wait_seconds"]["maximum"] == 600
    assert gen.input_schema["required"] == ["prompt"]
    assert tools["delete_video"].annotations.destructive_hint is not False
    for name in ("get_status", "list_videos", "get_frame", "estimate_cost"):
        assert tools[name].annotations.read_only_hint is True, name
    for name in ("remix_video", "edit_video", "extend_video", "download_video", "join_videos", "forget_video"):
        assert tools[name].annotations.read_only_hint is not True and tools[name].annotations.destructive_hint is False
    assert tools["estimate_cost"].annotations.open_world_hint is False


async def test_generate_returns_at_once_with_cost_and_hint(server, sim, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
    assert data["status"] == "queued" and data["video_id"].startswith("video_")
    assert data["cost_usd"] == 0.4 and data["budget_remaining_usd"] == pytest.approx(49.6)
    assert "get_status" in data["hint"] and "$0.40" in data["hint"]
    assert data["file_path"] is None and data["next_check_seconds"] >= 3
    assert sim.state.stats()["requests"] == {"create": 1}  # no polling, no download: it returned at once
    row = JobRecord(data_dir() / "jobs.sqlite3").get(data["video_id"])
    assert row is not None and row.cost_usd == 0.4 and row.kind == "create"


async def test_generate_with_wait_downloads_and_reports_progress(server, settings: Settings):
    events: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append((progress, total, message))

    async with Client(server) as c:
        result = await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 30},
                                   progress_callback=on_progress)
    data = ok(result)
    assert data["status"] == "completed" and data["progress"] == 100
    path = Path(data["file_path"])
    assert path.parent == settings.output_dir and path.suffix == ".mp4" and path.stat().st_size > 10_000
    assert Path(data["thumbnail_path"]).read_bytes()[8:12] == b"WEBP"
    values = [e[0] for e in events]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing, as MCP requires
    assert events[0][2] == f"{data['video_id']}: completed"  # the instant simulator finishes at once
    assert events[-1][0] == pytest.approx(100.01, abs=0.02) and events[-1][2].endswith("downloaded")
    assert all(total == 100 for _, total, _ in events)
    images = [b for b in result.content if isinstance(b, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/webp"
    thumb = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert max(thumb.size) <= 256
    links = [b.uri for b in result.content if isinstance(b, ResourceLink)]
    assert links == [f"sora2://videos/{data['video_id']}", f"sora2://videos/{data['video_id']}/thumbnail"]
    assert not any(getattr(b, "mime_type", "") == "video/mp4" for b in result.content)  # never the MP4 inline


async def test_get_status_reads_only_and_download_video_saves_once(server, sim, sim_config, settings: Settings):
    import asyncio

    sim_config.instant = False
    sim_config.speed = 4.0  # 720x1280 x 4 s: 0.25 s queued, then 0.5 s of rendering
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        await asyncio.sleep(0.35)
        first = ok(await c.call_tool("get_status", {"video_id": vid}))
        await asyncio.sleep(0.15)
        second = ok(await c.call_tool("get_status", {"video_id": vid}))
        assert first["status"] == second["status"] == "in_progress"
        assert 0 < first["progress"] < second["progress"] < 100
        assert second["eta_seconds"] is not None and second["eta_seconds"] > 0
        assert "Rendering" in second["hint"] and second["file_path"] is None
        sim.state.advance_clock(10.0)
        done = ok(await c.call_tool("get_status", {"video_id": vid}))
        assert not settings.output_dir.exists() or not any(settings.output_dir.iterdir())  # nothing saved
        assert "content" not in sim.state.stats()["requests"]  # nor downloaded
        saved = ok(await c.call_tool("download_video", {"video_id": vid}))
        again = ok(await c.call_tool("get_status", {"video_id": vid}))
        twice = ok(await c.call_tool("download_video", {"video_id": vid}))
    assert done["status"] == "completed" and done["file_path"] is None and done["eta_seconds"] is None
    assert "download_video" in done["hint"] and done["target_path"] in done["hint"]
    assert saved["file_path"] == done["target_path"] == again["file_path"] == twice["file_path"]
    assert Path(saved["file_path"]).is_file() and again["target_path"] is None
    assert sim.state.stats()["requests"]["content"] == 2  # the MP4 and the thumbnail, once each


async def test_get_status_waits_with_progress(server, sim_config):
    sim_config.instant = False
    sim_config.speed = 20.0
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        data = ok(await c.call_tool("get_status", {"video_id": vid, "wait_seconds": 20},
                                    progress_callback=on_progress))
    assert data["status"] == "completed" and data["file_path"] is None and data["target_path"]
    assert not Path(data["target_path"]).exists()  # waiting inside get_status is still only reading
    assert seen and seen == sorted(seen)


async def test_wait_runs_out_and_the_job_keeps_running(server, sim_config):
    sim_config.instant = False
    sim_config.speed = 0.05  # far slower than the wait
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 0.5}))
    assert data["status"] == "queued" and "get_status" in data["hint"]


async def test_identical_request_returns_the_existing_job(server, sim, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        first = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 8}))
        again = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": "8s"}))
        other = ok(await c.call_tool("generate_video", {"prompt": PROMPT + ", at night", "seconds": 8}))
    assert again["video_id"] == first["video_id"] and again["reused_existing"] is True
    assert "nothing new was paid" in again["hint"]
    assert again["budget_remaining_usd"] == first["budget_remaining_usd"] == pytest.approx(49.2)
    assert other["video_id"] != first["video_id"] and other["reused_existing"] is False
    assert sim.state.jobs_created == 2


async def test_identical_request_after_the_window_is_a_new_job(make_server, settings, sim):
    from dataclasses import replace

    server = make_server(replace(settings, dedupe_seconds=0))
    async with Client(server) as c:
        a = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
        b = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
    assert a["video_id"] != b["video_id"] and sim.state.jobs_created == 2


async def test_failed_job_reports_code_and_message(server):
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": "__policy__ a cat", "wait_seconds": 10}))
    assert data["status"] == "failed" and data["error_code"] == "moderation_blocked"
    assert "moderation" in data["error_message"] and "Rephrase" in data["hint"] and data["file_path"] is None


async def test_local_validation_names_the_allowed_values(server, sim):
    async with Client(server) as c:
        size = error(await c.call_tool("generate_video", {"prompt": PROMPT, "size": "1920x1080"}))
        seconds = error(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 7}))
        empty = error(await c.call_tool("generate_video", {"prompt": "   "}))
    assert "1920x1080 needs sora-2-pro" in size and "720x1280" in size
    assert "seconds" in seconds and "4" in seconds
    assert "prompt is empty" in empty
    assert sim.state.stats()["requests"] == {}


async def test_unknown_video_is_a_readable_error(server):
    async with Client(server) as c:
        msg = error(await c.call_tool("get_status", {"video_id": "video_doesnotexist"}))
        bad = error(await c.call_tool("get_status", {"video_id": "../../etc/passwd"}))
    assert "not found" in msg and "check the video id" in msg
    assert "not a valid video id" in bad


async def test_remix_and_extend_are_priced_and_recorded(server, sim, sim_config):
    async with Client(server) as c:
        src = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 4}))
        sim_config.instant = False  # new jobs stay queued: nothing more to render in this test
        remix = ok(await c.call_tool("remix_video", {"video_id": src["video_id"], "prompt": "Make it night"}))
        remix_again = ok(await c.call_tool("remix_video", {"video_id": src["video_id"], "prompt": "Make it night"}))
        ext = ok(await c.call_tool("extend_video", {"video_id": src["video_id"], "prompt": "The cat bows",
                                                   "seconds": "8"}))
    assert src["cost_usd"] == 0.4 and src["status"] == "completed"
    assert remix["cost_usd"] == 0.4 and remix["kind"] == "remix" and remix["status"] == "queued"
    assert remix["model"] == "sora-2" and remix["seconds"] == 4
    assert remix_again["video_id"] == remix["video_id"] and remix_again["reused_existing"]
    assert ext["cost_usd"] == 0.8 and ext["seconds"] == 12 and ext["kind"] == "extend"  # only 8 s are added
    assert ext["budget_remaining_usd"] == pytest.approx(50 - 0.4 - 0.4 - 0.8)
    assert sim.state.jobs_created == 3
    record = JobRecord(data_dir() / "jobs.sqlite3")
    assert record.get(ext["video_id"]).source_id == src["video_id"]


async def test_remix_of_an_unfinished_clip_is_refused_and_not_charged(server, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        src = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
        msg = error(await c.call_tool("remix_video", {"video_id": src["video_id"], "prompt": "Make it night"}))
        left = ok(await c.call_tool("estimate_cost", {}))["budget_remaining_usd"]
    assert "only a completed video can be remixed" in msg
    assert left == pytest.approx(49.6)  # the refused remix's reservation was released


async def test_list_videos_merges_service_and_local_record(server, sim, sim_config):
    async with Client(server) as c:
        kept = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))
        sim_config.instant = False
        gone = ok(await c.call_tool("generate_video", {"prompt": "A dog surfing"}))
        sim.state.delete_job(gone["video_id"])  # e.g. deleted from the provider's dashboard
        sim.state.add_job(model="sora-2", prompt="made elsewhere", size="720x1280", seconds=4)
        data = ok(await c.call_tool("list_videos", {"limit": 10}))
    by_id = {v["video_id"]: v for v in data["videos"]}
    assert len(by_id) == 3 and data["service_error"] is None
    assert by_id[kept["video_id"]]["on_service"] and by_id[kept["video_id"]]["in_local_record"]
    assert by_id[kept["video_id"]]["cost_usd"] == 0.4 and by_id[kept["video_id"]]["file_path"]
    assert not by_id[gone["video_id"]]["on_service"] and by_id[gone["video_id"]]["status"] == "deleted"
    other = next(v for v in data["videos"] if v["prompt"] == "made elsewhere")
    assert other["on_service"] and not other["in_local_record"] and other["cost_usd"] is None


async def test_list_videos_survives_a_service_outage(server, sim):
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        sim.faults.endpoints = ["list"]
        sim.faults.server_error_next = 100
        data = ok(await c.call_tool("list_videos", {"limit": 5}))
    assert data["service_error"] and "HTTP 500" in data["service_error"]
    assert [v["video_id"] for v in data["videos"]] == [vid]


async def test_download_variants_and_filename_rules(server, settings: Settings):
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))["video_id"]
        thumb = await c.call_tool("download_video", {"video_id": vid, "variant": "thumbnail"})
        sprite = await c.call_tool("download_video", {"video_id": vid, "variant": "spritesheet",
                                                     "filename": "cat-frames"})
        video = ok(await c.call_tool("download_video", {"video_id": vid}))
        copy = ok(await c.call_tool("download_video", {"video_id": vid, "filename": "my clip.mp4"}))
        escapes = [
            error(await c.call_tool("download_video", {"video_id": vid, "filename": name}))
            for name in ("../evil.mp4", "/tmp/evil.mp4", "sub/dir.mp4", "..", "a\\b.mp4")
        ]
    t = ok(thumb)
    assert t["mime_type"] == "image/webp" and Path(t["file_path"]).parent == settings.output_dir
    assert any(isinstance(b, ImageContent) for b in thumb.content)
    s = ok(sprite)
    assert Path(s["file_path"]) == settings.output_dir / "cat-frames.jpg" and s["mime_type"] == "image/jpeg"
    assert Path(s["file_path"]).read_bytes()[:2] == b"\xff\xd8"
    sprite_img = next(b for b in sprite.content if isinstance(b, ImageContent))
    assert max(Image.open(io.BytesIO(base64.b64decode(sprite_img.data))).size) <= 768
    assert Path(video["file_path"]) == settings.output_dir / f"{vid}.mp4"
    assert Path(copy["file_path"]) == settings.output_dir / "my clip.mp4"
    assert Path(copy["file_path"]).read_bytes() == Path(video["file_path"]).read_bytes()
    assert all("output folder" in e for e in escapes)
    tmp = settings.output_dir.parent
    assert not [p for p in tmp.rglob("*") if p.name in ("evil.mp4", "dir.mp4", "b.mp4")]  # nothing escaped


async def test_download_before_completion_is_refused(server, sim_config):
    sim_config.instant = False
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        msg = error(await c.call_tool("download_video", {"video_id": vid}))
    assert "nothing to download yet" in msg and "get_status" in msg


async def test_delete_keeps_the_local_file_and_status_comes_from_the_record(server, sim):
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))
        deleted = ok(await c.call_tool("delete_video", {"video_id": data["video_id"]}))
        after = ok(await c.call_tool("get_status", {"video_id": data["video_id"]}))
        again = ok(await c.call_tool("delete_video", {"video_id": data["video_id"]}))
        unknown = error(await c.call_tool("delete_video", {"video_id": "video_never_made"}))
    assert deleted["deleted"] and deleted["local_file_kept"] == data["file_path"] and not deleted["already_deleted"]
    assert Path(data["file_path"]).is_file()
    assert after["status"] == "deleted" and after["file_path"] == data["file_path"]
    # Annotated idempotent: a repeat succeeds and says so; an id this machine never made is still an error.
    assert again["deleted"] and again["already_deleted"] and "Already deleted" in again["hint"]
    assert "never created one with that id" in unknown


async def test_estimate_cost_says_whether_the_guard_allows_it(server, sim):
    async with Client(server) as c:
        cheap = ok(await c.call_tool("estimate_cost", {"model": "sora-2", "seconds": 12}))
        dear = ok(await c.call_tool("estimate_cost", {"model": "sora-2-pro", "size": "1920x1080", "seconds": 12}))
        bad = error(await c.call_tool("estimate_cost", {"model": "sora-2", "size": "1920x1080"}))
    assert cheap["usd"] == 1.2 and cheap["allowed"] and cheap["simulated"] and cheap["budget_period"] == "day"
    assert dear["usd"] == 6.0 and not dear["allowed"] and "per-call limit" in dear["reason"]
    assert "needs sora-2-pro" in bad
    assert sim.state.stats()["requests"] == {}


async def test_resources_metadata_and_thumbnail(server):
    async with Client(server) as c:
        templates = {t.uri_template: t for t in (await c.list_resource_templates()).resource_templates}
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 10}))
        meta = await c.read_resource(data["resource_uri"])
        thumb = await c.read_resource(data["thumbnail_uri"])
        with pytest.raises(MCPError):
            await c.read_resource("sora2://videos/video_unknown123")
    assert templates["sora2://videos/{video_id}"].mime_type == "application/json"
    assert templates["sora2://videos/{video_id}/thumbnail"].mime_type == "image/webp"
    body = json.loads(meta.contents[0].text)
    assert body["service"]["status"] == "completed" and body["local"]["cost_usd"] == 0.4
    assert body["local"]["files"]["video"] == data["file_path"]
    assert thumb.contents[0].mime_type == "image/webp"
    assert base64.b64decode(thumb.contents[0].blob)[8:12] == b"WEBP"


async def test_thumbnail_resource_downloads_when_needed(server, sim_config):
    sim_config.instant = False
    sim_config.speed = 1000.0
    async with Client(server) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
        import asyncio

        await asyncio.sleep(0.1)
        thumb = await c.read_resource(f"sora2://videos/{vid}/thumbnail")
    assert base64.b64decode(thumb.contents[0].blob)[8:12] == b"WEBP"


async def test_missing_key_gives_a_readable_error_and_estimates_still_work(settings, monkeypatch):
    from sora2_bridge.mcp_server.server import create_server

    server = create_server(settings, provider="cometapi")
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT}))
        price = ok(await c.call_tool("estimate_cost", {"seconds": 8}))
    assert "SORA2_API_KEY" in msg and "COMETAPI_KEY" in msg
    assert price["usd"] == 0.8 and price["provider"] == "cometapi" and not price["simulated"]


async def test_the_key_never_appears_in_results(make_server, sim):
    secret = "sk-fake-live-ABCDEFGHIJKLMNOP0123456789"
    server = make_server(config=resolve_config("local", sim.base_url, api_key=secret))
    texts: list[str] = []
    async with Client(server) as c:
        for name, args in [
            ("generate_video", {"prompt": PROMPT, "wait_seconds": 10}),
            ("get_status", {"video_id": "video_missing"}),
            ("generate_video", {"prompt": PROMPT, "model": "sora-2-pro", "size": "1920x1080", "seconds": 20}),
            ("list_videos", {}),
            ("estimate_cost", {}),
        ]:
            result = await c.call_tool(name, args)
            texts.append(result.model_dump_json())
    assert all(secret not in t for t in texts)
    assert sim.state.requests["create"] == 1


async def test_concurrent_retries_and_polls_create_once_and_download_once(server, sim, sim_config):
    import asyncio

    sim_config.instant = False
    sim.faults.endpoints = ["create"]
    sim.faults.latency_ms = 100  # a client retrying while the first create is still in flight
    async with Client(server) as c:
        created = await asyncio.gather(*[c.call_tool("generate_video", {"prompt": PROMPT}) for _ in range(5)])
        ids = {ok(r)["video_id"] for r in created}
        assert len(ids) == 1 and sim.state.jobs_created == 1
        assert sum(ok(r)["reused_existing"] for r in created) == 4
        (vid,) = ids
        sim.state.advance_clock(60)
        statuses = await asyncio.gather(*[c.call_tool("get_status", {"video_id": vid}) for _ in range(5)])
        saves = await asyncio.gather(*[c.call_tool("download_video", {"video_id": vid}) for _ in range(5)])
    assert {ok(r)["status"] for r in statuses} == {"completed"}
    assert len({ok(r)["file_path"] for r in saves}) == 1
    assert sim.state.stats()["requests"]["content"] == 2  # one MP4, one thumbnail


async def test_a_guessed_price_is_said_in_the_estimate_and_before_paying(make_server, sim):
    """openai lists no price for sora-2-pro at 1080p: the estimate and generate_video say the price is a guess."""
    server = make_server(config=resolve_config("openai", sim.base_url, "sk-fake-openai-key"))
    async with Client(server) as c:
        estimate = (await c.call_tool("estimate_cost", {"model": "sora-2-pro", "size": "1920x1080"}))
        listed = (await c.call_tool("estimate_cost", {"model": "sora-2-pro", "size": "1280x720"}))
        made = await c.call_tool("generate_video", {"prompt": PROMPT, "model": "sora-2-pro", "size": "1920x1080"})
    assert "no listed price for sora-2-pro at 1920x1080" in estimate.structured_content["price_note"]
    assert listed.structured_content.get("price_note") is None
    assert any("no listed price" in w for w in made.structured_content["warnings"])
