"""The shared client against the local simulator: the same code that replays the cassettes, plus the faults."""

from __future__ import annotations

import asyncio
import io

import av
import httpx
import pytest
from PIL import Image

from sora2_bridge.shared import (
    AsyncSoraClient,
    ExpiredError,
    ImageInput,
    JobFailedError,
    JobRecord,
    RetryPolicy,
    SoraClient,
    fit_image,
    resolve_config,
)

PROMPT = "A calico cat playing a piano on stage"


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def local_client(sim, tmp_path, **kw) -> AsyncSoraClient:
    kw.setdefault("sleep", no_sleep)
    return AsyncSoraClient(resolve_config("local", sim.base_url), record=JobRecord(tmp_path / "jobs.db"),
                           downloads_dir=tmp_path / "videos", **kw)


async def lifecycle(client: AsyncSoraClient, tmp_path) -> None:
    """One scenario, two backends: the cassette of the documented exchanges and the simulator."""
    events = []
    video = await client.create_and_poll(PROMPT, size="720x1280", seconds=4, on_progress=events.append)
    assert video.status == "completed" and video.progress == 100 and events[-1].progress == 100
    assert video.expires_at >= video.completed_at + 3500
    path = await client.download_content(video.id)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
        assert stream.codec_context.name == "h264" and container.streams.audio[0].codec_context.name == "aac"
    thumb = await client.download_content(video.id, tmp_path, variant="thumbnail")
    assert thumb.read_bytes()[8:12] == b"WEBP"
    assert client.record.get(video.id).files["video"] == str(path.resolve())
    assert (await client.delete(video.id)).deleted


@pytest.mark.parametrize("backend", [
    pytest.param("cassette", marks=pytest.mark.vcr("lifecycle.yaml")),
    "simulator",
])
async def test_same_client_code_passes_against_cassette_and_simulator(backend, request, tmp_path):
    if backend == "simulator":
        sim = request.getfixturevalue("sim")
        async with local_client(sim, tmp_path) as client:
            await lifecycle(client, tmp_path)
    else:
        cfg = resolve_config("cometapi", api_key="sk-replay-only", env={})
        async with AsyncSoraClient(cfg, record=JobRecord(tmp_path / "jobs.db"), downloads_dir=tmp_path / "videos",
                                   sleep=no_sleep) as client:
            await lifecycle(client, tmp_path)


def test_sync_facade_every_operation(sim, tmp_path):
    with SoraClient(resolve_config("local", sim.base_url), record=JobRecord(tmp_path / "j.db"),
                    downloads_dir=tmp_path) as client:
        first = client.create_and_poll("A paper airplane glides across a desk", size="1280x720", seconds=4)
        assert first.status == "completed" and first.size == "1280x720"
        remix = client.wait(client.remix(first.id, "Make the airplane red").id)
        assert remix.remixed_from_video_id == first.id
        ext = client.wait(client.extend(first.id, "It lands softly", 4).id)
        assert ext.seconds == "8"
        edit = client.wait(client.edit(first.id, "At night").id)
        assert edit.status == "completed"
        ids = [v.id for v in client.list(limit=2)]  # page size 2: auto-paging walks every page
        assert set(ids) == {first.id, remix.id, ext.id, edit.id}
        sheet = client.download_content(first.id, variant="spritesheet")
        assert sheet.suffix == ".jpg" and Image.open(sheet).format == "JPEG"
        with av.open(str(client.download_content(ext.id))) as c:
            assert c.streams.video[0].frames == 8 * 30
        assert client.retrieve(first.id).id == first.id
        assert client.delete(first.id).deleted
        assert {r.kind for r in client.record.list()} == {"create", "remix", "extend", "edit"}


async def test_image_to_video_first_frame_is_the_fitted_image(sim, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 200, 60)).save(buf, "PNG")
    image = fit_image(ImageInput(data=buf.getvalue(), mime_type="image/png"), "1280x720", "crop")
    async with local_client(sim, tmp_path) as client:
        video = await client.create_and_poll("A meadow in the wind", size="1280x720", input_reference=image)
        path = await client.download_content(video.id)
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    r, g, b = frame.reshape(-1, 3).mean(axis=0)
    assert g > 150 and r < 80 and b < 110


async def test_lost_create_response_leaves_exactly_one_job(sim, tmp_path):
    sim.faults.lose_create_next = 1
    async with local_client(sim, tmp_path) as client:
        video = await client.create(PROMPT)
        assert video.status in ("queued", "in_progress", "completed")
    stats = sim.state.stats()
    assert stats["jobs_created"] == 1 and stats["requests"]["create"] == 1 and stats["requests"]["list"] == 1
    assert [r.id for r in JobRecord(tmp_path / "jobs.db").list()] == [video.id]


