"""``--simulate`` keeps its jobs in the data folder: a later process polls and downloads what an earlier one started.

The simulator's state is a JSON file that several processes may share (the CLI and an MCP server at once), so a
save merges what others saved; a broken file is set aside instead of blocking simulate mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.simulator import SimulatorConfig
from sora2_bridge.shared.simulator.server import SIMULATE_BASE_URL, simulate_folder
from sora2_bridge.shared.simulator.store import STATE_FILE, SimulatorState


def sora2(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a new process, as a user runs it (the test's data folder and code under test)."""
    return subprocess.run(
        [sys.executable, "-m", "sora2_bridge.cli", "--simulate", *args],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )


def test_no_wait_then_download_in_a_new_process(tmp_path):
    started = sora2("--json", "generate", "A red ball bouncing", "--seconds", "4", "--no-wait", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    video_id = json.loads(started.stdout)["id"]
    saved = sora2("download", video_id, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    clip = tmp_path / f"{video_id}.mp4"
    assert clip.read_bytes()[4:8] == b"ftyp"
    # Recorded under the stable identity, not this run's port: dedupe and the ledger see one simulator.
    row = JobRecord(Path(os.environ["SORA2_DATA_DIR"]) / "jobs.sqlite3").get(video_id)
    assert row is not None and row.base_url == SIMULATE_BASE_URL and row.status == "completed"


def _state(folder: Path, sim_media_dir: Path) -> SimulatorState:
    return SimulatorState(SimulatorConfig(instant=True, data_dir=folder, media_dir=sim_media_dir))


def test_processes_sharing_the_folder_keep_each_others_jobs(tmp_path, sim_media_dir):
    folder = simulate_folder(tmp_path)
    first, second = _state(folder, sim_media_dir), _state(folder, sim_media_dir)
    a = first.add_job(model="sora-2", prompt="a", size="720x1280", seconds=4)
    b = second.add_job(model="sora-2", prompt="b", size="720x1280", seconds=4)  # second started before a existed
    first.delete_job(a.id)
    c = first.add_job(model="sora-2", prompt="c", size="720x1280", seconds=4)
    assert list(_state(folder, sim_media_dir).jobs) == [b.id, c.id]  # b kept, a stays deleted, creation order
    second.add_job(model="sora-2", prompt="d", size="720x1280", seconds=4)  # second still held a in memory
    assert a.id not in _state(folder, sim_media_dir).jobs and a.id not in second.jobs


def test_an_unreadable_state_file_is_set_aside(tmp_path, sim_media_dir):
    folder = tmp_path / "sim"
    folder.mkdir()
    (folder / STATE_FILE).write_text("{not json")
    state = _state(folder, sim_media_dir)
    assert state.jobs == {}
    assert (folder / f"{STATE_FILE}.broken").read_text() == "{not json"
    state.add_job(model="sora-2", prompt="x", size="720x1280", seconds=4)
    assert len(_state(folder, sim_media_dir).jobs) == 1


def test_saved_jobs_with_fields_from_another_version_load(tmp_path, sim_media_dir):
    folder = tmp_path / "sim"
    state = _state(folder, sim_media_dir)
    job = state.add_job(model="sora-2", prompt="x", size="720x1280", seconds=4)
    payload = json.loads((folder / STATE_FILE).read_text())
    payload["jobs"][0]["added_later"] = 1
    payload["jobs"].append({"id": "video_incomplete"})
    (folder / STATE_FILE).write_text(json.dumps(payload))
    assert list(_state(folder, sim_media_dir).jobs) == [job.id]
