"""The shared fault catalog (tests/conftest.py) against the ComfyUI nodes.

Sora 2 Video creates the job under the create-time faults; the user presses Cancel while it renders (the job is
kept in the shared record); the service finishes; then the download-time faults are set and Sora 2 Load Job
collects the clip. Each run: a readable message or an intact clip, exactly one job paid for, the job recorded.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from sora2_bridge.nodes.generate import Sora2Video
from sora2_bridge.nodes.jobs import Sora2LoadJob
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.shared import JobRecord, RetryPolicy
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.video import probe


async def wait_for_recorded_job(timeout: float = 20.0) -> str:
    record = JobRecord(data_dir() / "jobs.sqlite3")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = record.list()
        if rows:
            return rows[0].id
        await asyncio.sleep(0.05)
    raise AssertionError("no job was recorded")


async def test_nodes_survive(fault, dialect, comfy, local, sim_config, monkeypatch):
    from sora2_bridge.nodes import runtime

    # the production retry policy (the harness shortens it to keep other tests quick)
    monkeypatch.setitem(runtime.client_overrides, "retry", RetryPolicy())
    sim_config.instant = False
    sim_config.speed = 0.05  # about a minute of rendering: Cancel comes first
    fault.apply(local, "create")
    task = asyncio.ensure_future(comfy.run(Sora2Video, prompt="A lighthouse at dusk" + fault.prompt_suffix, seed=3))
    video_id = await wait_for_recorded_job()
    comfy.cancel()
    with pytest.raises(comfy.Interrupted, match=video_id):
        await task
    comfy.reset_cancel()
    httpx.post(f"{local.root_url}/_sim/clock", json={"advance": 120})  # the service finishes meanwhile
    fault.apply(local, "download")
    fault.apply(local, "expired")
    if fault.words(dialect) is None:
        out = await comfy.run(Sora2LoadJob, video_id=video_id)
        video, same_id, _, _ = out.args
        assert same_id == video_id and probe(video.get_stream_source()).frames == 120
    else:
        with pytest.raises(NodeError) as exc:
            await comfy.run(Sora2LoadJob, video_id=video_id)
        message = str(exc.value)
        assert all(w in message for w in fault.words(dialect)) and "Traceback" not in message, message
    assert local.state.stats()["jobs_created"] == 1  # nothing paid twice
    assert JobRecord(data_dir() / "jobs.sqlite3").get(video_id) is not None  # nothing paid for is lost
