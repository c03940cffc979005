"""Nodes that make a clip on the service: Sora 2 Video (text/image-to-video), Sora 2 Remix, Sora 2 Extend.

Each returns the clip as ComfyUI's core VIDEO (a lazy ``VideoFromFile`` on the downloaded MP4: nothing is
decoded unless a downstream node asks), its ``video_id`` for chaining, its ``last_frame`` (to seed the next clip)
and its cost in USD. Sora 2 Video also takes up to two character ids (from Sora 2 Character); Remix and Extend
do not, because the service does not allow characters there. The seed is never sent: like ComfyUI's own API
nodes it only decides whether to run again.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import InputImpl, io

from ..shared.client import request_key
from ..shared.config import provider_tables
from ..shared.errors import InvalidInputError, Sora2Error
from ..shared.media import FIT_MODES
from ..shared.models import validate_prompt, validate_seconds, validate_size, validate_video_id
from ..shared.pricing import price_note
from ..shared.providers import PROVIDERS
from ..shared.video import last_frame
from .characters import character_inputs, check_characters_wired, chosen_characters
from .runtime import CATEGORY, PROVIDER_CHOICES, Clip, NodeRun, node_key, provider_for_validation
from .tensors import frame_to_image, image_to_reference
from .validation import widget_values


def _union(attr: str) -> list[str]:
    """Every value of ``attr`` (name, sizes or seconds) over every provider table, with the models the user's
    config file adds, so a model added there is offered without a release; the built-in tables when that file is
    broken (a run then says what is wrong with it)."""
    try:
        tables = provider_tables()
    except Sora2Error:
        tables = PROVIDERS
    seen: dict[str, None] = {}
    for provider in tables.values():
        for spec in provider.models.values():
            value = getattr(spec, attr)
            seen.update(dict.fromkeys((value,) if isinstance(value, str) else value))
    return list(seen)


# Options are the union over every provider table, so a saved workflow stays valid whichever provider is set;
# the chosen provider's own limits are checked before anything is sent.
MODELS = _union("name")
SIZES = _union("sizes")
SECONDS = sorted({int(s) for s in _union("seconds")})
SEED_MAX = 2**31 - 1


def provider_inputs() -> list[Any]:
    return [
        io.Combo.Input(
            "provider", options=PROVIDER_CHOICES, default="auto", optional=True,
            tooltip="Which service to use. 'auto' = SORA2_PROVIDER or the user config file (default cometapi); "
                    "'local' = the free simulator (`sora2 simulate`). The API key is never a widget: it comes from "
                    "SORA2_API_KEY (or COMETAPI_KEY / OPENAI_API_KEY) or the user config file.",
        ),
        io.String.Input(
            "base_url", default="", optional=True,
            tooltip="Optional endpoint of an OpenAI-compatible /v1/videos service (no key, no query string). "
                    "Empty = SORA2_BASE_URL or the provider's default.",
        ),
    ]


def clip_outputs() -> list[Any]:
    return [
        io.Video.Output("clip", display_name="video", tooltip="The clip (MP4 with audio), as ComfyUI's VIDEO type."),
        io.String.Output("clip_id", display_name="video_id",
                         tooltip="The service's id of the clip: wire it to Remix, Extend or Load Job."),
        io.Image.Output("last_frame", display_name="last_frame",
                        tooltip="The clip's final frame, to start the next clip from (image-to-video)."),
        io.Float.Output("cost_usd", display_name="cost_usd",
                        tooltip="What the clip costs at the provider's listed rate (estimate, USD)."),
    ]


def seed_input() -> Any:
    return io.Int.Input(
        "seed", default=0, min=0, max=SEED_MAX, control_after_generate=True,
        tooltip="Not sent to the service. The same inputs and seed reuse the clip already paid for (also after a "
                "restart); change the seed to generate (and pay for) a new one.",
    )


async def clip_output(clip: Clip) -> io.NodeOutput:
    import asyncio

    frame = await asyncio.to_thread(last_frame, str(clip.path))
    return io.NodeOutput(
        InputImpl.VideoFromFile(str(clip.path)), clip.video_id, frame_to_image(frame), float(clip.cost_usd or 0.0)
    )


class Sora2Video(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeVideo",
            display_name="Sora 2 Video",
            category=CATEGORY,
            description="Generate a clip with sound from a prompt, optionally starting from an image "
                        "(any size: it is fitted to the clip's size). Outputs the core VIDEO type.",
            inputs=[
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="What happens in the clip: subject, action, camera, sound."),
                io.Combo.Input("model", options=MODELS, default="sora-2",
                               tooltip="sora-2: fast, 720p. sora-2-pro: higher quality and the larger sizes. "
                                       "sora-2-hd: CometAPI's HD tier."),
                io.Combo.Input("size", options=SIZES, default="1280x720",
                               tooltip="WIDTHxHEIGHT. sora-2 offers 1280x720 and 720x1280; larger sizes need sora-2-pro."),
                io.Combo.Input("seconds", options=SECONDS, default=4,
                               tooltip="Clip length. 16 and 20 s are offered by providers updated in 2026."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="How the optional image is made to match the size: crop (fill, cut edges), "
                                       "pad (whole image on black bars) or stretch."),
                seed_input(),
                io.Image.Input("image", optional=True,
                               tooltip="Optional first frame (image-to-video). The first image of a batch is used."),
                *character_inputs(),
                *provider_inputs(),
            ],
            outputs=clip_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, model: Any = None) -> bool | str:
        """Checked when the graph is queued, before anything is paid for (one input named: see ``validation``)."""
        values = {**widget_values(_node_id(cls)), "model": model}
        verdicts = [check_settings(values.get("model"), values.get("size"), values.get("seconds"),
                                   values.get("provider")), check_characters_wired(cls)]
        return " ".join(v for v in verdicts if v is not True) or True

    @classmethod
    async def execute(cls, prompt: str, model: str, size: str, seconds: int, fit: str, seed: int,
                      image: Any = None, character_1: str | None = None, character_2: str | None = None,
                      provider: str = "auto", base_url: str = "") -> io.NodeOutput:
        async with NodeRun.open(cls.hidden.unique_id, provider, base_url) as run:
            client = run.client
            fitted = image_to_reference(image, size, fit) if image is not None else None
            for warning in fitted.warnings if fitted else ():
                run.reporter.warn(warning)
            req = client.build_request(prompt, model=model, size=size, seconds=seconds,
                                       input_reference=fitted.image if fitted else None,
                                       characters=chosen_characters(character_1, character_2))
            if note := price_note(client.provider, req.model, req.size):  # a guessed price is said, before paying
                run.reporter.warn(note)
            key = node_key("create", client, request_key(client.config.provider, client.config.base_url, req), seed)
            clip = await run.produce(key, lambda k: client.create_from_request(req, key=k), what="a new clip",
                                     cost_hint=client.estimate(req))
            return await clip_output(clip)


class Sora2Remix(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeRemix",
            display_name="Sora 2 Remix",
            category=CATEGORY,
            description="A new clip from a finished one, changed as the prompt says (same model, size and length).",
            inputs=[
                io.String.Input("video_id", default="", tooltip="The clip to remix (wire a video_id output here)."),
                io.String.Input("prompt", multiline=True, default="", tooltip="What to change."),
                seed_input(),
                *provider_inputs(),
            ],
            outputs=clip_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    async def execute(cls, video_id: str, prompt: str, seed: int, provider: str = "auto",
                      base_url: str = "") -> io.NodeOutput:
        async with NodeRun.open(cls.hidden.unique_id, provider, base_url) as run:
            client = run.client
            source, text = _id_and_prompt(video_id, prompt)
            key = node_key("remix", client, [source, text], seed)
            clip = await run.produce(key, lambda k: client.remix(source, text, key=k), what=f"a remix of {source}")
            return await clip_output(clip)


class Sora2Extend(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeExtend",
            display_name="Sora 2 Extend",
            category=CATEGORY,
            description="Continue a finished clip: the result is the original followed by `seconds` more.",
            inputs=[
                io.String.Input("video_id", default="", tooltip="The clip to continue (wire a video_id output here)."),
                io.String.Input("prompt", multiline=True, default="", tooltip="What happens next."),
                io.Combo.Input("seconds", options=SECONDS, default=4, tooltip="Seconds to add."),
                seed_input(),
                *provider_inputs(),
            ],
            outputs=clip_outputs(),
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, seconds: Any = None) -> bool | str:
        """The added seconds against the provider's offer (the source's model is known only when it runs)."""
        values = {**widget_values(_node_id(cls)), "seconds": seconds}
        return check_settings(None, None, values.get("seconds"), values.get("provider"))

    @classmethod
    async def execute(cls, video_id: str, prompt: str, seconds: int, seed: int, provider: str = "auto",
                      base_url: str = "") -> io.NodeOutput:
        async with NodeRun.open(cls.hidden.unique_id, provider, base_url) as run:
            client = run.client
            source, text = _id_and_prompt(video_id, prompt)
            key = node_key("extend", client, [source, text, str(seconds)], seed)
            clip = await run.produce(key, lambda k: client.extend(source, text, seconds, key=k), what=f"an extension of {source}")
            return await clip_output(clip)


def _node_id(cls: Any) -> Any:
    return getattr(getattr(cls, "hidden", None), "unique_id", None)


def check_settings(model: Any, size: Any, seconds: Any, provider: Any) -> bool | str:
    """Model, size and seconds against the chosen provider's table, as one message naming every problem once.

    ``None`` = not known yet (a linked input): not checked. Membership in the widget's options is checked here
    too: ComfyUI's server does not check the options of V3 combo inputs (a value from an old saved workflow
    reaches the node as it is).
    """
    if model is not None and model not in MODELS:
        return f"model={model!r} is not offered; choose one of {', '.join(MODELS)}."
    spec = provider_for_validation(provider if isinstance(provider, str) else None)
    checks = []
    if model is not None and size is not None:
        checks.append(lambda: validate_size(spec, model, size))
    if seconds is not None:
        checks.append(lambda: validate_seconds(spec, model or spec.default_model, seconds))
    problems = []
    for check in checks:
        try:
            check()
        except InvalidInputError as exc:
            problems.append(str(exc))
    return " ".join(problems) or True


def _id_and_prompt(video_id: Any, prompt: Any) -> tuple[str, str]:
    """Checked here, before any request; a refusal becomes a NodeError in NodeRun.open like every Sora2Error."""
    return validate_video_id(video_id), validate_prompt(prompt)


NODES = [Sora2Video, Sora2Remix, Sora2Extend]
