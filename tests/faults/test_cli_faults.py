"""The fault suite for the `sora2` command: a clear message, nothing paid for lost, nothing paid twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import av

from sora2_bridge.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_survives(fault, dialect, sim, capsys, tmp_path):
    assert sim.state.config.dialect == dialect
    base = ["--provider", "local", "--base-url", sim.base_url]
    fault.apply(sim, "create")
    rc, stdout, stderr = run(capsys, *base, "--json", "generate", "A lighthouse at dusk" + fault.prompt_suffix,
                             "--no-wait")
    assert rc == 0, stderr
    vid = json.loads(stdout)["id"]
    fault.apply(sim, "download")
    fault.apply(sim, "expired")
    out = tmp_path / "clip.mp4"
    rc, stdout, stderr = run(capsys, *base, "download", vid, "-o", str(out))
    assert sim.state.stats()["jobs_created"] == 1  # nothing paid twice
    rc_local, local, _ = run(capsys, "--json", "list", "--local")
    assert [r["id"] for r in json.loads(local)["data"]] == [vid]  # nothing paid for is lost
    if fault.words(dialect) is None:
        assert rc == 0, stderr
        with av.open(str(out)) as c:
            assert c.streams.video[0].frames == 120
    else:
        assert rc == 1 and "Traceback" not in stderr
        assert all(w in stderr for w in fault.words(dialect)), stderr
        assert not out.exists()


def test_killed_mid_wait_then_collected_after_restart(sim, sim_config, capsys, tmp_path):
    sim_config.instant = False
    sim_config.speed = 0.2  # ~15 s render: the first process dies long before
    cmd = [sys.executable, "-m", "sora2_bridge.cli", "--provider", "local", "--base-url", sim.base_url,
           "generate", "A slow tide", "-o", str(tmp_path / "never.mp4")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    deadline = time.monotonic() + 30
    while sim.state.stats()["jobs_created"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    rc, stdout, _ = run(capsys, "--json", "list", "--local")
    rows = json.loads(stdout)["data"]
    assert len(rows) == 1 and rows[0]["status"] in ("queued", "in_progress")
    sim.state.advance_clock(60)  # the service finishes while nobody waits
    out = tmp_path / "collected.mp4"
    rc, _, stderr = run(capsys, "--provider", "local", "--base-url", sim.base_url, "download", rows[0]["id"],
                        "-o", str(out))
    assert rc == 0, stderr
    assert out.stat().st_size > 0 and sim.state.stats()["jobs_created"] == 1
