"""`sora2 character create|show|list` and `sora2 generate --character`, run in-process against the simulator:
made once, reused from the record, named in clips, and refused before anything is sent where they cannot work."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sora2_bridge.shared.record import RECORD_FILE, JobRecord
from sora2_bridge.shared.simulator.render import character_box, character_colours
from sora2_bridge.shared.video import decode_frames

from .test_cli_output import one_json, run


@pytest.fixture
def base(sim) -> list[str]:
    return ["--provider", "local", "--base-url", sim.base_url]


@pytest.fixture
def make(base, character_mp4):
    """``make(name)`` -> the id of a character made through the CLI."""

    def create(name: str) -> str:
        rc, stdout, stderr = run(*base, "--json", "character", "create", name, str(character_mp4))
        assert rc == 0, stderr
        return one_json(stdout)["id"]

    return create


def requests(sim) -> dict[str, int]:
    return sim.state.stats()["requests"]


def box_share(frame: np.ndarray, slot: int, colour: tuple[int, int, int]) -> float:
    """The share of a character box's pixels in the character's colour (the rest is its name)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = character_box(slot, w, h)
    region = frame[y0:y1, x0:x1].reshape(-1, 3).astype(int)
    return float((np.abs(region - np.array(colour)).max(axis=1) < 40).mean())


# ---------------------------------------------------------------------------------------------- create, show, list
def test_create_makes_one_then_reuses_it_from_the_record(sim, base, character_mp4):
    rc, stdout, stderr = run(*base, "character", "create", "Mochi", str(character_mp4))
    assert rc == 0, stderr
    made = next(iter(sim.state.characters.values()))
    assert f"Made character {made.id} (Mochi) on local." in stdout
    assert f"sora2 generate PROMPT --character {made.id}" in stdout

    rc, stdout, stderr = run(*base, "character", "create", "Mochi", str(character_mp4))
    assert rc == 0, stderr
    assert f"Reused character {made.id} (Mochi)" in stdout and "nothing was sent" in stdout

    rc, stdout, _ = run(*base, "--json", "character", "create", "Mochi", str(character_mp4))
    assert rc == 0
    assert one_json(stdout) == {"id": made.id, "name": "Mochi", "created_at": int(made.created), "reused": True,
                                "provider": "local", "video": str(character_mp4)}
    assert requests(sim).get("character_create") == 1


def test_create_json_says_made_now(sim, base, character_mp4):
    rc, stdout, _ = run(*base, "--json", "character", "create", "Pip", str(character_mp4))
    data = one_json(stdout)
    assert rc == 0 and data["reused"] is False and data["name"] == "Pip" and data["id"] in sim.state.characters


def test_create_works_with_simulate(character_mp4):
    rc, stdout, stderr = run("--simulate", "--json", "character", "create", "Mochi", str(character_mp4))
    assert rc == 0, stderr
    data = one_json(stdout)
    assert data["provider"] == "local" and data["id"].startswith("char_") and not data["reused"]
    rc, stdout, _ = run("character", "create", "Mochi", str(character_mp4), "--simulate")
    assert rc == 0 and f"Reused character {data['id']}" in stdout


@pytest.mark.parametrize(("name", "video", "words"), [
    ("", None, "needs a name"),
    ("x" * 81, None, "at most 80"),
    ("Mochi", "missing.mp4", "not found"),
])
def test_bad_input_is_refused_before_sending(sim, base, character_mp4, name, video, words):
    rc, stdout, stderr = run(*base, "character", "create", name, video or str(character_mp4))
    assert rc == 2 and words in stderr and "Traceback" not in stderr
    rc, stdout, _ = run(*base, "--json", "character", "create", name, video or str(character_mp4))
    assert rc == 2 and one_json(stdout)["error"]["code"] == "invalid_input"
    assert "character_create" not in requests(sim)


def test_show_names_the_character_and_the_video_it_was_made_from(sim, base, make, character_mp4):
    cid = make("Mochi")
    rc, stdout, stderr = run(*base, "character", "show", cid)
    assert rc == 0, stderr
    assert stdout.startswith(f"{cid}: Mochi, made ") and f"made from {character_mp4}" in stdout
    rc, stdout, _ = run(*base, "--json", "character", "show", cid)
    data = one_json(stdout)
    assert rc == 0 and (data["id"], data["name"], data["video_file"], data["provider"]) == (
        cid, "Mochi", str(character_mp4), "local")
    assert "reused" not in data and requests(sim)["character_retrieve"] == 2


def test_show_an_unknown_character_is_a_readable_service_error(base):
    rc, stdout, stderr = run(*base, "character", "show", "char_nope")
    assert rc == 1 and "char_nope" in stderr and "not found" in stderr and "Traceback" not in stderr
    rc, stdout, _ = run(*base, "--json", "character", "show", "char_nope")
    error = one_json(stdout)["error"]
    assert rc == 1 and "char_nope" in error["message"] and error["hint"]


