"""Numbers out of range and outputs that cannot be written: refused by `sora2` before a single request.

A job is paid when it is created and saved minutes later, so every way the save can fail is checked first. Each row
runs `sora2` in-process against a simulator that counts every API call; the table is also in docs/reliability.md.
"""

from __future__ import annotations

import json

import av
import pytest

from sora2_bridge.cli import main

# (row id, argv after the provider options, words the error must contain)
ROWS = [
    ("timeout negative", ["generate", "ok", "--timeout", "-5"], "--timeout: must be greater than 0, got -5"),
    ("timeout zero", ["download", "video_1", "--timeout", "0"], "--timeout: must be greater than 0"),
    ("timeout not a number", ["generate", "ok", "--timeout", "nan"], "--timeout: expected a finite number"),
    ("list limit zero", ["list", "--limit", "0"], "--limit: must be between 1 and 1000"),
    ("list limit too large", ["list", "--limit", "5000"], "--limit: must be between 1 and 1000"),
    ("simulator speed zero", ["simulate", "--speed", "0"], "--speed: must be greater than 0"),
    ("simulator port out of range", ["simulate", "--port", "70000"], "--port: must be between 1 and 65535"),
    ("fault fraction above 1", ["simulate", "--fault-rate-limit", "1.5"], "must be between 0 and 1"),
    ("output parent is a file", ["generate", "ok", "-o", "{file}/clip.mp4"], "is a file, not a folder"),
    ("output under /proc", ["generate", "ok", "-o", "/proc/sora2/clip.mp4"], "Cannot write into /proc/sora2"),
    ("output exists", ["generate", "ok", "-o", "{file}"], "already exists. Choose another name, or pass --overwrite"),
    ("download over an existing file", ["download", "video_1", "-o", "{file}"], "already exists"),
    ("download into /proc", ["download", "video_1", "-o", "/proc"], "Cannot write into /proc"),
    ("remix output parent is a file", ["remix", "video_1", "more", "-o", "{file}/r.mp4"], "is a file, not a folder"),
    ("extend over an existing file", ["extend", "video_1", "more", "--seconds", "4", "-o", "{file}"],
     "already exists"),
]


@pytest.fixture
def existing(tmp_path):
    path = tmp_path / "existing.mp4"
    path.write_bytes(b"the user's own file")
    return path


@pytest.mark.parametrize("argv,words", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_refused_before_any_request(argv, words, sim, existing, capsys):
    rc = main(["--provider", "local", "--base-url", sim.base_url, *[a.format(file=existing) for a in argv]])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert words in err, err
    assert "Traceback" not in err
    assert sum(sim.state.stats()["requests"].values()) == 0
    assert existing.read_bytes() == b"the user's own file"


def test_overwrite_replaces_an_existing_file(sim, existing, capsys):
    base = ["--provider", "local", "--base-url", sim.base_url]
    assert main([*base, "--json", "generate", "A kite", "--no-wait"]) == 0
    vid = json.loads(capsys.readouterr().out)["id"]
    assert main([*base, "download", vid, "-o", str(existing), "--overwrite"]) == 0
    with av.open(str(existing)) as c:
        assert c.streams.video[0].frames == 120


def test_a_folder_output_receives_the_new_jobs_id(sim, tmp_path, capsys):
    base = ["--provider", "local", "--base-url", sim.base_url]
    folder = tmp_path / "clips"
    folder.mkdir()
    assert main([*base, "--json", "generate", "A kite", "-o", str(folder)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(folder / f"{data['id']}.mp4") and (folder / f"{data['id']}.mp4").is_file()
    assert [p.name for p in folder.iterdir()] == [f"{data['id']}.mp4"]  # the write probe left nothing behind


def test_no_wait_saves_nothing_so_checks_no_output(sim, capsys):
    rc = main(["--provider", "local", "--base-url", sim.base_url, "generate", "A kite", "--no-wait",
               "-o", "/proc/sora2/clip.mp4"])
    assert rc == 0, capsys.readouterr().err


@pytest.mark.parametrize("simulate", [False, True], ids=["provider", "simulate"])
def test_an_unusable_data_folder_is_refused_before_any_request(simulate, sim, existing, monkeypatch, capsys):
    """The record (and --simulate's jobs) live in the data folder: if it cannot be made, nothing may be paid."""
    monkeypatch.setenv("SORA2_DATA_DIR", str(existing / "data"))
    where = ["--simulate"] if simulate else ["--provider", "local", "--base-url", sim.base_url]
    rc = main([*where, "generate", "A kite"])
    err = capsys.readouterr().err
    assert rc == 2 and "Set SORA2_DATA_DIR to a folder you can write" in err and "Traceback" not in err, err
    assert sum(sim.state.stats()["requests"].values()) == 0
