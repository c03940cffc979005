"""The tools against recorded CometAPI exchanges (tests/cassettes): the real wire format, no key, no network."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from mcp import Client
from mcp.types import CallToolResult, ImageContent

from sora2_bridge.mcp_server.server import create_server
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared import AsyncSoraClient, ClientConfig, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.models import Video

VID = "video_68f1c0a2b3d48190a1b2c3d4e5f60718"
PROMPT = "A calico cat playing a piano on stage"
KEY = "sk-fake-replay-0123456789abcdef"


def ok(result: CallToolResult) -> dict:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content  # type: ignore[return-value]


def error(result: CallToolResult) -> str:
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def server(settings: Settings, sleeps: list[float]):
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def factory(config: ClientConfig, record: JobRecord, s: Settings) -> AsyncSoraClient:
        return AsyncSoraClient(config, record=record, downloads_dir=s.output_dir, sleep=fake_sleep,
                               retry=RetryPolicy(max_attempts=3))

    return create_server(settings, config=resolve_config("cometapi", api_key=KEY, env={}), client_factory=factory)


@pytest.mark.vcr("lifecycle.yaml")
async def test_lifecycle_generate_wait_download_delete(server, settings, sleeps):
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(server) as c:
        result = await c.call_tool(
            "generate_video", {"prompt": PROMPT, "size": "720x1280", "seconds": 4, "wait_seconds": 300},
            progress_callback=on_progress,
        )
        data = ok(result)
        deleted = ok(await c.call_tool("delete_video", {"video_id": VID}))
    assert data["video_id"] == VID and data["status"] == "completed" and data["cost_usd"] == 0.4
    assert any("rendering 42%" in m for m in progress) and any("rendering 88%" in m for m in progress)
    assert sleeps and sleeps[0] >= 2.0  # the service's poll-after hint is honoured
    path = Path(data["file_path"])
    assert path == settings.output_dir / f"{VID}.mp4"
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (720, 1280)
    assert any(isinstance(b, ImageContent) for b in result.content)
    assert deleted["deleted"] and deleted["local_file_kept"] == str(path)
    row = JobRecord(data_dir() / "jobs.sqlite3").get(VID)
    assert row.status == "deleted" and row.cost_usd == 0.4 and row.files["video"] == str(path)


@pytest.mark.vcr("moderation_at_create.yaml")
async def test_refused_at_create_releases_the_budget(server):
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT}))
        left = ok(await c.call_tool("estimate_cost", {}))
    assert "moderation" in msg and "rephrase" in msg and "req_" in msg
    assert left["budget_remaining_usd"] == 50.0 and not left["simulated"]
    assert JobRecord(data_dir() / "jobs.sqlite3").list() == []


@pytest.mark.vcr("job_failed.yaml")
async def test_failed_job(server):
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "wait_seconds": 60}))
    assert data["status"] == "failed" and data["error_code"] == "moderation_blocked"
    assert "Rephrase" in data["hint"] and data["file_path"] is None


@pytest.mark.vcr("auth_error.yaml")
async def test_auth_error_names_the_variable_not_the_key(server):
    async with Client(server) as c:
        result = await c.call_tool("get_status", {"video_id": VID})
    msg = error(result)
    assert "HTTP 401" in msg and "SORA2_API_KEY" in msg and "req_" in msg
    assert KEY not in result.model_dump_json()


@pytest.mark.vcr("not_found.yaml")
async def test_not_found(server):
    async with Client(server) as c:
        msg = error(await c.call_tool("get_status", {"video_id": "video_missing"}))
    assert "not found" in msg and "check the video id" in msg


@pytest.mark.vcr("remix_extend_edit.yaml")
async def test_remix_and_extend_of_a_recorded_job(server):
    # The source was made from this machine earlier, so its model, size and length are known without a request.
    record = JobRecord(data_dir() / "jobs.sqlite3")
    record.add(Video(id=VID, status="completed", model="sora-2", size="720x1280", seconds="4", prompt=PROMPT),
               provider="cometapi", base_url="https://api.cometapi.com/v1", kind="create", request={}, cost_usd=0.4)
    async with Client(server) as c:
        remix = ok(await c.call_tool("remix_video", {
            "video_id": VID, "prompt": "Extend the scene with the cat taking a bow to the cheering audience"}))
        ext = ok(await c.call_tool("extend_video", {"video_id": VID, "prompt": "The cat walks off stage",
                                                   "seconds": 8}))
    assert remix["kind"] == "remix" and remix["cost_usd"] == 0.4 and remix["status"] == "queued"
    assert ext["kind"] == "extend" and ext["cost_usd"] == 0.8 and ext["seconds"] == 12
    assert ext["budget_remaining_usd"] == pytest.approx(50 - 1.2)