def test_list_shows_the_records_characters_with_whole_ids(make, tmp_path, monkeypatch):
    ids = [make("Mochi"), make("Pip")]
    for width in (200, 50):  # a narrow terminal drops other columns, never cuts an id
        rc, stdout, _ = run("character", "list", width=width)
        assert rc == 0 and all(cid in stdout for cid in ids)
    rc, stdout, _ = run("character", "list", width=200)
    assert "Mochi" in stdout and "Pip" in stdout and "local" in stdout
    assert stdout.index(ids[1]) < stdout.index(ids[0])  # newest first
    rc, stdout, _ = run("--json", "character", "list", "--limit", "1")
    rows = one_json(stdout)["data"]
    assert rc == 0 and [r["id"] for r in rows] == [ids[1]] and rows[0]["name"] == "Pip"
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path / "empty"))
    rc, stdout, _ = run("character", "list")
    assert rc == 0 and "No characters in the local record yet" in stdout
    rc, stdout, _ = run("--json", "character", "list")
    assert rc == 0 and one_json(stdout) == {"data": []}


# ---------------------------------------------------------------------------------------------- generate --character
def test_generate_with_two_characters_sends_them_and_draws_them(sim, base, make, tmp_path):
    mochi, pip = make("Mochi"), make("Pip")
    out = tmp_path / "friends.mp4"
    rc, stdout, stderr = run(*base, "--json", "generate", "Two friends meet", "--size", "1280x720",
                             "--character", mochi, "--character", pip, "-o", str(out))
    assert rc == 0, stderr
    data = one_json(stdout)
    assert data["characters"] == [mochi, pip] and data["file"] == str(out)
    job = next(iter(sim.state.jobs.values()))
    assert job.characters == ["Mochi", "Pip"]
    row = JobRecord(Path.cwd() / "sora2-data" / RECORD_FILE).get(data["id"])
    assert row.request["characters"] == [{"id": mochi}, {"id": pip}]
    frames = decode_frames(out, max_frames=2)
    frames = frames if frames.dtype == np.uint8 else (frames * 255).round().astype(np.uint8)
    colours = character_colours(["Mochi", "Pip"])
    for frame in frames:
        assert box_share(frame, 0, colours[0]) > 0.8 and box_share(frame, 1, colours[1]) > 0.8


def test_generate_names_its_characters_in_the_estimate(base, make):
    cid = make("Mochi")
    rc, stdout, stderr = run(*base, "generate", "Mochi waves", "--character", cid, "--no-wait")
    assert rc == 0, stderr
    assert "4s, 1 character on local" in stderr and "Started video_" in stdout
    rc, stdout, _ = run(*base, "--json", "generate", "A plain clip", "--no-wait")
    assert rc == 0 and one_json(stdout)["characters"] == []
    rc, stdout, _ = run(*base, "cost", "--seconds", "8")
    assert rc == 0 and "for 8s of sora-2" in stdout


@pytest.mark.parametrize(("extra", "words"), [
    (["--character", "char_a", "--character", "char_b", "--character", "char_c"], "at most 2. Drop 1"),
    (["--character", "char_a", "--character", "char_a"], "named twice"),
    (["--character", "not an id"], "not a character id"),
])
def test_bad_character_lists_are_refused_before_sending(sim, base, extra, words):
    rc, stdout, stderr = run(*base, "generate", "Three friends", *extra)
    assert rc == 2 and words in stderr and "Traceback" not in stderr and stdout == ""
    rc, stdout, _ = run(*base, "--json", "generate", "Three friends", *extra)
    error = one_json(stdout)["error"]
    assert rc == 2 and words in error["message"] and error["param"] == "characters"
    assert requests(sim) == {} and sim.state.jobs == {}


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_likeness_is_refused_readably(sim, base, character_mp4, as_json):
    sim.faults.likeness_next = 1
    rc, stdout, stderr = run(*base, *(["--json"] if as_json else []), "character", "create", "Ana",
                             str(character_mp4))
    assert rc == 1 and "Traceback" not in stderr
    if as_json:
        error = one_json(stdout)["error"]
        assert error["code"] == "moderation_blocked" and "likeness" in error["message"]
        assert "animal" in error["hint"] and error["param"] == "video"
    else:
        assert stdout == "" and "error:" in stderr and "likeness" in stderr and "moderation_blocked" in stderr
        assert "animal" in stderr  # the hint: what to upload instead
    rc, stdout, _ = run("--json", "character", "list")
    assert one_json(stdout) == {"data": []}  # nothing refused is recorded as made


COMMANDS = [
    ["character", "create", "Mochi", "VIDEO"],
    ["character", "show", "char_1"],
    ["generate", "Mochi waves", "--character", "char_1", "--no-wait"],
]


