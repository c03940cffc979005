"""Retry, reconcile, deadline and cancel paths, driven by a scripted transport (one behaviour per test)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from sora2_bridge.shared import (
    AsyncSoraClient,
    CancelledError,
    ConnectionFailedError,
    JobRecord,
    PollPolicy,
    RetryPolicy,
    WaitTimeoutError,
    resolve_config,
)


def video(vid="video_a", prompt="a fox", status="queued", progress=0, created_at=None):
    return {"id": vid, "object": "video", "model": "sora-2", "status": status, "progress": progress,
            "created_at": int(created_at or time.time()), "completed_at": None, "expires_at": None,
            "prompt": prompt, "size": "720x1280", "seconds": "4", "remixed_from_video_id": None, "error": None}


class Script:
    """Answers requests from a list of callables/responses per route, and remembers what was asked."""

    def __init__(self, routes):
        self.routes = {k: list(v) for k, v in routes.items()}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.calls.append((request.method, request.url.path))
        step = self.routes[key].pop(0) if len(self.routes[key]) > 1 else self.routes[key][0]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(request)
        status, body, *headers = step
        return httpx.Response(status, json=body, headers=headers[0] if headers else None)

    def count(self, method, path):
        return self.calls.count((method, path))


@pytest.fixture
def sleeps():
    return []


def make_client(script, sleeps, tmp_path, **kw):
    async def fake_sleep(s):
        sleeps.append(s)

    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    return AsyncSoraClient(cfg, transport=httpx.MockTransport(script), record=JobRecord(tmp_path / "r.db"),
                           sleep=fake_sleep, retry=RetryPolicy(max_attempts=3), **kw)


async def test_lost_create_answer_is_reconciled_not_resent(tmp_path, sleeps):
    script = Script({
        "POST /v1/videos": [httpx.ReadTimeout("timed out")],
        "GET /v1/videos": [(200, {"object": "list", "data": [video("video_other", "another"), video("video_a")],
                                  "has_more": False})],
    })
    async with make_client(script, sleeps, tmp_path) as client:
        got = await client.create("a fox")
        assert got.id == "video_a"
        assert script.count("POST", "/v1/videos") == 1
        assert client.record.get("video_a").kind == "create"


async def test_create_is_resent_only_when_reconcile_finds_nothing(tmp_path, sleeps):
    old = video("video_old", "a fox", created_at=time.time() - 3600)  # same prompt, but from an hour ago
    script = Script({
        "POST /v1/videos": [httpx.RemoteProtocolError("peer closed"), (200, video("video_new"))],
        "GET /v1/videos": [(200, {"object": "list", "data": [old], "has_more": False})],
    })
    async with make_client(script, sleeps, tmp_path) as client:
        got = await client.create("a fox")
    assert got.id == "video_new" and script.count("POST", "/v1/videos") == 2


async def test_refused_connection_is_retried_without_reconcile(tmp_path, sleeps):
    script = Script({"POST /v1/videos": [httpx.ConnectError("refused"), (200, video())]})
    async with make_client(script, sleeps, tmp_path) as client:
        await client.create("a fox")
    assert script.count("GET", "/v1/videos") == 0 and len(sleeps) == 1


async def test_create_429_retried_with_retry_after(tmp_path, sleeps):
    script = Script({"POST /v1/videos": [
        (429, {"error": {"message": "Too many running tasks", "type": "rate_limit_error", "param": None,
                         "code": "too_many_running_tasks"}}, {"retry-after": "7"}),
        (200, video()),
    ]})
    async with make_client(script, sleeps, tmp_path) as client:
        await client.create("a fox")
    assert sleeps == [7.0]


async def test_create_500_checks_list_before_resending(tmp_path, sleeps):
    script = Script({
        "POST /v1/videos": [(500, {"error": {"message": "boom", "type": "server_error"}})],
        "GET /v1/videos": [(200, {"object": "list", "data": [video("video_a")], "has_more": False})],
    })
    async with make_client(script, sleeps, tmp_path) as client:
        assert (await client.create("a fox")).id == "video_a"
    assert script.count("POST", "/v1/videos") == 1


async def test_unreachable_service_gives_one_clear_error(tmp_path, sleeps):
    script = Script({"GET /v1/videos/video_a": [httpx.ConnectError("refused")]})
    async with make_client(script, sleeps, tmp_path) as client:
        with pytest.raises(ConnectionFailedError, match="Cannot reach https://sora.test/v1 after 3 attempts"):
            await client.retrieve("video_a")


async def test_malformed_json_is_retried(tmp_path, sleeps):
    script = Script({"GET /v1/videos/video_a": [
        lambda r: httpx.Response(200, content=b'{"id": "video_a", "sta'),
        (200, video(status="completed", progress=100)),
    ]})
    async with make_client(script, sleeps, tmp_path) as client:
        assert (await client.retrieve("video_a")).status == "completed"


async def test_deadline_stops_waiting_and_keeps_the_job(tmp_path, sleeps):
    script = Script({"GET /v1/videos/video_a": [(200, video(status="in_progress", progress=5))]})
    clock = [0.0]

    async def advancing_sleep(s):
        clock[0] += s

    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    async with AsyncSoraClient(cfg, transport=httpx.MockTransport(script), record=False, sleep=advancing_sleep,
                               clock=lambda: clock[0], poll_policy=PollPolicy(deadline=60)) as client:
        with pytest.raises(WaitTimeoutError) as exc:
            await client.poll("video_a")
    assert "video_a" in str(exc.value) and "sora2 download video_a" in str(exc.value)
    assert 59 <= clock[0] <= 61


async def test_cancel_stops_within_a_second(tmp_path):
    script = Script({"GET /v1/videos/video_a": [(200, video(status="in_progress", progress=5))]})
    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    cancel_at = time.monotonic() + 0.5
    async with AsyncSoraClient(cfg, transport=httpx.MockTransport(script), record=False) as client:
        started = time.monotonic()
        with pytest.raises(CancelledError, match="video_a keeps running"):
            await client.poll("video_a", should_cancel=lambda: time.monotonic() > cancel_at)
    assert time.monotonic() - started < 1.5


async def test_asyncio_cancellation_propagates(tmp_path):
    script = Script({"GET /v1/videos/video_a": [(200, video(status="in_progress", progress=5))]})
    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    async with AsyncSoraClient(cfg, transport=httpx.MockTransport(script), record=False) as client:
        task = asyncio.create_task(client.poll("video_a"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_download_broken_mid_stream_is_retried(tmp_path, sleeps):
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 1000

    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield body[:1000]
            raise httpx.ReadError("connection reset")

    script = Script({"GET /v1/videos/video_a/content": [
        lambda r: httpx.Response(200, stream=Broken(), headers={"content-length": str(len(body))}),
        lambda r: httpx.Response(200, content=body),
    ]})
    async with make_client(script, sleeps, tmp_path) as client:
        path = await client.download_content("video_a", tmp_path / "out.mp4")
    assert path.read_bytes() == body and len(sleeps) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "r.db", "r.db-shm", "r.db-wal"]


def test_multipart_create_matches_the_contract(tmp_path):
    """The create body is multipart/form-data with exactly the documented fields, as the spec's example sends."""
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["ctype"] = request.headers["content-type"]
        seen["body"] = request.read()
        return httpx.Response(200, json=video())

    from sora2_bridge.shared import SoraClient

    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    with SoraClient(cfg, transport=httpx.MockTransport(handler), record=False) as client:
        client.create("a fox", size="1280x720", seconds=8)
    assert seen["ctype"].startswith("multipart/form-data; boundary=")
    body = seen["body"].decode()
    for name, value in [("prompt", "a fox"), ("model", "sora-2"), ("size", "1280x720"), ("seconds", "8")]:
        assert f'name="{name}"\r\n\r\n{value}\r\n' in body
    assert body.count("Content-Disposition") == 4


