"""Sora 2 Video / Remix / Extend / Load Job against the local simulator: outputs, progress, Cancel, errors, caching."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import torch

from sora2_bridge.nodes.generate import Sora2Extend, Sora2Remix, Sora2Video
from sora2_bridge.nodes.jobs import Sora2LoadJob
from sora2_bridge.nodes.runtime import NodeError
from sora2_bridge.shared import JobRecord
from sora2_bridge.shared.config import data_dir
from sora2_bridge.shared.video import probe

PROMPT = "A paper boat drifting down a rainy street, close-up, sound of rain"
# the prompts of workflows/sora2_remix_extend.json, so the simulator renders each clip once per session
SNOW = "Same shot, but it is snowing and the street is lit by neon signs"
BRIDGE = "The boat drifts under a bridge and out of sight"


def creates(sim) -> int:
    return httpx.get(f"{sim.root_url}/_sim/stats").json()["requests"].get("create", 0)


def check_clip(out, size=(1280, 720)):
    video, video_id, last, cost = out.args
    w, h = size
    assert video.get_dimensions() == (w, h)
    assert Path(video.get_stream_source()).is_file() and video.get_container_format().startswith("mov,mp4")
    assert isinstance(video_id, str) and video_id.startswith("video_")
    assert isinstance(last, torch.Tensor) and last.dtype == torch.float32 and tuple(last.shape) == (1, h, w, 3)
    assert 0.0 <= float(last.min()) and float(last.max()) <= 1.0
    assert isinstance(cost, float)
    return video, video_id, last, cost


async def test_text_to_video(comfy, local):
    out = await comfy.run(Sora2Video, prompt=PROMPT, seconds=4, seed=1)
    video, video_id, _, cost = check_clip(out)
    assert cost == pytest.approx(0.4)  # sora-2, 4 s at $0.10/s
    info = probe(video.get_stream_source())
    assert info.frames == 120 and info.has_audio
    row = JobRecord(data_dir() / "jobs.sqlite3").get(video_id)
    assert row.status == "completed" and row.files["video"] == str(Path(video.get_stream_source()).resolve())
    assert any("done" in t for t in comfy.texts)


async def test_image_to_video_fits_any_image(comfy, local):
    # a 500x300 magenta image for a 720x1280 (portrait) clip: fitted by cropping, sent as the exact size
    image = torch.zeros((1, 300, 500, 3))
    image[..., 0], image[..., 2] = 1.0, 1.0
    out = await comfy.run(Sora2Video, prompt=PROMPT, size="720x1280", fit="crop", seed=2, image=image)
    video, video_id, _, _ = check_clip(out, (720, 1280))
    assert local.state.jobs[video_id].reference_sha  # the service received a reference image
    from sora2_bridge.shared.video import decode_frames

    frame0 = decode_frames(video.get_stream_source(), max_frames=1)[0]
    r, g, b = (float(frame0[..., c].mean()) for c in range(3))
    assert r > 0.8 and b > 0.8 and g < 0.2  # the clip starts on our image


async def test_rgba_batches_are_accepted(comfy, local):
    image = torch.full((2, 64, 48, 4), 0.5)  # RGBA, a batch: the first image is used, alpha flattened
    out = await comfy.run(Sora2Video, prompt=PROMPT, fit="pad", seed=3, image=image)
    check_clip(out)


def test_any_image_layout_converts():
    from sora2_bridge.nodes.tensors import image_to_pil, image_to_reference
    from sora2_bridge.shared.media import probe_image

    assert image_to_pil(torch.full((1, 10, 20, 1), 1.0)).getpixel((0, 0)) == (255, 255, 255)
    assert image_to_pil(torch.zeros((10, 20, 3))).size == (20, 10)  # an unbatched image
    ref = image_to_reference(torch.rand((1, 300, 500, 3)), "720x1280", "pad")
    assert probe_image(ref.image.data) == ("image/png", (720, 1280))


@pytest.mark.parametrize("image, message", [
    (torch.zeros((1, 1, 1, 3)), "too small"),
    (torch.zeros((4, 5)), "must be an IMAGE"),
    (torch.full((1, 8, 8, 3), float("nan")), "NaN"),
    ("not an image", "must be an IMAGE"),
])
async def test_bad_image_is_a_readable_error_and_costs_nothing(comfy, local, image, message):
    with pytest.raises(NodeError, match=message) as exc:
        await comfy.run(Sora2Video, prompt=PROMPT, seed=4, image=image)
    assert exc.value.__cause__ is None and (exc.value.__context__ is None or exc.value.__suppress_context__)
    assert creates(local) == 0


async def test_bad_size_is_refused_at_queue_time_and_at_run_time(comfy, local):
    msg = comfy.validate(Sora2Video, model="sora-2", size="1792x1024", seconds=4)
    assert isinstance(msg, str) and "1792x1024" in msg and "sora-2-pro" in msg
    assert comfy.validate(Sora2Video, model="sora-2-pro", size="1792x1024", seconds=12) is True
    assert "640x480" in comfy.validate(Sora2Video, size="640x480")
    with pytest.raises(NodeError, match="sora-2-pro"):
        await comfy.run(Sora2Video, prompt=PROMPT, model="sora-2", size="1792x1024", seed=5)
    with pytest.raises(NodeError, match="prompt is empty"):
        await comfy.run(Sora2Video, prompt="   ", seed=5)
    assert creates(local) == 0


async def test_service_errors_are_readable(comfy, local):
    local.faults.policy_marker = "__policy__"
    with pytest.raises(NodeError) as exc:
        await comfy.run(Sora2Video, prompt="a clip __policy__", seed=6)
    assert "moderation" in str(exc.value).lower() and "Traceback" not in str(exc.value)
    local.faults.rate_limit_next = 5
    local.faults.retry_after_seconds = 0
    with pytest.raises(NodeError, match="rate"):
        await comfy.run(Sora2Video, prompt=PROMPT, seed=7)


async def test_missing_key_is_one_clear_error(comfy, monkeypatch):
    monkeypatch.delenv("SORA2_PROVIDER", raising=False)
    with pytest.raises(NodeError, match="SORA2_API_KEY") as exc:
        await comfy.run(Sora2Video, prompt=PROMPT, provider="cometapi", seed=8)
    assert "No API key" in str(exc.value)
    with pytest.raises(NodeError, match="credentials"):
        await comfy.run(Sora2Video, prompt=PROMPT, provider="custom", base_url="https://h/v1?key=sk-x", seed=8)


async def test_progress_follows_the_service_and_shows_status(comfy, local, sim_config):
    sim_config.instant = False
    sim_config.speed = 4.0  # queued 0.25 s, rendering 0.5 s
    await comfy.run(Sora2Video, prompt=PROMPT, seed=9)
    values = [v for v, total, _ in comfy.progress]
    assert values == sorted(values) and values[-1] == 100
    assert any(0 < v < 90 for v in values), values  # rendering percentages reached the bar
    assert all(total == 100 and node == "1" for _, total, node in comfy.progress)
    texts = " | ".join(comfy.texts)
    assert "queued" in texts and "rendering" in texts and "downloading" in texts, texts


async def test_cancel_stops_waiting_within_a_second_and_load_job_collects_it(comfy, local, sim_config, caplog):
    sim_config.instant = False
    sim_config.speed = 0.05  # a job that would take a minute
    task = asyncio.ensure_future(comfy.run(Sora2Video, prompt=PROMPT, seed=10))
    await asyncio.sleep(0.6)
    assert not task.done()
    pressed = time.monotonic()
    comfy.cancel()
    with pytest.raises(comfy.Interrupted) as exc:  # ComfyUI's own interruption: no error dialog
        await task
    assert time.monotonic() - pressed < 1.0
    video_id = exc.value.video_id
    assert video_id and video_id in str(exc.value) and "Load Job" in str(exc.value)
    # the exception's text never reaches the UI: the status line and the log say what keeps running
    assert video_id in comfy.texts[-1] and "Load Job" in comfy.texts[-1]
    assert any(video_id in r.getMessage() and "Load Job" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    row = JobRecord(data_dir() / "jobs.sqlite3").get(video_id)
    assert row is not None and row.status in ("queued", "in_progress")  # kept in the shared record

    comfy.reset_cancel()
    httpx.post(f"{local.root_url}/_sim/clock", json={"advance": 3600 * 0 + 120})  # the job finishes meanwhile
    out = await comfy.run(Sora2LoadJob, video_id=video_id)
    video, same_id, last, _ = check_clip(out)
    assert same_id == video_id and creates(local) == 1


async def test_cancel_is_reported_like_every_other_cancel_and_errors_as_errors(comfy, local, sim_config):
    comfy.cancel()
    assert await comfy.queue(Sora2Video, prompt=PROMPT, seed=20) == ("execution_interrupted", "")
    comfy.reset_cancel()
    event, message = await comfy.queue(Sora2Remix, video_id="video_does_not_exist", prompt=SNOW, seed=0)
    assert event == "execution_error" and "not found" in message


async def test_status_text_after_a_failure_shows_the_failure(comfy, local):
    with pytest.raises(NodeError) as exc:
        await comfy.run(Sora2Video, prompt=PROMPT + " __policy__", seed=21)  # the simulator refuses it
    assert any(t.startswith("starting a new clip") for t in comfy.texts)
    assert comfy.texts[-1] == f"Failed: {exc.value}"


async def test_cancel_then_requeue_resumes_the_same_job(comfy, local, sim_config):
    sim_config.instant = False
    sim_config.speed = 0.05
    task = asyncio.ensure_future(comfy.run(Sora2Video, prompt=PROMPT, seed=11))
    await asyncio.sleep(0.5)
    comfy.cancel()
    with pytest.raises(comfy.Interrupted) as exc:
        await task
    comfy.reset_cancel()
    httpx.post(f"{local.root_url}/_sim/clock", json={"advance": 120})
    out = await comfy.run(Sora2Video, prompt=PROMPT, seed=11)
    assert out.args[1] == exc.value.video_id and creates(local) == 1


async def test_same_inputs_and_seed_never_pay_twice_even_after_a_restart(comfy, local):
    first = await comfy.run(Sora2Video, prompt=PROMPT, seed=12)
    again = await comfy.run(Sora2Video, prompt=PROMPT, seed=12)  # e.g. ComfyUI restarted: its cache is gone
    assert again.args[1] == first.args[1] and creates(local) == 1
    assert any("reused" in t for t in comfy.texts)
    Path(first.args[0].get_stream_source()).unlink()  # the file went away: fetched again, not paid again
    third = await comfy.run(Sora2Video, prompt=PROMPT, seed=12)
    assert third.args[1] == first.args[1] and creates(local) == 1
    assert Path(third.args[0].get_stream_source()).is_file()
    other = await comfy.run(Sora2Video, prompt=PROMPT, seed=13)  # a new seed is a new clip
    assert other.args[1] != first.args[1] and creates(local) == 2


async def test_identical_nodes_running_at_once_share_one_job(comfy, local):
    a, b = await asyncio.gather(comfy.run(Sora2Video, "1", prompt=PROMPT, seed=14),
                                comfy.run(Sora2Video, "2", prompt=PROMPT, seed=14))
    assert a.args[1] == b.args[1] and creates(local) == 1


async def test_remix_and_extend(comfy, local):
    base = await comfy.run(Sora2Video, prompt=PROMPT, seed=15)
    source = base.args[1]
    remix = await comfy.run(Sora2Remix, video_id=source, prompt=SNOW, seed=0)
    _, remix_id, _, cost = check_clip(remix)
    assert remix_id != source and cost == pytest.approx(0.4)
    ext = await comfy.run(Sora2Extend, video_id=source, prompt=BRIDGE, seconds=4, seed=0)
    video, ext_id, _, cost = check_clip(ext)
    assert probe(video.get_stream_source()).duration == pytest.approx(8.0, abs=0.1)  # the stitched total
    assert cost == pytest.approx(0.4)  # only the added seconds are billed
    again = await comfy.run(Sora2Remix, video_id=source, prompt=SNOW, seed=0)
    assert again.args[1] == remix_id  # cached like a create
    assert len(comfy.errors(Sora2Extend, seconds=7)) == 1 and "seconds=7" in comfy.validate(Sora2Extend, seconds=7)
    with pytest.raises(NodeError, match="video id"):
        await comfy.run(Sora2Remix, video_id="", prompt="x", seed=0)


async def test_load_job_errors_are_readable(comfy, local):
    with pytest.raises(NodeError, match="not found"):
        await comfy.run(Sora2LoadJob, video_id="video_does_not_exist")
    with pytest.raises(NodeError, match="video id"):
        await comfy.run(Sora2LoadJob, video_id="../etc/passwd")


async def test_no_key_leaks_into_outputs_texts_files_or_the_saved_graph(comfy, sim, fast_polls, monkeypatch, tmp_path):
    secret = "sk-fake-SECRET-4f9a2b7c1d"
    monkeypatch.setenv("SORA2_PROVIDER", "custom")
    monkeypatch.setenv("SORA2_BASE_URL", sim.base_url)
    monkeypatch.setenv("SORA2_API_KEY", secret)
    widgets = {"prompt": PROMPT, "model": "sora-2", "size": "1280x720", "seconds": 4, "fit": "crop", "seed": 16,
               "provider": "auto", "base_url": ""}
    out = await comfy.run(Sora2Video, **widgets)
    video = out.args[0]
    # what ComfyUI would save: the API prompt and the UI graph (widget values), and the video it writes
    prompt_graph = {"1": {"class_type": "Sora2BridgeVideo", "inputs": widgets}}
    ui_graph = {"nodes": [{"id": 1, "type": "Sora2BridgeVideo", "widgets_values": list(widgets.values())}]}
    saved = tmp_path / "saved.mp4"
    video.save_to(str(saved), metadata={"prompt": prompt_graph, "workflow": ui_graph})
    blobs = [json.dumps(prompt_graph), json.dumps(ui_graph), saved.read_bytes().decode("latin-1"),
             " ".join(comfy.texts), repr(out.args), json.dumps(Sora2Video.GET_NODE_INFO_V1(), default=str)]
    for f in data_dir().rglob("*"):
        if f.is_file():
            blobs.append(f.read_bytes().decode("latin-1"))
    assert not [b for b in blobs if secret in b]


async def test_an_unwritable_downloads_folder_is_refused_before_paying(comfy, local, tmp_path, monkeypatch):
    """The clip is saved in the data folder's videos/: if nothing can be written there, no job is created."""
    monkeypatch.setenv("SORA2_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "videos").write_bytes(b"a file where the folder should be")
    with pytest.raises(NodeError, match="is a file, not a folder"):
        await comfy.run(Sora2Video, prompt=PROMPT, seed=31)
    assert creates(local) == 0


async def test_an_unusable_data_folder_is_a_readable_error_before_paying(comfy, local, tmp_path, monkeypatch):
    blocker = tmp_path / "data-is-a-file"
    blocker.write_bytes(b"x")
    monkeypatch.setenv("SORA2_DATA_DIR", str(blocker / "inside"))
    with pytest.raises(NodeError, match="Cannot open the job record .* SORA2_DATA_DIR"):
        await comfy.run(Sora2Video, prompt=PROMPT, seed=32)
    assert creates(local) == 0