async def test_rate_limit_and_server_error_storms_are_survived(sim, tmp_path):
    sim.faults.rate_limit_next = 2
    sim.faults.retry_after_seconds = 0
    async with local_client(sim, tmp_path) as client:
        video = await client.create_and_poll(PROMPT)
        sim.faults.server_error_next = 2
        sim.faults.server_error_status = 503
        assert (await client.retrieve(video.id)).status == "completed"
        sim.faults.malformed_json_next = 1
        assert (await client.retrieve(video.id)).status == "completed"
    assert sim.state.stats()["jobs_created"] == 1


async def test_dropped_and_truncated_downloads_are_retried(sim, tmp_path):
    async with local_client(sim, tmp_path) as client:
        video = await client.create_and_poll(PROMPT)
        clean = (await client.download_content(video.id, tmp_path / "clean.mp4")).read_bytes()
        sim.faults.drop_download_next = 1
        dropped = await client.download_content(video.id, tmp_path / "dropped.mp4")
        sim.faults.truncate_download_next = 1
        truncated = await client.download_content(video.id, tmp_path / "truncated.mp4")
    assert dropped.read_bytes() == clean and truncated.read_bytes() == clean
    assert sim.state.stats()["requests"]["content"] == 5


async def test_content_policy_failure_is_readable(sim, tmp_path):
    async with local_client(sim, tmp_path) as client:
        with pytest.raises(JobFailedError) as exc:
            video = await client.create(f"A scene with {sim.faults.policy_marker}")
            await client.wait(video.id)
    assert exc.value.is_content_policy and "moderation" in str(exc.value)
    assert JobRecord(tmp_path / "jobs.db").get(exc.value.video_id).status == "failed"


async def test_expired_content(sim, sim_config, tmp_path):
    sim_config.ttl = 60
    async with local_client(sim, tmp_path) as client:
        video = await client.create_and_poll(PROMPT)
        async with httpx.AsyncClient() as admin:
            (await admin.post(f"{sim.root_url}/_sim/clock", json={"advance": 120})).raise_for_status()
        with pytest.raises(ExpiredError, match="expired"):
            await client.download_content(video.id)


async def test_concurrent_jobs_respect_the_running_cap(sim, sim_config, tmp_path):
    sim_config.instant = False
    sim_config.speed = 20.0
    sim_config.max_running_jobs = 2
    async with local_client(sim, tmp_path, sleep=asyncio.sleep, retry=RetryPolicy(max_attempts=8)) as client:
        client._job_slots = asyncio.Semaphore(2)
        videos = await asyncio.gather(*(client.create_and_poll(f"clip {i}") for i in range(5)))
    assert all(v.status == "completed" for v in videos)
    assert sim.state.stats()["jobs_created"] == 5


async def test_polling_spends_far_fewer_calls_than_a_fixed_one_second_poll(sim_config, sim_app, tmp_path):
    """Virtual time: a 4 s clip that renders in ~120 s costs a handful of retrieves, and is noticed promptly."""
    now = [1_760_000_000.0]
    sim_config.instant = False
    sim_config.speed = 3 / 120
    sim_config.clock = lambda: now[0]

    async def advance(seconds: float) -> None:
        now[0] += seconds

    transport = httpx.ASGITransport(app=sim_app)
    cfg = resolve_config("local", "http://simulator/v1")
    async with AsyncSoraClient(cfg, transport=transport, record=False, clock=lambda: now[0], sleep=advance) as c:
        video = await c.create(PROMPT)
        done = await c.poll(video.id)
        ours = sim_app.state.sim.stats()["requests"]["retrieve"]
        late = now[0] - (done.completed_at or 0)
        video2 = await c.create(PROMPT + " again")
        fixed = 0
        while (await c.retrieve(video2.id)).status != "completed":
            fixed += 1
            now[0] += 1.0
    assert ours * 5 < fixed + 1, (ours, fixed)
    assert late <= 2.0


async def test_jobs_are_findable_by_their_request_key(sim, tmp_path):
    """Front ends find an earlier identical job in the shared record instead of paying again."""
    async with local_client(sim, tmp_path) as client:
        req = client.build_request(PROMPT)
        first = await client.create_from_request(req)
        seeded = await client.create_from_request(req, key="comfyui:seed=7")
        await client.wait(first.id)
        remix = await client.remix(first.id, "At night")
        record = client.record
        from sora2_bridge.shared.client import request_key

        assert record.find_by_key(request_key("local", sim.base_url, req)).id == first.id
        assert record.find_by_key("comfyui:seed=7").id == seeded.id
        assert record.find_by_key(client.derived_key("remix", first.id, "At night")).id == remix.id
