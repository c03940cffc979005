"""The spending guard, the folder rules and the URL rules, through the tools and directly."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.types import CallToolResult
from PIL import Image

from sora2_bridge.mcp_server import guard
from sora2_bridge.mcp_server.guard import (
    Ledger,
    SpendingGuard,
    UrlRefused,
    decode_data_url,
    fetch_image_url,
    is_public_address,
)
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.shared.errors import ConfigurationError

PROMPT = "A calico cat playing a piano on stage"


def ok(result: CallToolResult) -> dict:
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content  # type: ignore[return-value]


def error(result: CallToolResult) -> str:
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


def png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- money
async def test_ten_concurrent_calls_never_overspend(make_server, settings, sim, sim_config):
    sim_config.instant = False
    sim.faults.endpoints = ["create"]
    sim.faults.latency_ms = 100  # every create is slow: a check-then-create guard would let all ten through
    server = make_server(replace(settings, budget_usd=1.0))
    async with Client(server) as c:
        results = await asyncio.gather(*[
            c.call_tool("generate_video", {"prompt": f"{PROMPT}, take {i}"}) for i in range(10)
        ])
        left = ok(await c.call_tool("estimate_cost", {}))
    good = [r for r in results if not r.is_error]
    refused = [error(r) for r in results if r.is_error]
    assert len(good) == 2 and len(refused) == 8  # $0.40 each against $1.00
    assert sim.state.jobs_created == 2 and sim.state.requests["create"] == 2
    assert all("$0.40" in m and "$0.20 is left" in m and "$1.00 daily budget" in m for m in refused)
    assert left["budget_remaining_usd"] == pytest.approx(0.2) and not left["allowed"]


async def test_per_call_limit_refuses_before_any_request(make_server, settings, sim):
    server = make_server(replace(settings, max_usd_per_call=1.0))
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "model": "sora-2-pro", "seconds": 8}))
    assert "$2.40" in msg and "per-call limit of $1.00" in msg and "SORA2_MCP_MAX_USD_PER_CALL" in msg
    assert "Budget left today: $50.00" in msg
    assert sim.state.stats()["requests"] == {}


async def test_a_failed_create_releases_its_reservation(make_server, settings, sim):
    sim.faults.endpoints = ["create", "list"]
    sim.faults.server_error_next = 100
    server = make_server(replace(settings, budget_usd=1.0))
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT}))
        left = ok(await c.call_tool("estimate_cost", {}))
    assert "HTTP 500" in msg
    assert sim.state.jobs_created == 0 and left["budget_remaining_usd"] == pytest.approx(1.0)


async def test_daily_budget_survives_a_restart_lifetime_does_not(make_server, settings, sim_config):
    sim_config.instant = False
    day = replace(settings, budget_usd=1.0)
    async with Client(make_server(day)) as c:
        ok(await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 8}))
    async with Client(make_server(day)) as c:  # a restarted server (desktop clients restart them often)
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT + "!", "seconds": 4}))
    assert "only $0.20 is left" in msg
    lifetime = replace(settings, budget_usd=1.0, budget_period="lifetime")
    async with Client(make_server(lifetime)) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT + "!", "seconds": 4}))
    assert data["budget_remaining_usd"] == pytest.approx(0.6)


def test_ledger_scopes_and_stale_reservations(tmp_path, monkeypatch):
    settings = Settings(output_dir=tmp_path / "out", budget_usd=1.0, state_dir=tmp_path)
    ledger = Ledger(tmp_path / "spend.sqlite3")
    real = SpendingGuard(settings, ledger, provider="cometapi", base_url="https://x/v1")
    simulated = SpendingGuard(settings, ledger, provider="local", base_url="http://127.0.0.1:1/v1")

    async def run() -> None:
        res = await real.reserve(0.8, "a clip", "create")
        assert real.remaining() == pytest.approx(0.2) and simulated.remaining() == pytest.approx(1.0)
        real.settle(res, "video_1")
        await real.reserve(0.2, "a clip", "create")  # held, never settled
        assert real.remaining() == pytest.approx(0.0)
        monkeypatch.setattr(guard.time, "time", lambda: held_at + guard.STALE_RESERVATION_SECONDS + 1)
        assert real.remaining() == pytest.approx(0.2)  # a reservation nobody settled stops counting
        assert ledger.video_ids("cometapi", "https://x/v1", 0) == ["video_1"]

    held_at = guard.time.time()
    asyncio.run(run())
    ledger.close()


def test_settings_from_environment(tmp_path):
    env = {
        "SORA2_DATA_DIR": str(tmp_path / "data"),
        "SORA2_MCP_OUTPUT_DIR": str(tmp_path / "clips"),
        "SORA2_MCP_INPUT_DIRS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]),
        "SORA2_MCP_MAX_USD_PER_CALL": "$1.50",
        "SORA2_MCP_BUDGET_USD": "unlimited",
        "SORA2_MCP_BUDGET_PERIOD": "lifetime",
        "SORA2_MCP_AUTO_DOWNLOAD": "0",
        "SORA2_MCP_COLLECT_SECONDS": "0.5",
    }
    s = Settings.from_env(env)
    assert s.output_dir == (tmp_path / "clips").resolve() and len(s.input_dirs) == 2
    assert s.max_usd_per_call == 1.5 and s.budget_usd == float("inf") and s.budget_period == "lifetime"
    assert not s.auto_download and s.state_dir == tmp_path / "data" and s.collector_interval == 0.5
    assert Settings.from_env({}, output_dir=tmp_path / "o").output_dir == (tmp_path / "o").resolve()
    with pytest.raises(ConfigurationError, match="SORA2_MCP_BUDGET_USD"):
        Settings.from_env({"SORA2_MCP_BUDGET_USD": "lots"})
    with pytest.raises(ConfigurationError, match="SORA2_MCP_BUDGET_PERIOD"):
        Settings.from_env({"SORA2_MCP_BUDGET_PERIOD": "week"})
    with pytest.raises(ConfigurationError, match="SORA2_MCP_COLLECT_SECONDS"):
        Settings.from_env({"SORA2_MCP_COLLECT_SECONDS": "0"})


# ---------------------------------------------------------------------------------------------- input files
async def test_image_from_an_allowed_folder_is_fitted_and_sent(server, input_dir, sim, sim_config):
    sim_config.instant = False
    (input_dir / "frame.png").write_bytes(png((640, 480)))
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "image": str(input_dir / "frame.png")}))
        relative = ok(await c.call_tool("generate_video", {"prompt": PROMPT + ".", "image": "frame.png",
                                                          "image_fit": "pad"}))
    job = sim.state.jobs[data["video_id"]]
    assert job.reference_sha is not None and sim.state.jobs[relative["video_id"]].reference_sha != job.reference_sha


async def test_image_paths_outside_the_allowed_folders_are_refused(server, input_dir, tmp_path, sim):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png())
    (input_dir / "link.png").symlink_to(outside)
    async with Client(server) as c:
        msgs = [
            error(await c.call_tool("generate_video", {"prompt": PROMPT, "image": image}))
            for image in (str(outside), "../secret.png", str(input_dir / "link.png"), "/etc/passwd",
                          str(input_dir / "missing.png"))
        ]
    assert all("outside the allowed input folders" in m for m in msgs[:4]), msgs
    assert "not found" in msgs[4]
    assert sim.state.stats()["requests"] == {}


async def test_local_paths_are_refused_when_no_folder_is_allowed(make_server, settings, input_dir, sim):
    (input_dir / "frame.png").write_bytes(png())
    server = make_server(replace(settings, input_dirs=()))
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "image": str(input_dir / "frame.png")}))
    assert "SORA2_MCP_INPUT_DIRS" in msg and sim.state.stats()["requests"] == {}


async def test_data_url_image(server, sim, sim_config):
    sim_config.instant = False
    url = "data:image/png;base64," + base64.b64encode(png((720, 1280))).decode()
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "image": url}))
        bad = error(await c.call_tool("generate_video", {"prompt": PROMPT, "image": "data:image/png;base64,@@@"}))
    assert sim.state.jobs[data["video_id"]].reference_sha is not None
    assert "not valid base64" in bad


def test_data_url_size_cap():
    big = "data:image/png;base64," + base64.b64encode(b"x" * 2048).decode()
    with pytest.raises(UrlRefused, match="larger than"):
        decode_data_url(big, max_bytes=1024)


# ---------------------------------------------------------------------------------------------- URLs (SSRF)
@pytest.mark.parametrize("url", [
    "http://example.com/cat.png",
    "ftp://example.com/cat.png",
    "file:///etc/passwd",
    "https://127.0.0.1/cat.png",
    "https://localhost/cat.png",
    "https://[::1]/cat.png",
    "https://169.254.169.254/latest/meta-data",
    "https://10.0.0.8/cat.png",
    "https://192.168.1.1/cat.png",
    "https://[::ffff:127.0.0.1]/cat.png",
    "https://2130706433/cat.png",
    "https://user:pw@example.com/cat.png",
])
async def test_unsafe_urls_are_refused_before_any_request(server, sim, url):
    async with Client(server) as c:
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "image": url}))
    assert any(w in msg for w in ("https://", "non-public", "user name", "Cannot resolve")), msg
    assert sim.state.stats()["requests"] == {}


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False), ("10.1.2.3", False),
    ("172.16.0.1", False), ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:10.0.0.1", False), ("2002:7f00:1::", False), ("not-an-ip", False),
])
def test_public_address_check(address, public):
    assert is_public_address(address) is public


async def resolve_public(host: str, port: int) -> list[str]:
    return {"cdn.example": ["93.184.216.34"], "evil.example": ["93.184.216.34", "10.0.0.1"],
            "internal.example": ["192.168.7.7"]}[host]


async def test_url_fetch_is_pinned_to_the_vetted_address():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=png(), headers={"content-type": "image/png"})

    image = await fetch_image_url("https://cdn.example/img/cat.png?x=1", max_bytes=1 << 20,
                                  resolver=resolve_public, transport=httpx.MockTransport(handler))
    assert image.mime_type == "image/png" and image.filename == "cat.png"
    (req,) = seen
    assert str(req.url) == "https://93.184.216.34/img/cat.png?x=1"  # the connection goes to the vetted address
    assert req.headers["host"] == "cdn.example" and req.extensions["sni_hostname"] == "cdn.example"


async def test_url_fetch_refuses_mixed_answers_private_redirects_and_big_bodies():
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"x" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/redirect":
            return httpx.Response(302, headers={"location": "https://internal.example/x.png"})
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 5000)
        if request.url.path == "/liar":  # no Content-Length, streams past the cap
            return httpx.Response(200, content=chunks())
        return httpx.Response(404)

    transport = httpx.MockTransport(handler)

    async def fetch(url: str) -> None:
        await fetch_image_url(url, max_bytes=2048, resolver=resolve_public, transport=transport)

    with pytest.raises(UrlRefused, match="non-public"):
        await fetch("https://evil.example/cat.png")  # one private answer is enough to refuse
    with pytest.raises(UrlRefused, match="non-public"):
        await fetch("https://cdn.example/redirect")
    with pytest.raises(UrlRefused, match="larger than"):
        await fetch("https://cdn.example/big")
    with pytest.raises(UrlRefused, match="larger than"):
        await fetch("https://cdn.example/liar")
    with pytest.raises(UrlRefused, match="HTTP 404"):
        await fetch("https://cdn.example/missing.png")


async def test_url_image_through_the_tool(make_server, sim, sim_config):
    sim_config.instant = False

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png((1000, 1000)), headers={"content-type": "image/png"})

    server = make_server(url_resolver=resolve_public, url_transport=httpx.MockTransport(handler))
    async with Client(server) as c:
        data = ok(await c.call_tool("generate_video", {"prompt": PROMPT, "image": "https://cdn.example/a.png"}))
        msg = error(await c.call_tool("generate_video", {"prompt": PROMPT, "image": "https://internal.example/a"}))
    assert sim.state.jobs[data["video_id"]].reference_sha is not None
    assert "non-public" in msg and sim.state.jobs_created == 1


def test_input_path_rules(tmp_path: Path):
    allowed = tmp_path / "in"
    allowed.mkdir()
    (allowed / "ok.png").write_bytes(png())
    settings = Settings(output_dir=tmp_path / "out", input_dirs=(allowed,), max_image_bytes=100, state_dir=tmp_path)
    with pytest.raises(guard.PathRefused, match="larger than"):
        guard.resolve_input_path(str(allowed / "ok.png"), settings)
    with pytest.raises(guard.PathRefused, match="NUL"):
        guard.resolve_input_path("ok\x00.png", settings)
    assert guard.output_path(settings, "clip", ".mp4") == settings.output_dir / "clip.mp4"
