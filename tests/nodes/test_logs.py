"""What a clip writes to ComfyUI's log: one line per state change, no HTTP chatter, whatever the clip's length."""

from __future__ import annotations

import logging

import pytest

from sora2_bridge.nodes.generate import Sora2Extend, Sora2Video

PROMPT = "A paper boat drifting down a rainy street, close-up, sound of rain"
# The simulator's own server logs are not ComfyUI's: only what the nodes' process writes counts.
NOT_COMFY = ("uvicorn", "sora2_bridge.shared.simulator")


def comfy_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.INFO and not r.name.startswith(NOT_COMFY)]


@pytest.fixture
def comfy_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """ComfyUI's root logger is at INFO; loggers nobody configured (httpx) inherit it."""
    from sora2_bridge.nodes import quiet_http_logs

    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    quiet_http_logs()
    return caplog


async def test_a_4s_and_a_40s_clip_log_one_line_per_state_change(comfy, local, sim_config, comfy_log):
    sim_config.instant = False
    sim_config.speed = 4.0
    source = (await comfy.run(Sora2Video, prompt=PROMPT, seconds=20, seed=1)).args[1]
    comfy_log.clear()
    out = await comfy.run(Sora2Video, prompt=PROMPT, seconds=4, seed=2)
    short = comfy_log_lines(comfy_log)
    comfy_log.clear()
    await comfy.run(Sora2Extend, video_id=source, prompt="The boat drifts under a bridge", seconds=20, seed=3)
    long = comfy_log_lines(comfy_log)  # the extension's output is the whole 40 s clip
    print(f"log lines: 4 s clip {len(short)}, 40 s clip {len(long)}")
    for lines in (short, long):
        assert not [line for line in lines if line.startswith("httpx")], lines
        text = "\n".join(lines)
        assert "created" in text and "$" in text, text  # id and price
        assert "done after" in text and "MB in" in text, text  # seconds waited; size and time of the download
        # created, at most three progress marks (25/50/75 %), done, downloaded (+ the shared client's own
        # "downloaded" line): the clip's length and the number of polls or chunks change nothing
        assert len(lines) <= 7, lines
        assert len([line for line in lines if "rendering" in line]) <= 3, lines
    assert out.args[1] in "\n".join(short)


def test_http_loggers_keep_a_level_someone_chose(comfy_log):
    from sora2_bridge.nodes import quiet_http_logs

    logging.getLogger("httpx").setLevel(logging.DEBUG)
    quiet_http_logs()
    assert logging.getLogger("httpx").level == logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    quiet_http_logs()
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
