"""Sora 2 Storyboard against the local simulator: outputs, budget, readable refusals, Cancel and resume, the first
frame from an IMAGE, and the same record keys as `sora2 storyboard`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.nodes.storyboard import Sora2Storyboard
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.storyboard import load_storyboard, plan_storyboard
from sora2_bridge.shared.video import decode_frames, probe

BOARD = """\
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: fold
    prompt: Close-up of hands folding a paper boat on a kitchen table, morning light
  - id: launch
    prompt: The same hands set the paper boat into a rain-filled gutter; it starts to drift
    start: {continue: fold}
    join_after: {crossfade_ms: 300}
  - id: night
    prompt: The same gutter at night, neon reflections, the paper boat glowing faintly
    start: {remix: launch}
"""


def creates(sim) -> int:
    """Jobs the service made (creates, remixes, extensions): what was paid for."""
    return sim.state.jobs_created


def record() -> JobRecord:
    return JobRecord(data_dir() / "jobs.sqlite3")


async def test_outputs_a_film_the_shot_ids_a_contact_sheet_and_the_cost(comfy, local, caplog):
    from comfy_api.latest import InputImpl

    caplog.set_level("INFO", logger="sora2_bridge.nodes")
    out = await comfy.run(Sora2Storyboard, storyboard=BOARD, max_usd=2.0)
    film, ids, sheet, cost = out.args
    assert isinstance(film, InputImpl.VideoFromFile) and film.get_dimensions() == (1280, 720)
    info = probe(film.get_stream_source())
    assert info.duration == pytest.approx(12.0, abs=0.1) and info.has_audio
    shots = json.loads(ids)
    assert list(shots) == ["fold", "launch", "night"] and len(set(shots.values())) == 3
    assert all(v.startswith("video_") for v in shots.values())
    assert isinstance(sheet, torch.Tensor) and sheet.dtype == torch.float32 and sheet.ndim == 4
    assert sheet.shape[0] == 1 and sheet.shape[-1] == 3 and 0.0 <= float(sheet.min()) <= float(sheet.max()) <= 1.0
    assert isinstance(cost, float) and cost == pytest.approx(1.2)  # 3 x 4 s at $0.10/s
    assert creates(local) == 3
    # one bar over the film, ending at 100; a status line with every shot's state; a log line per state change
    values = [v for v, total, node in comfy.progress]
    assert values == sorted(values) and values[-1] == 100 and all(t == 100 for _, t, _ in comfy.progress)
    assert len([v for v in values if 0 < v < 95]) >= 3, values  # each shot moved the bar
    assert any("fold: done" in t and "launch: " in t and "night: " in t for t in comfy.texts), comfy.texts
    assert "spent $1.20" in comfy.texts[-1]
    per_shot = [r.getMessage() for r in caplog.records if 'shot "launch"' in r.getMessage()]
    assert 3 <= len(per_shot) == len(set(per_shot)) <= 6, per_shot  # not one per download chunk

    again = await comfy.run(Sora2Storyboard, storyboard=BOARD, max_usd=2.0)  # e.g. after a restart of ComfyUI
    assert json.loads(again.args[1]) == shots and creates(local) == 3 and again.args[3] == pytest.approx(1.2)
    assert "3 reused" in comfy.texts[-1] and "spent $0.00" in comfy.texts[-1]


async def test_over_budget_is_refused_at_queue_time_and_before_anything_is_sent(comfy, local):
    errors = comfy.errors(Sora2Storyboard, storyboard=BOARD, max_usd=1.0)
    assert len(errors) == 1 and "$1.20" in errors[0] and "$1.00" in errors[0]
    with pytest.raises(NodeError, match=r"\$1\.20.*\$1\.00"):
        await comfy.run(Sora2Storyboard, storyboard=BOARD, max_usd=1.0)
    assert creates(local) == 0
    assert comfy.validate(Sora2Storyboard, storyboard=BOARD, max_usd=1.2) is True


@pytest.mark.parametrize("edit, shot, field", [
    (("start: {continue: fold}", "start: {continue: folt}"), "launch", "start.continue"),
    (("start: {remix: launch}", "start: {remix: launch}\n    secs: 4"), "night", "secs"),
    (("start: {remix: launch}", "seconds: 5"), "night", "seconds"),
    (("start: {remix: launch}", "start: {remix: launch}\n    seconds: 8"), "night", "seconds"),
    (("start: {continue: fold}", "start: {continue: night}"), "launch", "start"),  # a cycle
    (("start: {continue: fold}", "start: {image: missing.png}"), "launch", "start.image"),
])
async def test_a_bad_storyboard_is_one_message_naming_the_shot_and_field(comfy, local, edit, shot, field):
    text = BOARD.replace(*edit)
    assert text != BOARD
    prefix = f'shot "{shot}", field "{field}'
    errors = comfy.errors(Sora2Storyboard, storyboard=text)
    assert len(errors) == 1 and prefix in errors[0], errors
    with pytest.raises(NodeError) as exc:
        await comfy.run(Sora2Storyboard, storyboard=text, max_usd=5.0)
    assert prefix in str(exc.value) and "Traceback" not in str(exc.value)
    assert comfy.texts[-1] == f"Failed: {exc.value}"
    assert creates(local) == 0


def test_queue_time_check_leaves_links_and_a_replaceable_first_image_to_the_run(comfy):
    assert comfy.validate(Sora2Storyboard, storyboard=["5", 0]) is True  # wired: known only when it runs
    first_image = BOARD.replace("    prompt: Close-up", "    start: {image: upload.png}\n    prompt: Close-up")
    assert comfy.validate(Sora2Storyboard, storyboard=first_image) is True  # the IMAGE input may replace it


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_gets_an_answer_at_queue_time_never_an_exception(comfy, text):
    result = comfy.validate(Sora2Storyboard, storyboard=text)
    assert result is True or (isinstance(result, str) and result.count("Custom validation failed") == 1)


async def test_cancel_names_the_running_ids_and_a_rerun_pays_only_for_what_was_missing(comfy, local, sim_config,
                                                                                       caplog):
    first_shot = BOARD.split("  - id: launch")[0]
    done = await comfy.run(Sora2Storyboard, storyboard=first_shot, max_usd=2.0)
    fold_id = json.loads(done.args[1])["fold"]
    assert creates(local) == 1

    sim_config.instant, sim_config.speed = False, 0.05  # a job that would take a minute
    two = BOARD.split("  - id: night")[0]
    task = asyncio.ensure_future(comfy.run(Sora2Storyboard, storyboard=two, max_usd=2.0))
    for _ in range(200):  # until "launch" was created from fold's last frame
        if creates(local) == 2:
            break
        await asyncio.sleep(0.05)
    assert creates(local) == 2 and not task.done()
    comfy.cancel()
    with pytest.raises(comfy.Interrupted) as exc:
        await task
    running = exc.value.video_ids
    assert len(running) == 1 and running[0] != fold_id
    assert record().get(running[0]).status in ("queued", "in_progress")  # kept, still billed on the service
    assert f"launch ({running[0]})" in comfy.texts[-1] and "Queue the same graph again" in comfy.texts[-1]
    assert any(running[0] in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    comfy.reset_cancel()
    httpx.post(f"{local.root_url}/_sim/clock", json={"advance": 120})  # the job finishes meanwhile
    out = await comfy.run(Sora2Storyboard, storyboard=two, max_usd=2.0)
    assert json.loads(out.args[1]) == {"fold": fold_id, "launch": running[0]}
    assert creates(local) == 2  # fold reused, launch collected: nothing paid twice
    assert probe(out.args[0].get_stream_source()).duration == pytest.approx(8.0, abs=0.1)


async def test_the_image_input_becomes_the_first_frame(comfy, local):
    h, w = 360, 640  # smaller than the film: fitted (scaled) to 1280x720
    y = torch.linspace(0, 1, h).view(h, 1, 1)
    x = torch.linspace(0, 1, w).view(1, w, 1)
    image = torch.cat([x.expand(h, w, 1), y.expand(h, w, 1), torch.full((h, w, 1), 0.3)], dim=-1).unsqueeze(0)
    one = BOARD.split("  - id: launch")[0]
    out = await comfy.run(Sora2Storyboard, storyboard=one, max_usd=1.0, image=image)
    shot_id = json.loads(out.args[1])["fold"]
    assert local.state.jobs[shot_id].reference_sha  # sent as the first shot's reference
    first = torch.from_numpy(decode_frames(out.args[0].get_stream_source(), max_frames=1)[0]).float()
    expected = torch.nn.functional.interpolate(image.permute(0, 3, 1, 2), size=(720, 1280), mode="bilinear",
                                               align_corners=True)[0].permute(1, 2, 0)
    assert float((first - expected).abs().mean()) < 0.05
    # without the image, the same storyboard is another shot (its key holds the image's bytes)
    plain = await comfy.run(Sora2Storyboard, storyboard=one, max_usd=1.0)
    assert json.loads(plain.args[1])["fold"] != shot_id and creates(local) == 2


async def test_the_cli_and_the_node_share_record_keys_so_the_second_pays_nothing(comfy, local, tmp_path):
    from sora2_bridge.cli import main

    board = tmp_path / "board.yaml"
    board.write_text(BOARD)
    argv = ["--provider", "local", "--base-url", local.base_url, "storyboard", str(board), "--json"]
    assert await asyncio.to_thread(main, argv) == 0
    assert creates(local) == 3
    made = {row.request_key: row.id for row in record().list(limit=10)}

    out = await comfy.run(Sora2Storyboard, storyboard=BOARD, max_usd=2.0, provider="local", base_url=local.base_url)
    assert creates(local) == 3  # every shot reused from the CLI's run
    plan = plan_storyboard(load_storyboard(BOARD), "local", base_url=local.base_url)
    keys = {s.id: s.key for s in plan.shots}
    assert json.loads(out.args[1]) == {shot: made[key] for shot, key in keys.items()}
    assert Path(out.args[0].get_stream_source()).is_file()


async def test_with_provider_auto_the_storyboards_default_provider_is_used(comfy, local, monkeypatch):
    monkeypatch.setenv("SORA2_PROVIDER", "cometapi")  # no key for it: using it would fail
    one = BOARD.split("  - id: launch")[0].replace("defaults: {", "defaults: {provider: local, ")
    out = await comfy.run(Sora2Storyboard, storyboard=one, max_usd=1.0)
    assert list(json.loads(out.args[1])) == ["fold"] and creates(local) == 1
    with pytest.raises(NodeError, match="SORA2_API_KEY"):  # the widget wins over the storyboard
        await comfy.run(Sora2Storyboard, storyboard=one, max_usd=1.0, provider="cometapi")
