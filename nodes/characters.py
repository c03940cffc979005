"""Sora 2 Character: a figure made once from a short VIDEO, whose id the clip and storyboard nodes name.

The node is a thin front end of ``AsyncSoraClient.create_character``: the same video (by content) and name on the
same service are answered from the shared job record and nothing is sent, so queueing the graph again, restarting
ComfyUI or running ``sora2 character create`` on the same file never makes the character twice. The status line
and the log say which happened.

The VIDEO is read as the file it already is (``get_stream_source()`` of a Load Video is its path: nothing is
decoded or re-encoded, and the record keeps the path); only a VIDEO that is not a file (frames made in the graph)
or one trimmed by an upstream node is encoded, by ComfyUI's own ``save_to``, because that is the video the graph
shows.

Also here: the optional ``character_1`` / ``character_2`` sockets the clip and storyboard nodes share, and their
queue-time check (a provider without characters is refused before anything is sent).
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

from comfy_api.latest import io as comfy_io

from ..shared.characters import (CHARACTER_NAME_MAX, MAX_CHARACTERS_PER_VIDEO, Character, CharacterVideo,
                                 load_character_video, require_characters, validate_character_ids,
                                 validate_character_name)
from ..shared.errors import InvalidInputError
from .runtime import CATEGORY, NodeError, NodeRun, provider_for_validation
from .validation import linked_inputs, widget_values

CHARACTER_INPUTS = tuple(f"character_{i}" for i in range(1, MAX_CHARACTERS_PER_VIDEO + 1))
# Container format (as PyAV names it) -> the file name a VIDEO held in memory is uploaded under.
MEMORY_FILENAMES = {"webm": "character.webm", "matroska": "character.webm", "mov": "character.mp4"}


def character_inputs() -> list[Any]:
    """Two optional sockets (a video takes at most two characters), each fed by a Sora 2 Character's id."""
    return [
        comfy_io.String.Input(
            name, optional=True, force_input=True,
            tooltip="Optional: a character id (wire a Sora 2 Character here) so the figure looks the same in "
                    "every clip that names it. Refer to it by its name in the prompt.",
        )
        for name in CHARACTER_INPUTS
    ]


def chosen_characters(*values: Any) -> list[str]:
    """The ids wired into the character sockets, in order; an unconnected or empty socket names none."""
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def check_characters_wired(cls: Any) -> bool | str:
    """Queue time: a character socket is wired but the chosen provider has no characters (nothing sent yet).

    The ids themselves come from links, known only when the graph runs; the client checks them then, still
    before anything is sent.
    """
    if not wired_characters(cls):
        return True
    return check_provider(widget_values(_queued_node(cls)).get("provider"))


def wired_characters(cls: Any) -> list[str]:
    """The character sockets of the node being queued that are wired (their ids are known only at run time)."""
    linked = linked_inputs(_queued_node(cls))
    return [name for name in CHARACTER_INPUTS if name in linked]


def _queued_node(cls: Any) -> Any:
    """The id of the node whose ``validate_inputs`` is running (ComfyUI's class clone carries it)."""
    return getattr(getattr(cls, "hidden", None), "unique_id", None)


async def character_names(run: NodeRun, ids: list[str]) -> dict[str, str]:
    """The wired ids by their names, for a node whose text names characters (a storyboard's shots).

    The ids are checked first (the provider has characters, at most two, their shape, no repeats), then each name
    comes from the local record (free) or, for a character made elsewhere, from the service (one GET).
    """
    assert run.client is not None
    client = run.client
    named: dict[str, str] = {}
    for cid in validate_character_ids(client.provider, ids):
        row = client.record.get_character(cid) if client.record is not None else None
        name = row.name if row is not None else (
            await run.guard(client.retrieve_character(cid), video_id=None)).name
        if not name:
            raise NodeError(f"The service describes character {cid} without a name, so no shot can name it; "
                            "make it again with Sora 2 Character.")
        if name in named:
            raise NodeError(f"character_1 and character_2 are both called {name!r} ({named[name]} and {cid}); "
                            "shots name characters by name, so make one of them under another name.")
        named[name] = cid
    return named


def check_provider(provider: Any) -> bool | str:
    """The chosen provider (widget, environment or config file) has characters; else the shared refusal."""
    try:
        require_characters(provider_for_validation(provider if isinstance(provider, str) else None))
    except InvalidInputError as exc:
        return str(exc)
    return True


