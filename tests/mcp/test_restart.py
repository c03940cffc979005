"""Nothing paid for is lost: a restarted server finds its jobs, and the collector saves what nobody asked for."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from mcp import Client
from mcp.types import CallToolResult

from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir

PROMPT = "A calico cat playing a piano on stage"


def ok(result: CallToolResult) -> dict:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content  # type: ignore[return-value]


async def test_a_restarted_server_answers_and_downloads_a_job_it_created(make_server, sim, sim_config):
    sim_config.instant = False
    async with Client(make_server()) as c:
        created = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))
    assert created["status"] == "queued"
    # The first server is gone (client closed, process restarted); the job finishes meanwhile.
    sim.state.advance_clock(60)
    async with Client(make_server()) as c:
        status = ok(await c.call_tool("get_status", {"video_id": created["video_id"]}))
        saved = ok(await c.call_tool("download_video", {"video_id": created["video_id"]}))
        listed = ok(await c.call_tool("list_videos", {}))
    assert status["status"] == "completed" and saved["file_path"] == status["target_path"]
    assert Path(saved["file_path"]).is_file()
    assert status["cost_usd"] == 0.4 and status["kind"] == "create"  # known from the shared record
    assert listed["videos"][0]["video_id"] == created["video_id"] and listed["videos"][0]["cost_usd"] == 0.4


async def test_the_collector_downloads_paid_jobs_nobody_asked_about(make_server, settings, sim, sim_config):
    sim_config.instant = False
    async with Client(make_server()) as c:
        vid = ok(await c.call_tool("generate_video", {"prompt": PROMPT}))["video_id"]
    sim.state.advance_clock(60)
    # Jobs made by other front ends (not paid through this server's guard) are left alone.
    other = sim.state.add_job(model="sora-2", prompt="from the CLI", size="720x1280", seconds=4)
    record = JobRecord(data_dir() / "jobs.sqlite3")
    from sora2_bridge.shared.models import Video

    record.add(Video(id=other.id, status="queued"), provider="local", base_url=sim.base_url, kind="create",
               request={}, cost_usd=0.4)
    sim.state.advance_clock(60)
    server = make_server(replace(settings, auto_download=True, collector_interval=0.05))
    async with Client(server):
        for _ in range(200):
            row = record.get(vid)
            if row is not None and row.files.get("video"):
                break
            await asyncio.sleep(0.05)
    row = record.get(vid)
    assert row.files.get("video") and Path(row.files["video"]).parent == settings.output_dir
    assert Path(row.files["thumbnail"]).is_file()
    assert not record.get(other.id).files
