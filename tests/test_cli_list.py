"""`sora2 list`: ids are what users copy, so a narrow terminal folds or drops other columns, never cuts an id."""

from __future__ import annotations

import io
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from sora2_bridge import cli
from sora2_bridge.shared.models import Video
from sora2_bridge.shared.record import RECORD_FILE, JobRecord

PROMPT = "A calico cat playing a piano on a stage lit by one spotlight"
FILE = "/home/someone/.local/share/sora2-bridge/videos/a-long-folder-name/clip.mp4"


def long_id() -> str:
    return "video_" + secrets.token_hex(24)  # 48 hex digits: longer than today's ids


def list_local(tmp_path, monkeypatch, width: int, ids: list[str]) -> str:
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path))
    record = JobRecord(tmp_path / RECORD_FILE)
    for vid in ids:
        record.add(Video(id=vid, status="completed", model="sora-2-pro", size="1792x1024", seconds="12",
                         prompt=PROMPT), provider="cometapi", base_url="https://api.cometapi.com/v1", kind="create",
                   request={}, cost_usd=6.0)
        record.set_file(vid, "video", FILE)
    record.close()
    stdout = io.StringIO()
    saved = cli.out
    cli.out = Console(file=stdout, width=width, soft_wrap=True)
    try:
        assert cli.main(["list", "--local"]) == 0
    finally:
        cli.out = saved
    return stdout.getvalue()


def first_column(table_text: str) -> str:
    """The id column's text, line after line, joined: a folded id reads whole in it."""
    return "".join(line.split("│")[1].strip() for line in table_text.splitlines() if line.startswith("│"))


@pytest.mark.parametrize("width", [200, 120, 80])
def test_ids_stay_whole_on_one_line(tmp_path, monkeypatch, width):
    ids = [long_id() for _ in range(3)]
    text = list_local(tmp_path, monkeypatch, width, ids)
    lines = text.splitlines()
    assert all(any(vid in line for line in lines) for vid in ids), text
    assert "…" not in text and all(len(line) <= width for line in lines)
    assert "status" in text  # the id's neighbour stays


def test_at_80_columns_prompt_and_file_go_first(tmp_path, monkeypatch):
    text = list_local(tmp_path, monkeypatch, 80, [long_id()])
    assert "prompt" not in text and "file" not in text
    wide = list_local(tmp_path / "wide", monkeypatch, 300, [long_id()])
    assert "prompt" in wide and "file" in wide and PROMPT[:40] in wide and FILE in wide


def test_at_40_columns_ids_fold_but_keep_every_character(tmp_path, monkeypatch):
    ids = [long_id() for _ in range(3)]
    text = list_local(tmp_path, monkeypatch, 40, ids)
    assert "…" not in text and all(len(line) <= 40 for line in text.splitlines())
    column = first_column(text)
    assert sorted("video_" + part for part in column.split("video_")[1:]) == sorted(ids) and column.startswith(
        "video_"), text


@settings(max_examples=50, deadline=None)
@given(width=st.integers(20, 220), prompt=st.text(max_size=60),
       ids=st.lists(st.text("0123456789abcdef", min_size=1, max_size=64).map("video_".__add__), min_size=1,
                    max_size=4))
def test_no_width_cuts_an_id(width, ids, prompt):
    """Over any width and id length (the service's list has other columns: the same table)."""
    table = cli.job_table(("id", "status", "progress", "model", "size", "s", "prompt"),
                          [(vid, "in_progress", "42%", "sora-2", "1280x720", "8", prompt) for vid in ids], width)
    console = Console(file=io.StringIO(), width=width, soft_wrap=True)
    console.print(table)
    text = console.file.getvalue()
    assert first_column(text) == "".join(ids), text
