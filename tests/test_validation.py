"""Bad input is refused locally with a message that says what to change, and nothing is sent."""

import io
import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sora2_bridge.shared import AsyncSoraClient, ImageInput, InvalidInputError, resolve_config
from sora2_bridge.shared.models import validate_video_id


def png(w: int, h: int, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def sent():
    return []


@pytest.fixture
async def client(sent):
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    cfg = resolve_config("cometapi", api_key="k", env={})
    async with AsyncSoraClient(cfg, record=False, transport=httpx.MockTransport(handler)) as c:
        yield c


CASES = [
    (dict(prompt=""), "prompt", "empty"),
    (dict(prompt="   "), "prompt", "empty"),
    (dict(prompt="x" * 32001), "prompt", "at most 32000"),
    (dict(prompt="ok", size="1000x1000"), "size", "choose one of 720x1280, 1280x720"),
    (dict(prompt="ok", size="1792x1024"), "size", "needs sora-2-hd or sora-2-pro"),
    (dict(prompt="ok", size="big"), "size", "choose one of"),
    (dict(prompt="ok", seconds=10), "seconds", "choose one of 4, 8, 12"),
    (dict(prompt="ok", seconds="abc"), "seconds", "choose one of"),
    (dict(prompt="ok", input_reference=ImageInput(data=b"not an image", mime_type="image/png")), "input_reference",
     "not a readable image"),
    (dict(prompt="ok", input_reference=ImageInput(data=png(64, 64), mime_type="image/gif")), "input_reference",
     "JPEG, PNG or WebP"),
    (dict(prompt="ok", size="1280x720", input_reference=ImageInput(data=png(640, 480), mime_type="image/png")),
     "input_reference", "Fit it first"),
]


@pytest.mark.parametrize("kwargs,param,words", CASES)
async def test_bad_create_input_is_refused_before_sending(client, sent, kwargs, param, words):
    with pytest.raises(InvalidInputError) as exc:
        await client.create(**kwargs)
    assert exc.value.param == param
    assert words in str(exc.value)
    assert exc.value.exit_code == 2
    assert sent == []


@pytest.mark.parametrize("bad_id", ["", "  ", "../etc/passwd", "video 1", "a?b=c"])
async def test_bad_video_ids_are_refused(client, sent, bad_id):
    with pytest.raises(InvalidInputError, match="video id"):
        await client.retrieve(bad_id)
    assert sent == []


async def test_bad_variant_and_extend_seconds(client, sent, tmp_path):
    with pytest.raises(InvalidInputError, match="variant must be one of video, thumbnail, spritesheet"):
        await client.download_content("video_1", tmp_path / "x", variant="gif")
    with pytest.raises(InvalidInputError, match="seconds"):
        await client.extend("video_1", "more", 7)
    with pytest.raises(InvalidInputError, match="prompt is empty"):
        await client.remix("video_1", "")
    assert sent == []


def test_unknown_model_passes_through_with_generic_limits():
    cfg = resolve_config("cometapi", api_key="k", env={})
    import asyncio

    async def build():
        async with AsyncSoraClient(cfg, record=False) as c:
            req = c.build_request("ok", model="sora-2-all", size="1792x1024", seconds="8")
            return req, c.estimate(req)

    req, cost = asyncio.run(build())
    assert req.model == "sora-2-all"
    assert cost == pytest.approx(8 * 0.50)  # priced at the dearest known rate: estimates never undershoot


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_video_id_is_accepted_exactly_when_it_has_the_services_shape(text: str) -> None:
    """Every front end (CLI, nodes, MCP) refuses ids a URL path, query or terminal could misread, before a request."""
    shaped = re.fullmatch(r"[A-Za-z0-9_-]{1,200}", text.strip()) is not None
    try:
        assert validate_video_id(text) == text.strip() and shaped
    except InvalidInputError as exc:
        assert not shaped and exc.param == "video_id"
