"""Serving a team over HTTP: bearer tokens (401 with WWW-Authenticate), Host checks, refusing an open bind,
per-token limits under the team budget, and one caller never seeing another's jobs. Real HTTP on loopback."""

from __future__ import annotations

import contextlib
import json
import dataclasses
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
import uvicorn
from hypothesis import given, settings as hsettings, strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sora2_bridge.mcp_server import cli
from sora2_bridge.mcp_server.auth import allowed_hosts, bind_refusal, not_found_text, plan_http
from sora2_bridge.mcp_server.tokens import ENV_TOKENS_FILE, TokenStore, hash_token

PROMPTS = ("a red kite over a beach", "a paper boat in the rain", "a fox in fresh snow")


@pytest.fixture
def tokens_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "tokens.json"
    monkeypatch.setenv(ENV_TOKENS_FILE, str(path))
    return path


@dataclasses.dataclass
class Served:
    url: str
    port: int


@contextlib.contextmanager
def serving(server, plan) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    """The server's streamable HTTP app, as ``sora2-mcp --transport http`` builds it, on a loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    app = server.streamable_http_app(**plan.app_kwargs())
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not uv.started:
            assert thread.is_alive(), "the HTTP server did not start"
            time.sleep(0.01)
        yield Served(f"http://127.0.0.1:{port}{plan.path}", port)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def as_token(url: str, token: str) -> Client:
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=60)))


def plan_for(port: int = 8000):  # type: ignore[no-untyped-def]
    return plan_http("127.0.0.1", port, "/mcp", env=os.environ)


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------- tokens file
def test_token_commands_keep_only_hashes(tokens_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "add", "alice", "--per-call-usd", "0.5", "--daily-usd", "2"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("s2m_") and len(token) > 40
    text = tokens_file.read_text()
    assert token not in text and hash_token(token) in text
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert cli.main(["token", "add", "alice"]) == 2  # the name is taken
    assert "exists already" in capsys.readouterr().err
    assert cli.main(["token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "alice" in listed and "$0.50" in listed and "$2.00" in listed
    assert token not in listed and hash_token(token) not in listed
    assert cli.main(["token", "revoke", "alice"]) == 0
    assert TokenStore(tokens_file).entries() == []
    assert cli.main(["token", "revoke", "alice"]) == 2


@hsettings(max_examples=50, deadline=None)
@given(st.text(max_size=80))
def test_only_the_issued_token_is_accepted(tmp_path_factory: pytest.TempPathFactory, guess: str) -> None:
    store = TokenStore(tmp_path_factory.mktemp("tok") / "t.json")
    token = store.add("alice")
    assert store.find(token).name == "alice"  # type: ignore[union-attr]
    assert store.find(guess) is None or guess == token


# ---------------------------------------------------------------------------------------------- binding
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_open_bind_beyond_loopback_is_refused_without_auth(host: str) -> None:
    refusal = bind_refusal(host, authenticated=False, insecure=False)
    assert refusal and "token add" in refusal and "--insecure" in refusal
    assert bind_refusal(host, authenticated=False, insecure=True) is None
    assert bind_refusal(host, authenticated=True, insecure=False) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    assert bind_refusal(host, authenticated=False, insecure=False) is None


def test_cli_refuses_open_bind_before_serving(tokens_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert not tokens_file.exists()
    assert cli.main(["--transport", "http", "--host", "0.0.0.0", "--simulate"]) == 2
    err = capsys.readouterr().err
    assert "without authentication" in err and "sora2-mcp token add" in err and "--insecure" in err


def test_allowed_hosts_default_to_bound_and_local_forms() -> None:
    hosts = allowed_hosts("10.0.0.5", ["mcp.example.com", "team.example.com:8443"])
    for h in ("10.0.0.5:*", "127.0.0.1:*", "localhost:*", "[::1]:*", "mcp.example.com", "team.example.com:8443"):
        assert h in hosts
    assert "evil.example:*" not in hosts
    plan = plan_http("127.0.0.1", 8000, "/mcp", insecure=False, env={ENV_TOKENS_FILE: "/nonexistent/t.json",
                                                                     "SORA2_MCP_ALLOWED_HOSTS": "a.example"})
    assert plan.security.enable_dns_rebinding_protection and "a.example:*" in plan.security.allowed_hosts
    assert plan.auth is None  # no tokens file: loopback without auth, as before


# ---------------------------------------------------------------------------------------------- over HTTP
async def test_bearer_token_required_over_http(make_server, tokens_file: Path) -> None:
    store = TokenStore(tokens_file)
    alice = store.add("alice")
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        async with httpx.AsyncClient(timeout=30) as http:
            for headers in ({}, {"Authorization": "Bearer s2m_wrong"}, {"Authorization": f"Basic {alice}"}):
                r = await http.post(srv.url, json=INIT, headers={**HEADERS, **headers})
                assert r.status_code == 401
                assert r.headers["www-authenticate"].startswith("Bearer ")
                assert "resource_metadata=" in r.headers["www-authenticate"]
            meta = await http.get(f"http://127.0.0.1:{srv.port}/.well-known/oauth-protected-resource/mcp")
            assert meta.status_code == 200 and meta.json()["resource"].endswith("/mcp")
            bad_host = await http.post(srv.url, json=INIT, headers={
                **HEADERS, "Authorization": f"Bearer {alice}", "Host": "evil.example"})
            assert bad_host.status_code == 421
            bad_origin = await http.post(srv.url, json=INIT, headers={
                **HEADERS, "Authorization": f"Bearer {alice}", "Origin": "http://evil.example"})
            assert bad_origin.status_code == 403
        async with as_token(srv.url, alice) as c:
            price = await c.call_tool("estimate_cost", {"seconds": 4})
        assert not price.is_error and price.structured_content["usd"] == 0.4
        store.revoke("alice")
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(srv.url, json=INIT, headers={**HEADERS, "Authorization": f"Bearer {alice}"})
        assert r.status_code == 401


async def test_per_token_limits_under_the_team_budget(make_server, settings, tokens_file: Path) -> None:
    store = TokenStore(tokens_file)
    alice = store.add("alice", per_call_usd=0.5)
    bob = store.add("bob", daily_usd=1.0)
    carol = store.add("carol", daily_usd=5.0)
    plan = plan_for()
    team = dataclasses.replace(settings, budget_usd=1.5, max_usd_per_call=1.0)
    with serving(make_server(team, http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            dear = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 8})
        assert dear.is_error
        assert "per-call limit of token 'alice' ($0.50)" in dear.content[0].text
        async with as_token(srv.url, bob) as c:
            for prompt in PROMPTS[:2]:
                ok = await c.call_tool("generate_video", {"prompt": prompt, "seconds": 4})
                assert not ok.is_error, ok.content
            over = await c.call_tool("generate_video", {"prompt": PROMPTS[2], "seconds": 4})
        assert over.is_error
        assert "daily budget of token 'bob' ($1.00): $0.80 spent today" in over.content[0].text
        async with as_token(srv.url, carol) as c:
            first = await c.call_tool("generate_video", {"prompt": PROMPTS[2], "seconds": 4})
            assert not first.is_error, first.content
            team_over = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 4})
        assert team_over.is_error
        text = team_over.content[0].text
        assert "SORA2_MCP_BUDGET_USD" in text and "$1.50" in text and "carol" not in text


async def test_one_token_cannot_see_another_tokens_jobs(make_server, tokens_file: Path) -> None:
    store = TokenStore(tokens_file)
    alice, bob = store.add("alice"), store.add("bob")
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            made = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 4})
            assert not made.is_error, made.content
            vid = made.structured_content["video_id"]
            mine = await c.call_tool("get_status", {"video_id": vid})
            assert not mine.is_error and mine.structured_content["video_id"] == vid
            listed = await c.call_tool("list_videos", {})
            assert [v["video_id"] for v in listed.structured_content["videos"]] == [vid]
        async with as_token(srv.url, bob) as c:
            unknown = await c.call_tool("get_status", {"video_id": "video_doesnotexist123"})
            answers = {name: await c.call_tool(name, args) for name, args in {
                "get_status": {"video_id": vid},
                "download_video": {"video_id": vid},
                "get_frame": {"video_id": vid},
                "delete_video": {"video_id": vid},
                "forget_video": {"video_id": vid},
                "remix_video": {"video_id": vid, "prompt": "make it blue"},
            }.items()}
            listed = await c.call_tool("list_videos", {})
            same_again = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 4})
        assert unknown.is_error and unknown.content[0].text == not_found_text("video_doesnotexist123")
        for name, answer in answers.items():
            assert answer.is_error, name
            assert answer.content[0].text == not_found_text(vid), name  # as if it did not exist
        assert listed.structured_content["videos"] == []
        # An identical request is not handed alice's job: bob pays for his own.
        assert not same_again.is_error and same_again.structured_content["video_id"] != vid
        assert not same_again.structured_content["reused_existing"]


async def test_signed_links_work_without_a_token_while_the_endpoint_needs_one(make_server, tokens_file: Path) -> None:
    """The signature is the authorization of a file URL: an agent fetches it with a plain HTTP client."""
    from mcp.types import ResourceLink

    alice = TokenStore(tokens_file).add("alice")
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            made = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 4, "wait_seconds": 60})
            saved = await c.call_tool("download_video", {"video_id": made.structured_content["video_id"]})
        assert not saved.is_error, saved.content
        [link] = [b for b in saved.content if isinstance(b, ResourceLink) and str(b.uri).startswith("http")]
        async with httpx.AsyncClient(timeout=30) as http:
            clip = await http.get(str(link.uri))
            endpoint = await http.post(srv.url, json=INIT, headers=HEADERS)
        assert clip.status_code == 200 and clip.content == Path(saved.structured_content["file_path"]).read_bytes()
        assert endpoint.status_code == 401


def rpc_result(response: httpx.Response) -> dict:
    """The JSON-RPC result of a streamable-HTTP answer, sent as JSON or as server-sent events."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/json"):
        return response.json()["result"]
    events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return next(e["result"] for e in events if "result" in e)