def test_json_body_option(tmp_path):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"] = json.loads(request.read())
        return httpx.Response(200, json=video())

    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})

    async def go():
        async with AsyncSoraClient(cfg, transport=httpx.MockTransport(handler), record=False, json_body=True) as c:
            await c.create("a fox")

    asyncio.run(go())
    assert seen["body"] == {"prompt": "a fox", "model": "sora-2", "size": "720x1280", "seconds": "4"}


async def _ticks(n: int = 50) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_job_slot_is_shared_by_every_caller_of_the_client(tmp_path, sleeps):
    """The provider's running-job cap holds across callers: a third job waits until one of two slots frees."""
    script = Script({"POST /v1/videos": [(200, video())],
                     "GET /v1/videos/video_a": [(200, video(status="completed", progress=100))]})
    async with make_client(script, sleeps, tmp_path) as client:
        assert client.config.max_concurrent_jobs == 2
        release = asyncio.Event()
        held: list[int] = []

        async def hold(n: int) -> None:
            async with client.job_slot():
                held.append(n)
                await release.wait()

        holders = [asyncio.create_task(hold(n)) for n in range(2)]
        job = asyncio.create_task(client.create_and_poll("a fox"))
        await _ticks()
        assert sorted(held) == [0, 1] and script.calls == []  # create_and_poll waits for a slot
        release.set()
        await asyncio.gather(*holders)
        assert (await job).status == "completed" and script.count("POST", "/v1/videos") == 1