@pytest.mark.parametrize("provider", ["cometapi", "custom"])
@pytest.mark.parametrize("argv", COMMANDS, ids=["create", "show", "generate"])
@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_a_provider_without_characters_refuses_before_sending(sim, monkeypatch, character_mp4, provider, argv,
                                                             with_key):
    """The shared refusal, naming the config switch, whether or not a key is set; nothing reaches the service."""
    if with_key:
        monkeypatch.setenv("SORA2_API_KEY", "sk-fake-not-real")
    argv = [str(character_mp4) if a == "VIDEO" else a for a in argv]
    for as_json in (False, True):
        rc, stdout, stderr = run("--provider", provider, "--base-url", sim.base_url,
                                 *(["--json"] if as_json else []), *argv)
        text = one_json(stdout)["error"]["message"] if as_json else stderr
        assert rc == 2, text
        assert f"{provider} does not offer characters" in text and f"[providers.{provider}]" in text
        assert "characters = true" in text and "nothing was sent" in text
    assert requests(sim) == {} and sim.state.characters == {} and sim.state.jobs == {}


def test_the_config_switch_turns_characters_on_for_a_reseller(sim, monkeypatch, tmp_path, character_mp4):
    config = tmp_path / "config.toml"
    config.write_text("[providers.cometapi]\ncharacters = true\n")
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    monkeypatch.setenv("SORA2_API_KEY", "sk-fake-not-real")
    base = ["--provider", "cometapi", "--base-url", sim.base_url]
    rc, stdout, stderr = run(*base, "--json", "character", "create", "Mochi", str(character_mp4))
    assert rc == 0, stderr
    cid = one_json(stdout)["id"]
    rc, stdout, stderr = run(*base, "--json", "generate", "Mochi waves", "--character", cid, "--no-wait")
    assert rc == 0, stderr
    assert next(iter(sim.state.jobs.values())).characters == ["Mochi"]


def test_list_reads_the_record_whatever_the_provider(make):
    """The record holds characters made on every provider; listing it sends nothing, so it is never refused."""
    cid = make("Mochi")
    rc, stdout, _ = run("--provider", "cometapi", "character", "list")
    assert rc == 0 and cid in stdout


# ---------------------------------------------------------------------------------------------- storyboards
STORYBOARD = """
defaults: {size: 1280x720, seconds: 4}
characters:
  - {name: Mochi, video: mochi.mp4}
shots:
  - id: garden
    prompt: A small cat walks into a sunny garden
    characters: [Mochi]
  - id: nap
    prompt: The cat falls asleep under a rose bush
    start: {continue: garden}
    characters: [Mochi]
"""


@pytest.fixture
def storyboard(tmp_path, character_mp4) -> Path:
    (tmp_path / "mochi.mp4").write_bytes(character_mp4.read_bytes())
    path = tmp_path / "cat.yaml"
    path.write_text(STORYBOARD)
    return path


def test_a_storyboard_plans_makes_and_then_reuses_its_character(sim, base, storyboard, tmp_path):
    film = str(tmp_path / "cat.mp4")
    rc, stdout, stderr = run(*base, "storyboard", str(storyboard), "--dry-run", "-o", film, width=200)
    assert rc == 0, stderr
    assert re.search(r"│\s+│ Mochi │ mochi\.mp4 │ to make │ \$0\.00 │", stdout), stdout  # no id yet
    assert re.search(r"│ 2 │ nap\s+│ continue garden │ sora-2 │ 4\s+│ Mochi\s+│", stdout), stdout
    assert "for 2 shots and 1 character to make on local" in stdout
    assert requests(sim) == {}  # a dry run sends nothing

    rc, stdout, stderr = run(*base, "--json", "storyboard", str(storyboard), "-o", film)
    assert rc == 0, stderr
    result = one_json(stdout)
    [made] = result["characters"]
    assert (made["name"], made["status"], made["reused"]) == ("Mochi", "done", False)
    assert [job.characters for job in sim.state.jobs.values()] == [["Mochi"], ["Mochi"]]

    rc, stdout, _ = run(*base, "--json", "storyboard", str(storyboard), "--dry-run", "-o", film)
    [planned] = one_json(stdout)["characters"]
    assert rc == 0 and (planned["state"], planned["character_id"], planned["source"]) == ("reused", made["id"], "video")
    rc, stdout, _ = run(*base, "storyboard", str(storyboard), "-o", film)
    assert rc == 0 and "(2 shots, 2 reused; 1 character, 1 reused; spent $0.00)" in stdout
    assert requests(sim)["character_create"] == 1


def test_a_storyboard_plans_characters_where_the_config_switch_turns_them_on(storyboard, tmp_path, monkeypatch):
    rc, _, stderr = run("--provider", "cometapi", "storyboard", str(storyboard), "--dry-run")
    assert rc == 2 and "cometapi does not offer characters" in stderr and "characters = true" in stderr
    config = tmp_path / "config.toml"
    config.write_text("[providers.cometapi]\ncharacters = true\n")
    monkeypatch.setenv("SORA2_CONFIG", str(config))
    rc, stdout, stderr = run("--provider", "cometapi", "--json", "storyboard", str(storyboard), "--dry-run")
    assert rc == 0, stderr
    assert [c["state"] for c in one_json(stdout)["characters"]] == ["to make"]
