"""The `sora2` command: real runs against the simulator, exit codes, --json, Ctrl-C, and `sora2 simulate`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import av
import httpx
import pytest

from sora2_bridge.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_generate_simulate_makes_a_playable_mp4(capsys, tmp_path):
    out = tmp_path / "fox.mp4"
    rc, stdout, stderr = run(capsys, "generate", "A red fox in snow", "--simulate", "-o", str(out), "--json")
    assert rc == 0, stderr
    data = json.loads(stdout)
    assert data["status"] == "completed" and data["file"] == str(out) and data["cost_usd"] == 0.4
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 120 and c.streams.audio


def test_every_command_against_a_running_simulator(capsys, sim, tmp_path):
    base = ["--provider", "local", "--base-url", sim.base_url]
    rc, stdout, _ = run(capsys, *base, "--json", "generate", "A kite over a beach", "--no-wait")
    assert rc == 0
    vid = json.loads(stdout)["id"]
    rc, stdout, _ = run(capsys, *base, "status", vid)
    assert rc == 0 and vid in stdout and "completed" in stdout
    rc, stdout, _ = run(capsys, *base, "download", vid, "-o", str(tmp_path))
    assert rc == 0 and (tmp_path / f"{vid}.mp4").is_file()
    rc, stdout, _ = run(capsys, *base, "download", vid, "--variant", "thumbnail", "-o", str(tmp_path / "t.webp"))
    assert rc == 0 and (tmp_path / "t.webp").read_bytes()[8:12] == b"WEBP"
    rc, stdout, _ = run(capsys, *base, "--json", "remix", vid, "Make the kite red", "-o", str(tmp_path / "r.mp4"))
    assert rc == 0 and json.loads(stdout)["remixed_from_video_id"] == vid
    rc, stdout, _ = run(capsys, *base, "--json", "extend", vid, "It flies away", "--seconds", "4", "--no-wait")
    assert rc == 0 and json.loads(stdout)["seconds"] == "8"
    rc, stdout, _ = run(capsys, *base, "--json", "list")
    assert rc == 0 and len(json.loads(stdout)["data"]) == 3
    rc, stdout, _ = run(capsys, "--json", "list", "--local")
    rows = json.loads(stdout)["data"]
    assert rc == 0 and {r["kind"] for r in rows} == {"create", "remix", "extend"}
    assert next(r for r in rows if r["id"] == vid)["files"]["video"] == str((tmp_path / f"{vid}.mp4").resolve())
    rc, stdout, _ = run(capsys, *base, "delete", vid)
    assert rc == 0 and f"Deleted {vid}" in stdout


@pytest.mark.parametrize("argv,words", [
    (["generate", "", "--simulate"], "prompt is empty"),
    (["generate", "ok", "--simulate", "--seconds", "7"], "choose one of 4, 8, 12"),
    (["generate", "ok", "--simulate", "--size", "1920x1080"], "1920x1080 needs sora-2-pro"),
    (["generate", "ok", "--simulate", "--image", "/nonexistent.png"], "Image file not found"),
    (["generate", "ok"], "set the environment variable SORA2_API_KEY or COMETAPI_KEY"),
    (["--provider", "custom", "status", "video_1"], "SORA2_BASE_URL"),
    (["cost", "--model", "sora-2", "--size", "1792x1024"], "needs sora-2-hd or sora-2-pro"),
])
def test_bad_input_exits_2_with_a_clear_message(capsys, argv, words):
    rc, _, stderr = run(capsys, *argv)
    assert rc == 2 and words in stderr and "Traceback" not in stderr


def test_failed_job_exits_1_with_the_services_reason(capsys):
    rc, _, stderr = run(capsys, "generate", "A __policy__ scene", "--simulate")
    assert rc == 1 and "moderation_blocked" in stderr


def test_cost_needs_no_key_and_no_network(capsys):
    rc, stdout, _ = run(capsys, "--provider", "openai", "cost", "--model", "sora-2-pro", "--size", "1792x1024",
                        "--seconds", "12")
    assert rc == 0 and "$6.00" in stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def test_ctrl_c_while_waiting_prints_the_job_id(sim, sim_config, tmp_path):
    sim_config.instant = False
    sim_config.speed = 0.05  # a 4 s clip takes a minute: we interrupt long before
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sora2_bridge.cli", "--provider", "local", "--base-url", sim.base_url,
         "generate", "A slow sunrise", "-o", str(tmp_path / "x.mp4")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 30
    while sim.state.stats()["jobs_created"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    vid = next(iter(sim.state.jobs))
    assert f"sora2 download {vid}" in stderr and "keeps rendering" in stderr


def test_sora2_simulate_serves_the_api(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sora2_bridge.cli", "simulate", "--port", str(port), "--speed", "100",
         "--data-dir", str(tmp_path / "sim")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/v1"
        _wait_for(base + "/videos")
        assert httpx.get(base + "/videos").status_code == 401  # no key: the service's 401
        r = httpx.post(base + "/videos", headers={"Authorization": "Bearer any"}, files={"prompt": (None, "a fox")})
        assert r.status_code == 200 and r.json()["status"] in ("queued", "in_progress")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
