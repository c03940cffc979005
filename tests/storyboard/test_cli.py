"""`sora2 storyboard`: the dry run sends nothing, the budget refuses before anything, a rerun pays nothing."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sora2_bridge.cli import main

BOARD = """
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: harbour
    prompt: A fishing harbour at dawn, gulls over the boats
  - id: deck
    prompt: The camera moves onto the deck of the nearest boat
    start: {continue: harbour}
output: {film: harbour.mp4}
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture
def board(tmp_path: Path) -> Path:
    path = tmp_path / "board.yaml"
    path.write_text(BOARD)
    return path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args, **kwargs):
        raise AssertionError("a request was sent")

    monkeypatch.setattr(httpx.AsyncClient, "send", refuse)


def test_dry_run_prints_the_plan_and_sends_nothing(capsys, board: Path, no_network) -> None:
    rc, stdout, stderr = run(capsys, "storyboard", str(board), "--dry-run", "--json")
    assert rc == 0, stderr
    plan = json.loads(stdout)
    assert plan["sent"] is False and plan["order"] == ["harbour", "deck"] and plan["total_usd"] == 0.8
    assert [s["cost_usd"] for s in plan["shots"]] == [0.4, 0.4]
    rc, stdout, _ = run(capsys, "storyboard", str(board), "--dry-run")
    assert rc == 0 and "$0.80" in stdout and "continue harbour" in stdout


def test_over_budget_and_bad_storyboards_are_refused_before_anything(capsys, board: Path, no_network) -> None:
    rc, _, stderr = run(capsys, "storyboard", str(board), "--max-usd", "0.5", "--simulate")
    assert rc == 2 and "$0.80" in stderr and "$0.50" in stderr
    board.write_text(BOARD.replace("start: {continue: harbour}", "start: {continue: harbor}"))
    rc, _, stderr = run(capsys, "storyboard", str(board), "--simulate")
    assert rc == 2 and 'shot "deck", field "start.continue"' in stderr and "'harbour'" in stderr


def test_run_status_and_rerun_against_a_simulator(capsys, board: Path, sim) -> None:
    base = ["--provider", "local", "--base-url", sim.base_url]
    rc, stdout, stderr = run(capsys, *base, "storyboard", "status", str(board), "--json")
    assert rc == 0 and json.loads(stdout)["left"] == 2

    rc, stdout, stderr = run(capsys, *base, "storyboard", str(board), "--json")
    assert rc == 0, stderr
    result = json.loads(stdout)
    assert result["ok"] and Path(result["film"]).is_file() and Path(result["contact_sheet"]).is_file()
    assert sim.state.jobs_created == 2

    rc, stdout, _ = run(capsys, *base, "storyboard", "status", str(board), "--json")
    status = json.loads(stdout)
    assert status["left"] == 0 and {s["state"] for s in status["shots"]} == {"done"}

    rc, stdout, _ = run(capsys, *base, "storyboard", str(board), "--json")
    again = json.loads(stdout)
    assert rc == 0 and sim.state.jobs_created == 2 and again["spent_usd"] == 0
    assert all(s["reused"] for s in again["shots"])


def test_simulate_runs_are_found_by_status_and_reused_by_the_next_process(capsys, board: Path) -> None:
    """--simulate keeps its jobs in the data folder under one stable identity: `storyboard status --simulate`
    sees the shots of a --simulate run, and running it again pays for nothing."""
    rc, stdout, stderr = run(capsys, "--json", "--simulate", "storyboard", str(board))
    assert rc == 0, stderr
    first = json.loads(stdout)
    rc, stdout, stderr = run(capsys, "--json", "--simulate", "storyboard", "status", str(board))
    assert rc == 0, stderr
    status = json.loads(stdout)
    assert [s["state"] for s in status["shots"]] == ["done", "done"] and status["left_usd"] == 0
    rc, stdout, stderr = run(capsys, "--json", "--simulate", "storyboard", str(board))
    assert rc == 0, stderr
    again = json.loads(stdout)
    assert all(s["reused"] for s in again["shots"])
    assert [s["video_id"] for s in again["shots"]] == [s["video_id"] for s in first["shots"]]


def test_the_storyboards_own_provider_is_used_unless_one_is_chosen(capsys, tmp_path: Path, sim, monkeypatch) -> None:
    """`defaults.provider` in the file decides where the shots go when the command line names none."""
    monkeypatch.setenv("SORA2_BASE_URL", sim.base_url)  # where the local provider listens in this test
    board = tmp_path / "local.yaml"
    board.write_text(BOARD.replace("defaults: {", "defaults: {provider: local, "))
    rc, stdout, stderr = run(capsys, "--json", "storyboard", str(board))
    assert rc == 0, stderr
    assert sim.state.jobs_created == 2 and all(s["video_id"] for s in json.loads(stdout)["shots"])