def character_video(video: Any) -> str | bytes:
    """The file a VIDEO input stands for, without re-encoding when it is one: a path, or the bytes in memory.

    A VIDEO trimmed upstream (``get_active_trim_window``) still points at the whole file, so it is encoded by
    ComfyUI's ``save_to``, which applies the trim; so is a VIDEO made of frames (its ``get_stream_source`` does
    the same). Raises NodeError for anything that is not a ComfyUI VIDEO.
    """
    if video is None:
        raise NodeError("The video input is not connected: wire a Load Video (a few seconds showing the figure).")
    if not callable(getattr(video, "get_stream_source", None)):
        raise NodeError(f"The video input is a {type(video).__name__}, not a ComfyUI VIDEO.")
    trim = getattr(video, "get_active_trim_window", None)
    if callable(trim) and tuple(float(t) for t in trim()) != (0.0, 0.0):
        buffer = io.BytesIO()
        video.save_to(buffer)
        return buffer.getvalue()
    source = video.get_stream_source()
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    source.seek(0)
    return source.read()


def _memory_filename(video: Any) -> str:
    try:
        formats = str(video.get_container_format()).split(",")
    except Exception:  # a format we cannot read is uploaded as MP4 (the service's own default)
        return "character.mp4"
    return next((MEMORY_FILENAMES[f] for f in formats if f in MEMORY_FILENAMES), "character.mp4")


def _upload(video: Any) -> Path | CharacterVideo:
    """A file is given as its path (the record keeps it); bytes are named by their container format."""
    source = character_video(video)
    if isinstance(source, str):
        return Path(source)
    return load_character_video(source, _memory_filename(video))


def made_or_reused(character: Character) -> str:
    """The status line and log line of one Character run."""
    if character.reused:
        return (f"reused character {character.name} ({character.id}) from the local record: same video and name, "
                "nothing sent")
    return f"made character {character.name} ({character.id})"


class Sora2Character(comfy_io.ComfyNode):
    @classmethod
    def define_schema(cls) -> comfy_io.Schema:
        from .generate import provider_inputs  # generate imports this module's sockets

        return comfy_io.Schema(
            node_id="Sora2BridgeCharacter",
            display_name="Sora 2 Character",
            category=CATEGORY,
            description="Make a character from a short video of a figure (an animal, a toy, a drawn or made-up "
                        "person; not a real person), once: the same video and name are reused from the local "
                        "record and nothing is sent. Wire its id into Sora 2 Video or Storyboard (at most 2 per "
                        "clip) and name it in the prompt.",
            inputs=[
                comfy_io.Video.Input("video", tooltip="A few seconds showing the figure, e.g. from Load Video. A "
                                                       "file is uploaded as it is (not re-encoded)."),
                comfy_io.String.Input("name", default="",
                                      tooltip=f"The character's name (1 to {CHARACTER_NAME_MAX} characters), e.g. "
                                              "Mochi: use it in the prompts of the clips that name the character."),
                *provider_inputs(),
            ],
            outputs=[
                comfy_io.String.Output("character_id", display_name="character_id",
                                       tooltip="The character's id: wire it to character_1 or character_2 of "
                                               "Sora 2 Video or Sora 2 Storyboard."),
            ],
            hidden=[comfy_io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, name: Any = None) -> bool | str:
        """Queue time, before anything is sent: the name, and that the chosen provider has characters (one input
        named: see ``validation``; the provider widget comes from the queued prompt)."""
        values = widget_values(_queued_node(cls))
        problems = []
        if isinstance(name, str):  # a wired name is checked when the node runs
            try:
                validate_character_name(name)
            except InvalidInputError as exc:
                problems.append(str(exc))
        if (verdict := check_provider(values.get("provider"))) is not True:
            problems.append(str(verdict))
        return " ".join(problems) or True

    @classmethod
    async def execute(cls, video: Any, name: str, provider: str = "auto", base_url: str = "") -> comfy_io.NodeOutput:
        async with NodeRun.open(cls.hidden.unique_id, provider, base_url) as run:
            client = run.client
            require_characters(client.provider)
            text = validate_character_name(name)  # both before the video is read or anything is sent
            upload = await asyncio.to_thread(_upload, video)
            run.reporter.text(f"making character {text}")
            # A request already sent finishes in the background on Cancel, so the record keeps what it made.
            character = await run.guard(client.create_character(text, upload), video_id=None, detach=True)
            line = made_or_reused(character)
            run.reporter.set(100)
            run.reporter.text(line)
            run.reporter.log(line)
            return comfy_io.NodeOutput(character.id)


NODES = [Sora2Character]
