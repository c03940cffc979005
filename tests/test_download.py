"""Files behave like files: the user's umask decides the mode, dead partial files are cleaned, and a body that is
not the media asked for is never saved as if it were (driven by a mock transport)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from sora2_bridge.shared import AsyncSoraClient, DownloadError, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.outputs import part_prefix
from sora2_bridge.shared.redact import forget_secrets

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 200
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 200
GOOD = {"video": (MP4, "video/mp4"), "thumbnail": (WEBP, "image/webp"), "spritesheet": (JPEG, "image/jpeg")}
KEY = "sk-proj-FakeDownload0123456789abcdef"
# (name, body, content type) of answers that are not media, whatever the variant asked for.
WRONG = [
    ("plain text", b"hello", "text/plain"),
    ("json answer", b'{"url": "https://cdn.example/x.mp4"}', "application/json"),
    ("html error page", b"<html><body>502 Bad Gateway</body></html>" + b" " * 2000, "text/html; charset=utf-8"),
    ("empty body", b"", None),
    ("no content type, not media", b"GIF89a" + b"\x00" * 100, None),
]


def client_for(answers: list[tuple[bytes, str | None]], tmp_path: Path) -> tuple[AsyncSoraClient, list[str]]:
    """A client whose content endpoint gives ``answers`` in turn (the last one repeats)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["variant"])
        body, ctype = answers[min(len(seen), len(answers)) - 1]
        return httpx.Response(200, content=body, headers={"content-type": ctype} if ctype else {})

    async def no_sleep(_: float) -> None:
        pass

    cfg = resolve_config("custom", "https://sora.test/v1", KEY, env={})
    client = AsyncSoraClient(cfg, transport=httpx.MockTransport(handler), record=JobRecord(tmp_path / "r.db"),
                             sleep=no_sleep, retry=RetryPolicy(max_attempts=3))
    return client, seen


@pytest.fixture(autouse=True)
def fresh_secrets():
    yield
    forget_secrets()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("variant", list(GOOD))
async def test_each_variant_saves_its_media(variant, tmp_path):
    body, ctype = GOOD[variant]
    client, _ = client_for([(body, ctype)], tmp_path)
    async with client:
        path = await client.download_content("video_1", tmp_path / f"out.{variant}", variant=variant)
    assert path.read_bytes() == body and leftovers(tmp_path) == []


@pytest.mark.parametrize("variant", list(GOOD))
@pytest.mark.parametrize("name,body,ctype", WRONG, ids=[w[0] for w in WRONG])
async def test_a_body_that_is_not_the_media_is_refused_and_nothing_saved(variant, name, body, ctype, tmp_path):
    client, seen = client_for([(body, ctype)], tmp_path)
    dest = tmp_path / f"out.{variant}"
    async with client:
        with pytest.raises(DownloadError) as exc:
            await client.download_content("video_1", dest, variant=variant)
    msg = str(exc.value)
    assert len(seen) == 3  # retried like a truncated body first
    assert (ctype or "without a content type").split(";")[0] in msg
    assert "instead of" in msg and "safe on the service" in msg and "sora2 download video_1" in msg
    assert not dest.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("variant", list(GOOD))
async def test_media_labelled_as_an_error_page_is_refused(variant, tmp_path):
    client, _ = client_for([(GOOD[variant][0], "text/html")], tmp_path)
    async with client:
        with pytest.raises(DownloadError, match="text/html"):
            await client.download_content("video_1", tmp_path / "out", variant=variant)


async def test_a_wrong_body_once_is_a_hiccup_the_retry_gets_past(tmp_path):
    client, seen = client_for([(b"<html>busy</html>", "text/html"), GOOD["video"]], tmp_path)
    async with client:
        path = await client.download_content("video_1", tmp_path / "clip.mp4")
    assert path.read_bytes() == MP4 and len(seen) == 2


async def test_the_excerpt_of_a_wrong_body_shows_what_arrived_but_never_the_key(tmp_path):
    body = b"x" * 60 + f"Unauthorized: {KEY}".encode()
    client, _ = client_for([(body, "text/plain")], tmp_path)
    async with client:
        with pytest.raises(DownloadError) as exc:
            await client.download_content("video_1", tmp_path / "clip.mp4")
    assert "xxxxx" in str(exc.value) and KEY not in str(exc.value) and KEY[:12] not in str(exc.value)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
async def test_saved_files_get_the_mode_the_umask_gives(umask, mode, tmp_path):
    client, _ = client_for([GOOD["video"]], tmp_path)
    old = os.umask(umask)
    try:
        async with client:
            path = await client.download_content("video_1", tmp_path / "clip.mp4")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


async def test_a_later_download_removes_parts_left_by_a_dead_process(tmp_path):
    dest = tmp_path / "clip.mp4"
    dead = tmp_path / f"{part_prefix(dest)}deadbeef0000.part"
    live = tmp_path / f"{part_prefix(dest)}0123456789ab.part"
    other = tmp_path / f"{part_prefix(tmp_path / 'other.mp4')}deadbeef0000.part"
    for part in (dead, live, other):
        part.write_bytes(b"half a clip")
    an_hour_ago = time.time() - 3600
    os.utime(dead, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    client, _ = client_for([GOOD["video"]], tmp_path)
    async with client:
        await client.download_content("video_1", dest)
    assert dest.read_bytes() == MP4
    assert not dead.exists()
    assert live.exists() and other.exists()  # a live download's part, and another target's, are left alone


async def test_the_downloaded_log_line_gives_size_and_time(tmp_path, caplog):
    """One INFO line per download, with what it took (front ends need not log their own)."""
    ticks = iter(range(100))

    cfg = resolve_config("custom", "https://sora.test/v1", KEY, env={})
    client = AsyncSoraClient(
        cfg, record=False, clock=lambda: 2.5 * next(ticks),
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=MP4, headers={"content-type": "video/mp4"})),
    )
    caplog.set_level("INFO", logger="sora2_bridge")
    async with client:
        path = await client.download_content("video_1", tmp_path / "clip.mp4")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("downloaded")]
    assert len(lines) == 1 and lines[0] == f"downloaded video_1 ({len(MP4)} bytes in 2.5s) to {path}", lines
