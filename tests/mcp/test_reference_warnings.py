"""generate_video tells the agent (result and a progress message before paying) that a tiny image will look blurry."""

from __future__ import annotations

import base64
import io
import json

from mcp import Client
from PIL import Image

SAID = "the reference image is 10x10; it is enlarged 128x to 720x1280 and will look blurry"


def data_url(size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 20, 20)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def test_a_tiny_reference_is_warned_in_the_result(server, sim, sim_config):
    sim_config.instant = False
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(server) as c:
        tiny = await c.call_tool("generate_video", {"prompt": "A red kite", "image": data_url((10, 10))},
                                 progress_callback=on_progress)
        fine = await c.call_tool("generate_video", {"prompt": "A red kite", "image": data_url((720, 1280))})
    assert not tiny.is_error and tiny.structured_content is not None
    assert [w.startswith(SAID) for w in tiny.structured_content["warnings"]] == [True]
    assert SAID in json.loads(tiny.content[0].text)["warnings"][0]  # also for clients reading only the text
    assert messages and SAID in messages[0]  # the first progress message, sent before the create
    assert fine.structured_content is not None and fine.structured_content["warnings"] is None