async def test_two_stateless_instances_answer_one_client_round_robin(make_server, tokens_file: Path) -> None:
    """No session lives in an instance: each request of one client may go to either (a plain round-robin proxy)."""
    alice = TokenStore(tokens_file).add("alice")
    plans = [plan_for(), plan_for()]
    assert all(p.app_kwargs()["stateless_http"] for p in plans)
    headers = {**HEADERS, "Authorization": f"Bearer {alice}", "MCP-Protocol-Version": "2025-11-25"}

    def call(n: int, name: str, arguments: dict) -> dict:
        return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments}}

    with serving(make_server(http=plans[0]), plans[0]) as a, serving(make_server(http=plans[1]), plans[1]) as b:
        async with httpx.AsyncClient(timeout=60) as http:
            init = await http.post(a.url, json=INIT, headers=headers)
            assert "mcp-session-id" not in init.headers
            made = rpc_result(await http.post(b.url, json=call(2, "generate_video", {"prompt": PROMPTS[1]}),
                                              headers=headers))
            video_id = made["structuredContent"]["video_id"]
            status = rpc_result(await http.post(a.url, json=call(3, "get_status", {"video_id": video_id}),
                                                headers=headers))
    assert not status.get("isError") and status["structuredContent"]["video_id"] == video_id
