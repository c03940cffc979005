"""The shared fault catalog (tests/conftest.py) against the MCP server: a readable result, the clip saved (by
download_video; get_status only reads) when the service delivered it, nothing paid twice, every job in the shared
record."""

from __future__ import annotations

import json
from pathlib import Path

import av
from mcp import Client

from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir


async def test_mcp_survives(fault, dialect, make_server, sim, sim_config):
    sim_config.instant = False  # the job is still rendering when generate_video returns: nothing downloaded yet
    server = make_server(client_factory=None)  # the production retry policy
    async with Client(server) as c:
        fault.apply(sim, "create")
        created = await c.call_tool("generate_video", {"prompt": "A lighthouse at dusk" + fault.prompt_suffix})
        assert not created.is_error, created.content[0].text
        vid = created.structured_content["video_id"]
        sim.state.advance_clock(30)  # the service finishes while the agent is away
        fault.apply(sim, "download")
        fault.apply(sim, "expired")
        status = await c.call_tool("get_status", {"video_id": vid})
        target = (status.structured_content or {}).get("target_path")
        assert target is None or not Path(target).exists()  # reading the status saved nothing
        saved = await c.call_tool("download_video", {"video_id": vid})
    text = " ".join(r.content[0].text if r.is_error else json.dumps(r.structured_content) for r in (status, saved))
    assert "Traceback" not in text
    assert sim.state.stats()["jobs_created"] == 1  # nothing paid twice
    assert JobRecord(data_dir() / "jobs.sqlite3").get(vid) is not None  # nothing paid for is lost
    if fault.words(dialect) is None:
        assert not status.is_error, text
        data = status.structured_content
        assert data["status"] == "completed" and data["file_path"] is None
        assert not saved.is_error, saved.content[0].text
        assert saved.structured_content["file_path"] == data["target_path"]
        with av.open(saved.structured_content["file_path"]) as container:
            assert container.streams.video[0].frames == 120
    else:
        assert all(w in text for w in fault.words(dialect)), text
