"""Saved files reach remote agents: signed, expiring URLs over HTTP, inline media in resource reads, nothing on stdio.

The HTTP tests run the server's own streamable-HTTP app under uvicorn on loopback, against the loopback simulator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import given, settings as hyp_settings, strategies as st
from mcp import Client
from mcp.server import MCPServer
from mcp.types import BlobResourceContents, CallToolResult, ResourceLink, TextResourceContents

from sora2_bridge.mcp_server.media_links import (
    ENV_URL_SECRET,
    SECRET_FILE,
    MediaRef,
    Signer,
    bound_url,
    load_secret,
)
from sora2_bridge.mcp_server.settings import ENV_PUBLIC_URL, Settings
from sora2_bridge.shared.errors import ConfigurationError

from .test_end_to_end import server_command, stop, user_env
from .test_sequences import SHOTS, wait_done

PROMPT = "A calico cat playing a piano on stage"
SEQUENCE = {"shots": SHOTS, "size": "1280x720", "seconds": 4}
SECRET = b"a-test-secret-of-enough-length"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ok(result: CallToolResult) -> dict:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content  # type: ignore[return-value]


def http_links(result: CallToolResult) -> list[ResourceLink]:
    return [c for c in result.content if isinstance(c, ResourceLink) and str(c.uri).startswith("http")]


# ---------------------------------------------------------------------------------------------- signing
def test_a_signed_url_verifies_until_it_expires():
    clock = Clock()
    signer = Signer(SECRET, 600, clock)
    ref = MediaRef("video", "video_abc123", "video")
    expires, sig = signer.sign(ref)
    assert expires == int(clock.now) + 600
    assert signer.verify(ref, str(expires), sig) == "ok"
    clock.now = expires - 1
    assert signer.verify(ref, str(expires), sig) == "ok"
    clock.now = expires
    assert signer.verify(ref, str(expires), sig) == "expired"


def test_an_altered_url_is_refused():
    signer = Signer(SECRET, 600, Clock())
    ref = MediaRef("video", "video_abc123", "video")
    expires, sig = signer.sign(ref)
    tampered = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert signer.verify(ref, str(expires), tampered) == "invalid"
    assert signer.verify(MediaRef("video", "video_abc124", "video"), str(expires), sig) == "invalid"
    assert signer.verify(MediaRef("video", "video_abc123", "thumbnail"), str(expires), sig) == "invalid"
    assert signer.verify(MediaRef("file", "video_abc123"), str(expires), sig) == "invalid"
    assert signer.verify(ref, str(expires + 3600), sig) == "invalid"  # a later expiry is not ours
    assert signer.verify(ref, "soon", sig) == "invalid"
    assert Signer(b"another-secret-of-enough-length", 600, Clock()).verify(ref, str(expires), sig) == "invalid"


@hyp_settings(max_examples=60, deadline=None)
@given(ident=st.text(min_size=1, max_size=40), other=st.text(min_size=1, max_size=40))
def test_every_identity_signs_to_itself_only(ident, other):
    signer = Signer(SECRET, 60, Clock())
    expires, sig = signer.sign(MediaRef("file", ident))
    assert signer.verify(MediaRef("file", ident), str(expires), sig) == "ok"
    if other != ident:
        assert signer.verify(MediaRef("file", other), str(expires), sig) == "invalid"


def test_the_secret_is_kept_private_and_reused(tmp_path):
    first = load_secret(tmp_path, env={})
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path, env={}) == first  # a restart signs the same way
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # nothing left aside
    assert load_secret(tmp_path, env={ENV_URL_SECRET: "x" * 32}) == b"x" * 32
    with pytest.raises(ConfigurationError, match=ENV_URL_SECRET):
        load_secret(tmp_path, env={ENV_URL_SECRET: "short"})


def test_the_public_url_is_configured_or_derived(tmp_path):
    assert bound_url("127.0.0.1", 8000, "/mcp") == "http://127.0.0.1:8000/mcp"
    assert bound_url("::1", 8000, "/mcp/") == "http://[::1]:8000/mcp"
    assert bound_url("0.0.0.0", 8000, "/mcp") is None  # no name to give: the request's Host is used
    env = {"SORA2_DATA_DIR": str(tmp_path)}
    assert Settings.from_env({**env, ENV_PUBLIC_URL: "https://videos.example.com/mcp/"}).public_url == \
        "https://videos.example.com/mcp"
    with pytest.raises(ConfigurationError, match=ENV_PUBLIC_URL):
        Settings.from_env({**env, ENV_PUBLIC_URL: "videos.example.com"})


# ---------------------------------------------------------------------------------------------- over HTTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(server: MCPServer) -> AsyncIterator[str]:
    """The server's streamable-HTTP app on a loopback port; yields the MCP endpoint's URL."""
    port = free_port()
    web = uvicorn.Server(uvicorn.Config(server.streamable_http_app(host="127.0.0.1"), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="on"))
    task = asyncio.create_task(web.serve())
    for _ in range(500):
        if web.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert web.started, "the HTTP server did not start"
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        web.should_exit = True
        await task


async def made_and_saved(c: Client) -> tuple[str, CallToolResult]:
    created = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 4}))
    status = ok(await c.call_tool("get_status", {"video_id": created["video_id"], "wait_seconds": 30}))
    assert status["status"] == "completed", status
    return created["video_id"], await c.call_tool("download_video", {"video_id": created["video_id"]})


async def test_a_downloaded_clip_is_fetched_by_its_signed_url(make_server):
    async with serving(make_server()) as endpoint, Client(endpoint) as c, httpx.AsyncClient() as web:
        video_id, saved = await made_and_saved(c)
        path = Path(ok(saved)["file_path"])
        [link] = http_links(saved)
        assert link.mime_type == "video/mp4" and link.size == path.stat().st_size
        assert str(link.uri).startswith(endpoint + "/media/")
        assert str(path) not in str(link.uri)

        whole = await web.get(str(link.uri))
        assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
        assert whole.content == path.read_bytes()

        part = await web.get(str(link.uri), headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == path.read_bytes()[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{path.stat().st_size}"

        sig = str(link.uri)[-1]
        tampered = await web.get(str(link.uri)[:-1] + ("A" if sig != "A" else "B"))
        other = await web.get(str(link.uri).replace(video_id, video_id[:-1] + ("0" if video_id[-1] != "0" else "1")))
        assert tampered.status_code == 403 and other.status_code == 403
        assert str(path.parent) not in tampered.text

        # A later status over HTTP links the saved clip and its thumbnail too.
        status = await c.call_tool("get_status", {"video_id": video_id})
        types = sorted(link.mime_type for link in http_links(status))
        assert types == ["image/webp", "video/mp4"]
        thumb = next(link for link in http_links(status) if link.mime_type == "image/webp")
        assert (await web.get(str(thumb.uri))).content == Path(ok(status)["thumbnail_path"]).read_bytes()


async def test_a_link_to_a_file_that_is_gone_is_a_clean_404(make_server):
    async with serving(make_server()) as endpoint, Client(endpoint) as c, httpx.AsyncClient() as web:
        video_id, saved = await made_and_saved(c)
        status = await c.call_tool("get_status", {"video_id": video_id})
        clip = next(link for link in http_links(status) if link.mime_type == "video/mp4")
        Path(ok(saved)["file_path"]).unlink()
        gone = await web.get(str(clip.uri))
    assert gone.status_code == 404
    assert "no longer" in gone.text and "/" not in gone.text


async def test_joined_clips_have_a_link(make_server):
    async with serving(make_server()) as endpoint, Client(endpoint) as c, httpx.AsyncClient() as web:
        first, _ = await made_and_saved(c)
        second, _ = await made_and_saved(c)
        joined = await c.call_tool("join_videos", {"video_ids": [first, second]})
        [link] = http_links(joined)
        fetched = await web.get(str(link.uri))
    assert fetched.content == Path(ok(joined)["file_path"]).read_bytes()


async def test_a_large_clip_read_as_a_resource_over_http_is_a_signed_url(make_server, settings):
    async with serving(make_server(replace(settings, inline_max_bytes=1000))) as endpoint, Client(endpoint) as c, \
            httpx.AsyncClient() as web:
        video_id, saved = await made_and_saved(c)
        [content] = (await c.read_resource(f"sora2://videos/{video_id}/video")).contents
        assert isinstance(content, TextResourceContents) and content.mime_type == "text/uri-list"
        url = [line for line in content.text.splitlines() if not line.startswith("#")][0]
        assert url.startswith(endpoint + "/media/")
        assert (await web.get(url)).content == Path(ok(saved)["file_path"]).read_bytes()


async def test_a_finished_sequence_links_its_film_and_contact_sheet(make_server):
    async with serving(make_server()) as endpoint, Client(endpoint) as c, httpx.AsyncClient() as web:
        started = ok(await c.call_tool("generate_sequence", SEQUENCE))
        done = await wait_done(c, started["sequence_id"])
        data = ok(done)
        by_type = {link.mime_type: link for link in http_links(done)}
        film, sheet = await web.get(str(by_type["video/mp4"].uri)), await web.get(str(by_type["image/png"].uri))
    assert data["status"] == "completed"
    assert film.content == Path(data["film_path"]).read_bytes()
    assert sheet.headers["content-type"] == "image/png"
    assert sheet.content == Path(data["contact_sheet_path"]).read_bytes()


async def test_sora2_mcp_over_http_links_files_at_its_bound_address(tmp_path):
    """The command itself: ``--transport http`` derives the public URL from --host/--port/--path."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *server_command(), "--simulate", "--transport", "http", "--port", str(port), "--path", "/agents/mcp",
        env={**user_env(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}/agents/mcp"
    try:
        async with httpx.AsyncClient() as web:
            for _ in range(400):
                with contextlib.suppress(httpx.TransportError):
                    await web.get(endpoint + "/media/x")
                    break
                assert proc.returncode is None, "the server exited"
                await asyncio.sleep(0.05)
            async with Client(endpoint, read_timeout_seconds=60) as c:
                _, saved = await made_and_saved(c)
            [link] = http_links(saved)
            assert str(link.uri).startswith(endpoint + "/media/file/")
            fetched = await web.get(str(link.uri))
        assert fetched.content == Path(ok(saved)["file_path"]).read_bytes()
        assert (tmp_path / "data" / SECRET_FILE).is_file()
    finally:
        await stop(proc)


# ---------------------------------------------------------------------------------------------- not over HTTP
async def test_results_off_http_carry_no_urls_and_create_no_secret(server, settings):
    async with Client(server) as c:
        video_id, saved = await made_and_saved(c)
        status = await c.call_tool("get_status", {"video_id": video_id})
    assert http_links(saved) == [] and http_links(status) == []
    assert [link.uri for link in status.content if isinstance(link, ResourceLink)] == [
        f"sora2://videos/{video_id}", f"sora2://videos/{video_id}/thumbnail"]
    assert not (settings.state_dir / SECRET_FILE).exists()


async def test_a_resource_read_inlines_media_below_the_cap(make_server, settings):
    async with Client(make_server()) as c:
        video_id, saved = await made_and_saved(c)
        [clip] = (await c.read_resource(f"sora2://videos/{video_id}/video")).contents
        [thumb] = (await c.read_resource(f"sora2://videos/{video_id}/thumbnail")).contents
    path = Path(ok(saved)["file_path"])
    assert path.stat().st_size <= settings.inline_max_bytes
    assert isinstance(clip, BlobResourceContents) and clip.mime_type == "video/mp4"
    assert base64.b64decode(clip.blob) == path.read_bytes()
    assert isinstance(thumb, BlobResourceContents) and thumb.mime_type == "image/webp"


async def test_a_large_clip_read_as_a_resource_off_http_names_the_local_file(make_server, settings):
    async with Client(make_server(replace(settings, inline_max_bytes=1000))) as c:
        video_id, saved = await made_and_saved(c)
        [content] = (await c.read_resource(f"sora2://videos/{video_id}/video")).contents
    assert isinstance(content, TextResourceContents) and content.mime_type == "text/uri-list"
    assert Path(ok(saved)["file_path"]).as_uri() in content.text.splitlines()
    assert "SORA2_MCP_INLINE_MAX_BYTES" in content.text


def test_the_secret_file_is_not_readable_by_others_even_with_a_loose_umask(tmp_path):
    old = os.umask(0)
    try:
        load_secret(tmp_path, env={})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
