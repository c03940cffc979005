"""``sora2-mcp --simulate`` as a real subprocess: over stdio (what desktop clients launch) and streamable HTTP,
and restarted between calls."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

import av
from mcp import Client, StdioServerParameters

from sora2_bridge.shared.simulator.server import SIMULATE_BASE_URL

PROMPT = "A calico cat playing a piano on stage"


def server_command() -> list[str]:
    """The installed console script next to this interpreter, else the module (same code either way)."""
    script = Path(sys.executable).parent / "sora2-mcp"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sora2_bridge.mcp_server.cli"]


def user_env(tmp_path: Path) -> dict[str, str]:
    """A fresh user; PYTHONPATH is passed on so the server runs the code under test, not another installed copy."""
    env = {
        "SORA2_DATA_DIR": str(tmp_path / "data"),
        "SORA2_CONFIG": str(tmp_path / "no-config.toml"),
        "SORA2_MCP_OUTPUT_DIR": str(tmp_path / "clips"),
    }
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


async def test_stdio_generate_poll_and_play(tmp_path):
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "--simulate"], env=user_env(tmp_path))
    async with Client(params, read_timeout_seconds=60) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"generate_video", "get_status", "estimate_cost"} <= names
        started = await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 4})
        assert not started.is_error, started.content
        video_id = started.structured_content["video_id"]
        assert started.structured_content["status"] in ("queued", "in_progress")
        deadline = time.monotonic() + 60
        while True:
            status = await c.call_tool("get_status", {"video_id": video_id})
            assert not status.is_error, status.content
            data = status.structured_content
            if data["status"] == "completed" or time.monotonic() > deadline:
                break
            await asyncio.sleep(min(1.0, data["next_check_seconds"] or 1.0))
        saved = await c.call_tool("download_video", {"video_id": video_id})  # get_status only reads
    assert data["status"] == "completed", data
    assert not saved.is_error, saved.content
    path = Path(saved.structured_content["file_path"])
    assert str(path) == (data["file_path"] or data["target_path"])
    assert path.parent == (tmp_path / "clips").resolve()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
        assert container.streams.audio, "the clip has a soundtrack"
        frame = next(container.decode(video=0))
        assert frame.width == 720
        assert 3.5 <= float(container.duration / av.time_base) <= 4.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def stop(proc: asyncio.subprocess.Process) -> None:
    """End a server process started by a test: asked to stop, killed if it does not within 10 s."""
    if proc.returncode is None:
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout=10)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


async def test_streamable_http_transport(tmp_path):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *server_command(), "--simulate", "--transport", "http", "--host", "127.0.0.1", "--port", str(port),
        env={**user_env(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if proc.returncode is not None:
                    raise AssertionError((await proc.stderr.read()).decode()) from None  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the HTTP server did not start"
                await asyncio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as c:
            tools = {t.name for t in (await c.list_tools()).tools}
            price = await c.call_tool("estimate_cost", {"model": "sora-2-pro", "seconds": 8})
        assert "generate_video" in tools
        assert price.structured_content["usd"] == 2.4 and price.structured_content["simulated"]
    finally:
        await stop(proc)


async def test_simulate_keeps_jobs_across_server_processes(tmp_path):
    """One process per call (as the MCP Inspector's CLI mode runs it): the second process polls the first's job."""
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "--simulate"], env=user_env(tmp_path))
    async with Client(params, read_timeout_seconds=60) as c:
        started = await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 4})
    assert not started.is_error, started.content
    video_id = started.structured_content["video_id"]
    async with Client(params, read_timeout_seconds=90) as c:
        status = await c.call_tool("get_status", {"video_id": video_id, "wait_seconds": 60})
        saved = await c.call_tool("download_video", {"video_id": video_id})
        again = await c.call_tool("generate_video", {"prompt": PROMPT, "seconds": 4})
    assert not status.is_error, status.content
    data = status.structured_content
    assert data["status"] == "completed" and data["kind"] == "create", data
    assert Path(saved.structured_content["file_path"]).is_file()
    # The same request in a new process is the same request: the stable identity lets dedupe find the first job.
    assert again.structured_content["reused_existing"] and again.structured_content["video_id"] == video_id
    record = sqlite3.connect(tmp_path / "data" / "jobs.sqlite3")
    assert record.execute("SELECT base_url FROM jobs").fetchall() == [(SIMULATE_BASE_URL,)]
    ledger = sqlite3.connect(tmp_path / "data" / "mcp-spend.sqlite3")
    assert ledger.execute("SELECT base_url, video_id FROM spend").fetchall() == [(SIMULATE_BASE_URL, video_id)]


async def test_stdio_generate_sequence_and_follow_it(tmp_path):
    """A two-shot sequence over stdio: the id comes back at once, the film and its contact sheet at the end."""
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "--simulate"], env=user_env(tmp_path))
    shots = [{"id": "stage", "prompt": PROMPT},
             {"id": "bow", "prompt": "The cat stands up and bows to the audience", "start": {"continue": "stage"}}]
    async with Client(params, read_timeout_seconds=60) as c:
        started = await c.call_tool("generate_sequence", {"shots": shots, "size": "1280x720", "seconds": 4})
        assert not started.is_error, started.content
        sequence_id = started.structured_content["sequence_id"]
        assert started.structured_content["status"] == "running"
        deadline = time.monotonic() + 120
        while True:
            status = await c.call_tool("get_sequence_status", {"sequence_id": sequence_id})
            assert not status.is_error, status.content
            data = status.structured_content
            if data["status"] not in ("running", "joining") or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
    assert data["status"] == "completed", data
    assert [s["state"] for s in data["shots"]] == ["done", "done"]
    film = Path(data["film_path"])
    assert film.parent.parent == (tmp_path / "clips").resolve() and Path(data["contact_sheet_path"]).is_file()
    assert any(block.type == "image" for block in status.content)
    with av.open(str(film)) as container:
        assert container.streams.audio, "the film has a soundtrack"
        assert 7.5 <= float(container.duration / av.time_base) <= 8.5
