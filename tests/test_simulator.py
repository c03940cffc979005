"""The simulator against the wire contract (docs/videos-api.md): bodies, errors, lifecycle, media and faults."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette

from sora2_bridge.shared.simulator import FaultConfig, SimulatorConfig, SimulatorServer, create_app
from sora2_bridge.shared.simulator import render as render_module
from sora2_bridge.shared.simulator.render import MediaCache, RenderSpec

AUTH = {"Authorization": "Bearer test-key"}
PROMPT = "A calico cat playing a piano on stage"  # the clip most tests download: rendered once per session
VIDEO_FIELDS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
}


def form(fields: dict[str, str]) -> list[tuple[str, tuple[None, str]]]:
    """Plain fields sent as multipart/form-data (what the SDK sends), not urlencoded."""
    return [(name, (None, value)) for name, value in fields.items()]


def create(client: httpx.Client, **fields: str) -> dict:
    r = client.post("/videos", files=form({"prompt": PROMPT, **fields}))
    assert r.status_code == 200, r.text
    return r.json()


def error_of(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


class VirtualClock:
    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def timed_app(sim_media_dir: Path, clock: VirtualClock) -> Starlette:
    """Real lifecycle (not instant) on a virtual clock: 720x1280 x 4 s = 1 s queued + 2 s in progress."""
    return create_app(SimulatorConfig(clock=clock, media_dir=sim_media_dir, poll_after_ms=1500))


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim/v1", headers=AUTH)


# -- create / retrieve / lifecycle -----------------------------------------------------------------------------
def test_create_returns_a_complete_video_object(sim_client: httpx.Client) -> None:
    r = sim_client.post(
        "/videos", files=form({"prompt": PROMPT, "model": "sora-2", "size": "1280x720", "seconds": "8"})
    )
    assert r.status_code == 200
    assert r.request.headers["content-type"].startswith("multipart/form-data")
    assert r.headers["x-request-id"].startswith("req_")
    video = r.json()
    assert set(video) == VIDEO_FIELDS
    assert video["id"].startswith("video_") and len(video["id"]) == 6 + 32
    int(video["id"][6:], 16)
    assert (video["object"], video["model"], video["size"], video["seconds"]) == ("video", "sora-2", "1280x720", "8")
    assert video["prompt"] == PROMPT and video["error"] is None and video["remixed_from_video_id"] is None
    got = sim_client.get(f"/videos/{video['id']}").json()
    assert got["id"] == video["id"] and got["status"] == "completed"


def test_json_body_with_defaults(sim_client: httpx.Client) -> None:
    video = sim_client.post("/videos", json={"prompt": PROMPT}).json()
    assert (video["model"], video["size"], video["seconds"]) == ("sora-2", "720x1280", "4")


async def test_lifecycle_progress_follows_the_clock(timed_app: Starlette, clock: VirtualClock) -> None:
    async with client_for(timed_app) as client:
        video = (await client.post("/videos", json={"prompt": PROMPT})).json()
        created = video["created_at"]
        seen = []
        for dt in (0.0, 0.5, 1.5, 2.0, 2.9, 3.0, 10.0):
            clock.now = created + dt
            r = await client.get(f"/videos/{video['id']}")
            seen.append((r.json()["status"], r.json()["progress"], r.headers.get("openai-poll-after-ms")))
        assert seen == [
            ("queued", 0, "1500"),
            ("queued", 0, "1500"),
            ("in_progress", 25, "1500"),
            ("in_progress", 50, "1500"),
            ("in_progress", 95, "1500"),
            ("completed", 100, None),
            ("completed", 100, None),
        ]
        done = (await client.get(f"/videos/{video['id']}")).json()
        assert done["completed_at"] == created + 3 and done["expires_at"] == created + 3 + 3600


async def test_bigger_sizes_and_longer_clips_take_longer(sim_media_dir: Path, clock: VirtualClock) -> None:
    app = create_app(SimulatorConfig(clock=clock, media_dir=sim_media_dir, speed=2.0, max_running_jobs=None))
    async with client_for(app) as client:
        small = (await client.post("/videos", json={"prompt": "a", "seconds": "4"})).json()
        long = (await client.post("/videos", json={"prompt": "a", "seconds": "12"})).json()
        big = (await client.post("/videos", json={"prompt": "a", "model": "sora-2-pro", "size": "1792x1024"})).json()
        clock.now += 1.5  # speed 2: 0.5 s queued, then 1 s (small), 3 s (long), ~2 s (big)
        status = {v["id"]: (await client.get(f"/videos/{v['id']}")).json()["status"] for v in (small, long, big)}
        assert status == {small["id"]: "completed", long["id"]: "in_progress", big["id"]: "in_progress"}


async def test_content_before_completion_is_an_invalid_request_error(timed_app: Starlette) -> None:
    async with client_for(timed_app) as client:
        video = (await client.post("/videos", json={"prompt": PROMPT})).json()
        err = error_of(await client.get(f"/videos/{video['id']}/content"), 400)
        assert err["type"] == "invalid_request_error" and "not ready" in err["message"]


# -- auth, errors, validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}])
def test_missing_or_malformed_key_is_401(sim: SimulatorServer, headers: dict) -> None:
    r = httpx.get(f"{sim.base_url}/videos", headers=headers)
    err = error_of(r, 401)
    assert err["code"] == "missing_api_key" and err["type"] == "invalid_request_error"
    assert r.headers["x-request-id"].startswith("req_")


def test_unknown_id_and_unknown_path_are_404(sim_client: httpx.Client) -> None:
    err = error_of(sim_client.get("/videos/video_missing"), 404)
    assert err == {
        "message": "Video with id 'video_missing' not found.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    error_of(sim_client.get("/videos/video_missing/content"), 404)
    error_of(sim_client.delete("/videos/video_missing"), 404)
    error_of(sim_client.post("/videos/video_missing/remix", json={"prompt": "x"}), 404)
    assert "Invalid URL" in error_of(sim_client.get("/nowhere"), 404)["message"]


@pytest.mark.parametrize(
    ("fields", "param", "code", "message"),
    [
        ({}, "prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."),
        ({"prompt": ""}, "prompt", "string_below_min_length", None),
        ({"prompt": "x" * 32001}, "prompt", "string_above_max_length", None),
        (
            {"prompt": "x", "seconds": "10"},
            "seconds",
            "invalid_value",
            "Invalid value: '10'. Supported values are: '4', '8', '12', '16', and '20'.",
        ),
        (
            {"prompt": "x", "size": "1792x1024"},
            "size",
            "invalid_value",
            "Invalid value: '1792x1024'. Supported values are: '720x1280' and '1280x720'.",
        ),
        ({"prompt": "x", "size": "640x480", "model": "some-future-model"}, "size", "invalid_value", None),
        ({"prompt": "x", "model": " "}, "model", "invalid_value", None),
    ],
)
def test_create_validation_errors(sim_client: httpx.Client, fields: dict, param: str, code: str, message: str) -> None:
    for send in ({"files": form(fields)} if fields else {"data": fields}, {"json": fields}):
        err = error_of(sim_client.post("/videos", **send), 400)
        assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
        if message:
            assert err["message"] == message


def test_json_types_are_checked(sim_client: httpx.Client) -> None:
    err = error_of(sim_client.post("/videos", json={"prompt": "x", "seconds": 8}), 400)
    assert (err["param"], err["code"]) == ("seconds", "invalid_type")
    err = error_of(sim_client.post("/videos", content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert err["type"] == "invalid_request_error"


def test_model_table_is_the_local_providers(sim_client: httpx.Client) -> None:
    assert (
        sim_client.post("/videos", json={"prompt": "x", "model": "sora-2-pro", "size": "1792x1024"}).status_code == 200
    )
    # an unknown model passes through and gets the union of every known model's sizes and seconds
    r = sim_client.post(
        "/videos", json={"prompt": "x", "model": "sora-3-preview", "size": "1920x1080", "seconds": "20"}
    )
    assert r.status_code == 200 and r.json()["model"] == "sora-3-preview"


def test_input_reference_errors(sim_client: httpx.Client, make_png: Callable[..., bytes]) -> None:
    r = sim_client.post("/videos", files=form({"prompt": "x", "input_reference": "https://example.com/a.png"}))
    err = error_of(r, 400)
    assert err == {
        "message": "Invalid type for 'input_reference': expected a file, but got a string instead.",
        "type": "invalid_request_error",
        "param": "input_reference",
        "code": "invalid_type",
    }
    files = {"input_reference": ("ref.png", make_png("1280x720"), "image/png")}
    err = error_of(sim_client.post("/videos", data={"prompt": "x", "size": "720x1280"}, files=files), 400)
    assert err == {
        "message": "Inpaint image must match the requested width and height",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    files = {"input_reference": ("ref.txt", b"not an image", "image/png")}
    assert error_of(sim_client.post("/videos", data={"prompt": "x"}, files=files), 400)["param"] == "input_reference"
    gif = io.BytesIO()
    Image.new("RGB", (720, 1280)).save(gif, format="GIF")
    files = {"input_reference": ("ref.gif", gif.getvalue(), "image/gif")}
    assert error_of(sim_client.post("/videos", data={"prompt": "x"}, files=files), 400)["param"] == "input_reference"
    # JSON: the simulator is offline, so only data: URLs
    err = error_of(
        sim_client.post("/videos", json={"prompt": "x", "input_reference": {"image_url": "https://e.x/a.png"}}), 400
    )
    assert err["param"] == "input_reference.image_url"
    error_of(sim_client.post("/videos", json={"prompt": "x", "input_reference": {"file_id": "file_1"}}), 400)
    error_of(sim_client.post("/videos", json={"prompt": "x", "input_reference": "data:image/png;base64,AAAA"}), 400)


def test_input_reference_as_data_url(sim_client: httpx.Client, make_png: Callable[..., bytes]) -> None:
    url = "data:image/png;base64," + base64.b64encode(make_png("1280x720")).decode()
    r = sim_client.post("/videos", json={"prompt": "x", "size": "1280x720", "input_reference": {"image_url": url}})
    assert r.status_code == 200, r.text
    url = "data:image/png;base64," + base64.b64encode(make_png("720x1280")).decode()
    r = sim_client.post("/videos", json={"prompt": "x", "size": "1280x720", "input_reference": {"image_url": url}})
    assert error_of(r, 400)["message"] == "Inpaint image must match the requested width and height"


# -- list and delete ---------------------------------------------------------------------------------------------
def test_list_pages_with_limit_order_and_after(sim_client: httpx.Client) -> None:
    ids = [create(sim_client, prompt=f"clip {i}")["id"] for i in range(5)]
    page = sim_client.get("/videos", params={"limit": 2}).json()
    assert page["object"] == "list" and [v["id"] for v in page["data"]] == ids[::-1][:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[4], ids[3], True)
    seen, after = [], None
    while True:
        params = {"limit": 2, "order": "asc", **({"after": after} if after else {})}
        page = sim_client.get("/videos", params=params).json()
        seen += [v["id"] for v in page["data"]]
        after = page["last_id"]
        if not page["has_more"]:
            break
    assert seen == ids
    assert len(sim_client.get("/videos").json()["data"]) == 5  # default limit 20, default order desc
    empty = sim_client.get("/videos", params={"limit": 0}).json()
    assert (empty["data"], empty["first_id"], empty["last_id"], empty["has_more"]) == ([], None, None, True)
    assert error_of(sim_client.get("/videos", params={"limit": 101}), 400)["param"] == "limit"
    assert error_of(sim_client.get("/videos", params={"order": "up"}), 400)["param"] == "order"
    assert error_of(sim_client.get("/videos", params={"after": "video_nope"}), 400)["param"] == "after"


async def test_delete(sim_client: httpx.Client, timed_app: Starlette) -> None:
    vid = create(sim_client)["id"]
    r = sim_client.delete(f"/videos/{vid}")
    assert r.json() == {"id": vid, "object": "video.deleted", "deleted": True}
    error_of(sim_client.get(f"/videos/{vid}"), 404)
    error_of(sim_client.delete(f"/videos/{vid}"), 404)
    assert sim_client.get("/videos").json()["data"] == []
    async with client_for(timed_app) as client:  # a job still rendering cannot be deleted
        running = (await client.post("/videos", json={"prompt": "x"})).json()
        error_of(await client.delete(f"/videos/{running['id']}"), 400)


# -- remix, extensions, edits ------------------------------------------------------------------------------------
def test_remix_extend_and_edit_make_new_jobs(sim_client: httpx.Client) -> None:
    source = create(sim_client, model="sora-2-pro", size="1792x1024", seconds="8")
    remix = sim_client.post(f"/videos/{source['id']}/remix", json={"prompt": "now at night"}).json()
    assert remix["id"] != source["id"] and remix["remixed_from_video_id"] == source["id"]
    assert (remix["model"], remix["size"], remix["seconds"], remix["prompt"]) == (
        "sora-2-pro",
        "1792x1024",
        "8",
        "now at night",
    )
    multipart = sim_client.post(f"/videos/{source['id']}/remix", files=form({"prompt": "in the rain"}))
    assert multipart.json()["remixed_from_video_id"] == source["id"]

    ext = sim_client.post("/videos/extensions", json={"video": {"id": source["id"]}, "prompt": "more", "seconds": "12"})
    assert (ext.json()["seconds"], ext.json()["size"]) == ("20", "1792x1024")
    ext = sim_client.post(
        "/videos/extensions", files=form({"video[id]": source["id"], "prompt": "more", "seconds": "4"})
    )
    assert ext.json()["seconds"] == "12"  # multipart, flattened the way the SDK sends it
    err = error_of(
        sim_client.post("/videos/extensions", json={"video": {"id": source["id"]}, "prompt": "x", "seconds": "5"}), 400
    )
    assert err["param"] == "seconds"
    assert (
        error_of(sim_client.post("/videos/extensions", json={"prompt": "x", "seconds": "4"}), 400)["param"] == "video"
    )
    long_id = source["id"]
    for _ in range(5):
        long_id = sim_client.post(
            "/videos/extensions", json={"video": {"id": long_id}, "prompt": "x", "seconds": "20"}
        ).json()["id"]
    error_of(
        sim_client.post("/videos/extensions", json={"video": {"id": long_id}, "prompt": "x", "seconds": "20"}), 400
    )

    edit = sim_client.post("/videos/edits", files=form({"video[id]": source["id"], "prompt": "make it blue"})).json()
    assert (edit["size"], edit["seconds"], edit["prompt"]) == ("1792x1024", "8", "make it blue")


def test_only_completed_videos_can_be_remixed(sim_client: httpx.Client) -> None:
    failed = create(sim_client, prompt="a __policy__ b")
    assert sim_client.get(f"/videos/{failed['id']}").json()["status"] == "failed"
    error_of(sim_client.post(f"/videos/{failed['id']}/remix", json={"prompt": "x"}), 400)
    error_of(sim_client.post("/videos/edits", json={"video": {"id": failed["id"]}, "prompt": "x"}), 400)


# -- media -------------------------------------------------------------------------------------------------------
def probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as box:
        v, a = box.streams.video[0], box.streams.audio[0]
        info = {
            "vcodec": v.codec_context.name,
            "size": (v.codec_context.width, v.codec_context.height),
            "pix_fmt": v.codec_context.pix_fmt,
            "fps": v.average_rate,
            "acodec": a.codec_context.name,
            "rate": a.codec_context.sample_rate,
            "channels": a.codec_context.channels,
            "audio_s": float(a.duration * a.time_base),
        }
        info["frames"] = sum(1 for _ in box.decode(video=0))
    return info


def test_content_is_a_real_h264_aac_mp4(sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    r = sim_client.get(f"/videos/{vid}/content")
    assert r.headers["content-type"] == "video/mp4" and int(r.headers["content-length"]) == len(r.content)
    info = probe(r.content)
    assert info["vcodec"] == "h264" and info["size"] == (720, 1280) and info["pix_fmt"] == "yuv420p"
    assert info["fps"] == 30 and info["frames"] == 4 * 30
    assert (info["acodec"], info["rate"], info["channels"]) == ("aac", 48000, 2)
    assert info["audio_s"] == pytest.approx(4.0, abs=0.05)

    thumb = sim_client.get(f"/videos/{vid}/content", params={"variant": "thumbnail"})
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as im:
        assert (im.format, im.size) == ("WEBP", (720, 1280))
    sheet = sim_client.get(f"/videos/{vid}/content", params={"variant": "spritesheet"})
    assert sheet.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(sheet.content)) as im:
        assert im.format == "JPEG" and im.width > im.height  # 4 tiles side by side
    assert error_of(sim_client.get(f"/videos/{vid}/content", params={"variant": "gif"}), 400)["param"] == "variant"


def test_render_is_deterministic(tmp_path: Path, sim_media_dir: Path) -> None:
    spec = RenderSpec(PROMPT, "720x1280", 4, "sora-2")  # the clip the content test downloads: cached
    cached = MediaCache(sim_media_dir).ensure(spec)
    fresh = MediaCache(tmp_path).ensure(spec)
    for variant in ("video", "thumbnail", "spritesheet"):
        assert cached.for_variant(variant).read_bytes() == fresh.for_variant(variant).read_bytes(), variant
    other = MediaCache(sim_media_dir).ensure(RenderSpec("A dog surfing a wave", "720x1280", 4, "sora-2"))
    assert other.video.read_bytes() != cached.video.read_bytes()


def first_frame_and_later(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    with av.open(io.BytesIO(data)) as box:
        frames = box.decode(video=0)
        first = next(frames).to_ndarray(format="rgb24")
        for _ in range(59):
            later = next(frames)
        return first, later.to_ndarray(format="rgb24")


def test_input_reference_is_the_first_frame(sim_client: httpx.Client, make_png: Callable[..., bytes]) -> None:
    colour = (200, 40, 90)
    files = {"input_reference": ("ref.png", make_png("720x1280", colour), "image/png")}
    video = sim_client.post("/videos", data={"prompt": PROMPT}, files=files).json()
    first, later = first_frame_and_later(sim_client.get(f"/videos/{video['id']}/content").content)
    assert np.abs(first.reshape(-1, 3).mean(axis=0) - colour).max() < 4
    assert np.abs(later.reshape(-1, 3).mean(axis=0) - colour).max() > 20  # faded into the pattern by 2 s


async def test_concurrent_downloads_render_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_render(spec: RenderSpec, out: render_module.MediaPaths, reference: bytes | None = None) -> None:
        calls.append(spec)
        time.sleep(0.3)  # long enough for the other requests to arrive while this one renders
        for path in (out.thumbnail, out.spritesheet, out.video):
            path.write_bytes(b"media " + spec.key.encode())

    monkeypatch.setattr(render_module, "render_clip", fake_render)
    app = create_app(SimulatorConfig(instant=True, media_dir=tmp_path))
    async with client_for(app) as client:
        vid = (await client.post("/videos", json={"prompt": "only once"})).json()["id"]
        results = await asyncio.gather(*(client.get(f"/videos/{vid}/content") for _ in range(4)))
    assert len(calls) == 1 and {r.status_code for r in results} == {200} and len({r.content for r in results}) == 1


# -- expiry and the running-jobs cap -----------------------------------------------------------------------------
def test_content_expires_after_ttl(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    sim.config.ttl = 60
    video = create(sim_client)
    assert video["expires_at"] == video["completed_at"] + 60
    clock = httpx.post(f"{sim.root_url}/_sim/clock", json={"advance": 61}).json()
    assert clock["offset"] == 61
    err = error_of(sim_client.get(f"/videos/{video['id']}/content"), 404)
    assert (err["code"], err["type"]) == ("video_expired", "invalid_request_error")
    assert sim_client.get(f"/videos/{video['id']}").json()["status"] == "completed"


async def test_running_jobs_cap_answers_429_with_retry_after(sim_media_dir: Path, clock: VirtualClock) -> None:
    app = create_app(SimulatorConfig(clock=clock, media_dir=sim_media_dir, max_running_jobs=2))
    async with client_for(app) as client:
        for _ in range(2):
            assert (await client.post("/videos", json={"prompt": "x"})).status_code == 200
        r = await client.post("/videos", json={"prompt": "x"})
        assert error_of(r, 429) == {
            "message": "Too many running tasks",
            "type": "rate_limit_error",
            "param": None,
            "code": "too_many_running_tasks",
        }
        assert r.headers["retry-after"] == "3" and r.headers["retry-after-ms"] == "3000"
        clock.now += 3
        assert (await client.post("/videos", json={"prompt": "x"})).status_code == 200


# -- faults ------------------------------------------------------------------------------------------------------
def test_rate_limit_next_n(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    sim.faults.rate_limit_next = 2
    sim.faults.retry_after_seconds = 2.5
    for _ in range(2):
        r = sim_client.get("/videos")
        assert error_of(r, 429)["code"] == "rate_limit_exceeded"
        assert (r.headers["retry-after"], r.headers["retry-after-ms"]) == ("3", "2500")
    assert sim_client.get("/videos").status_code == 200
    assert httpx.get(f"{sim.root_url}/_sim/faults").json()["rate_limit_next"] == 0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_next_n(sim: SimulatorServer, sim_client: httpx.Client, status: int) -> None:
    sim.faults.server_error_next = 1
    sim.faults.server_error_status = status
    assert error_of(sim_client.post("/videos", json={"prompt": "x"}), status)["type"] == "server_error"
    assert sim_client.post("/videos", json={"prompt": "x"}).status_code == 200
    assert len(sim_client.get("/videos").json()["data"]) == 1  # the failed call created nothing


def test_fraction_faults_are_reproducible_with_a_seed(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    def pattern() -> list[int]:
        r = httpx.put(f"{sim.root_url}/_sim/faults", json={"seed": 7, "server_error_fraction": 0.5})
        assert r.status_code == 200
        return [sim_client.get("/videos").status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 500} and pattern() == first


def test_faults_can_be_scoped_to_endpoints(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    sim.faults.endpoints = ["content"]
    sim.faults.server_error_next = 1
    assert sim_client.get(f"/videos/{vid}").status_code == 200
    assert sim_client.get(f"/videos/{vid}/content", params={"variant": "thumbnail"}).status_code == 500
    assert sim_client.get(f"/videos/{vid}/content", params={"variant": "thumbnail"}).status_code == 200


def test_latency(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    sim.faults.latency_ms = 300
    start = time.perf_counter()
    assert sim_client.get("/videos").status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_drop_mid_download(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    sim.faults.drop_download_next = 1
    received = 0
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        with sim_client.stream("GET", f"/videos/{vid}/content") as r:
            total = int(r.headers["content-length"])
            for chunk in r.iter_bytes():
                received += len(chunk)
    assert 0 < received < total
    assert len(sim_client.get(f"/videos/{vid}/content").content) == total  # the retry gets it all


def test_truncated_download_over_tcp(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    sim.faults.truncate_download_next = 1
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        sim_client.get(f"/videos/{vid}/content")


async def test_truncated_and_dropped_downloads_in_process(
    sim_asgi_client: httpx.AsyncClient, sim_app: Starlette
) -> None:
    vid = (await sim_asgi_client.post("/videos", json={"prompt": PROMPT})).json()["id"]
    faults = sim_app.state.sim.faults.config
    faults.truncate_download_next = 1
    r = await sim_asgi_client.get(f"/videos/{vid}/content")
    assert r.status_code == 200 and len(r.content) == int(r.headers["content-length"]) // 2
    faults.drop_download_next = 1
    with pytest.raises(httpx.RemoteProtocolError):
        await sim_asgi_client.get(f"/videos/{vid}/content")


def test_malformed_json_on_next_retrieves(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    sim.faults.malformed_json_next = 2
    for _ in range(2):
        r = sim_client.get(f"/videos/{vid}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            r.json()
    assert sim_client.get(f"/videos/{vid}").json()["id"] == vid


def test_content_policy_marker_fails_the_job(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    video = create(sim_client, prompt="a cat __policy__ on stage")
    got = sim_client.get(f"/videos/{video['id']}").json()
    assert got["status"] == "failed" and got["expires_at"] is None
    assert got["error"] == {
        "code": "moderation_blocked",
        "message": "Your request was blocked by our moderation system.",
    }
    assert error_of(sim_client.get(f"/videos/{video['id']}/content"), 400)["type"] == "invalid_request_error"
    sim.faults.policy_marker = "forbidden"
    assert sim_client.get(f"/videos/{create(sim_client, prompt='forbidden fruit')['id']}").json()["status"] == "failed"


def test_lost_create_response_over_tcp(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    sim.faults.lose_create_next = 1
    with pytest.raises(httpx.TransportError):
        sim_client.post("/videos", json={"prompt": "did it happen?"})
    listed = sim_client.get("/videos").json()["data"]
    assert [v["prompt"] for v in listed] == ["did it happen?"]
    assert httpx.get(f"{sim.root_url}/_sim/stats").json()["jobs_created"] == 1


async def test_lost_create_response_in_process(sim_asgi_client: httpx.AsyncClient, sim_app: Starlette) -> None:
    sim_app.state.sim.faults.config.lose_create_next = 1
    with pytest.raises(httpx.RemoteProtocolError):
        await sim_asgi_client.post("/videos", json={"prompt": "lost"})
    listed = (await sim_asgi_client.get("/videos")).json()["data"]
    assert [v["prompt"] for v in listed] == ["lost"]


# -- admin, stats, persistence, server -------------------------------------------------------------------------
def test_admin_endpoints(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    admin = httpx.Client(base_url=sim.root_url)
    assert admin.get("/_sim/faults").json()["policy_marker"] == "__policy__"
    put = admin.put("/_sim/faults", json={"rate_limit_next": 1, "latency_ms": 0})
    assert put.status_code == 200 and sim.faults.rate_limit_next == 1
    assert admin.put("/_sim/faults", json={"no_such_fault": 1}).status_code == 400
    assert admin.put("/_sim/faults", json={"server_error_status": 418}).status_code == 400
    assert sim_client.get("/videos").status_code == 429
    create(sim_client)
    before = admin.get("/_sim/clock").json()
    after = admin.post("/_sim/clock", json={"advance": 30}).json()
    assert after["offset"] == 30 and after["now"] >= before["now"] + 30
    assert admin.post("/_sim/clock", json={"forward": 1}).status_code == 400
    assert admin.post("/_sim/reset").json() == {"reset": True}
    assert admin.get("/_sim/stats").json() == {"requests": {}, "jobs_created": 0, "jobs": 0}
    assert admin.get("/_sim/clock").json()["offset"] == 0
    assert sim.faults.rate_limit_next == 0
    assert sim_client.get("/videos").json()["data"] == []


def test_stats_count_calls_per_endpoint(sim: SimulatorServer, sim_client: httpx.Client) -> None:
    vid = create(sim_client)["id"]
    sim_client.get(f"/videos/{vid}")
    sim_client.get(f"/videos/{vid}")
    sim_client.get("/videos")
    sim_client.post(f"/videos/{vid}/remix", json={"prompt": "again"})
    sim_client.post("/videos", json={})  # refused requests count as calls, but create no job
    httpx.get(f"{sim.base_url}/videos")  # so do unauthenticated ones
    stats = httpx.get(f"{sim.root_url}/_sim/stats").json()
    assert stats == {"requests": {"create": 2, "retrieve": 2, "list": 2, "remix": 1}, "jobs_created": 2, "jobs": 2}


def test_jobs_and_clock_persist_across_restarts(tmp_path: Path, sim_media_dir: Path) -> None:
    config = SimulatorConfig(instant=True, data_dir=tmp_path / "state", media_dir=sim_media_dir)
    with SimulatorServer(config) as first, httpx.Client(base_url=first.base_url, headers=AUTH) as client:
        ids = [create(client, prompt=p)["id"] for p in (PROMPT, "second")]
        client.delete(f"/videos/{ids[1]}")
        httpx.post(f"{first.root_url}/_sim/clock", json={"advance": 5})
    assert (tmp_path / "state" / "simulator.json").is_file()
    with SimulatorServer(SimulatorConfig(instant=True, data_dir=tmp_path / "state", media_dir=sim_media_dir)) as second:
        with httpx.Client(base_url=second.base_url, headers=AUTH) as client:
            assert [v["id"] for v in client.get("/videos").json()["data"]] == [ids[0]]
            assert httpx.get(f"{second.root_url}/_sim/clock").json()["offset"] == 5
            content = client.get(f"/videos/{ids[0]}/content")
            assert content.status_code == 200 and content.content[4:8] == b"ftyp"


def test_faults_set_at_construction(sim_media_dir: Path) -> None:
    config = SimulatorConfig(instant=True, media_dir=sim_media_dir, faults=FaultConfig(rate_limit_next=1))
    with SimulatorServer(config) as server, httpx.Client(base_url=server.base_url, headers=AUTH) as client:
        assert client.get("/videos").status_code == 429
        assert client.get("/videos").status_code == 200
    assert config.faults.rate_limit_next == 1  # the config is a template: each simulator consumes its own copy


def test_serve_blocks_and_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from sora2_bridge.shared.simulator import serve; "
        f"serve('127.0.0.1', {port}, speed=2.0, data_dir={str(tmp_path)!r}, faults={{'policy_marker': 'nope'}}, "
        "instant=True, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/videos", json={"prompt": "nope"}, headers=AUTH)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve() did not come up"
                time.sleep(0.1)
        assert r.status_code == 200
        assert (
            httpx.get(f"http://127.0.0.1:{port}/v1/videos/{r.json()['id']}", headers=AUTH).json()["status"] == "failed"
        )
        assert (tmp_path / "simulator.json").is_file()
    finally:
        proc.terminate()
        proc.wait(10)


def test_media_is_cached_in_the_data_dir_without_a_media_dir(tmp_path: Path) -> None:
    state = create_app(SimulatorConfig(data_dir=tmp_path)).state.sim
    assert state.media.directory == tmp_path / "media"


async def test_server_as_async_context_manager(sim_config: SimulatorConfig) -> None:
    async with SimulatorServer(sim_config) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.root_url.endswith(str(server.port))
        async with httpx.AsyncClient(headers=AUTH) as client:
            assert (await client.get(f"{server.base_url}/videos")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.root_url}/_sim/stats")


def test_two_servers_in_parallel_do_not_share_state(sim_config: SimulatorConfig) -> None:
    with SimulatorServer(sim_config) as a, SimulatorServer(sim_config) as b:
        assert a.port != b.port
        httpx.post(f"{a.base_url}/videos", json={"prompt": "x"}, headers=AUTH)
        assert httpx.get(f"{b.base_url}/videos", headers=AUTH).json()["data"] == []


async def test_prerender_encodes_the_clip_while_the_job_renders(sim_media_dir, tmp_path):
    """Interactive use (`--simulate`, `sora2 simulate`): the download is ready the moment the job completes."""
    import asyncio

    from sora2_bridge.shared.simulator import SimulatorConfig, create_app

    config = SimulatorConfig(prerender=True, media_dir=tmp_path / "media", speed=0.5)
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s/v1", headers=AUTH) as client:
        job = (await client.post("/videos", files={"prompt": (None, "prerendered clip")})).json()
        assert job["status"] == "queued"
        spec = app.state.sim.jobs[job["id"]].render_spec()
        for _ in range(200):  # the encode finishes in the background, long before the job's 6 s lifecycle
            if app.state.sim.media.paths(spec).video.exists():
                break
            await asyncio.sleep(0.05)
        assert app.state.sim.media.paths(spec).video.exists()
        assert (await client.get(f"/videos/{job['id']}")).json()["status"] != "completed"
