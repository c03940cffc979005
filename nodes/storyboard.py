"""Sora 2 Storyboard: a whole film from one storyboard (YAML text), through the shared storyboard core.

The node is a thin front end of ``sora2_bridge.shared.storyboard``, like ``sora2 storyboard``: it plans with the
client's provider and base URL, so the same storyboard gives the same record keys (and reuses the same paid shots)
whichever front end ran it first. It adds what a graph needs:

* **Inputs.** The storyboard as multi-line YAML/JSON (or a STRING wired from upstream); an optional IMAGE that
  becomes the first shot's first frame (fitted to the storyboard's size like Sora 2 Video's image); a budget
  (``max_usd``) checked before anything is sent; up to two character ids (Sora 2 Character), which the node
  passes to the plan by their names (from the local record, else one free GET), so shots name them as
  ``characters: [Mochi]``; the usual non-secret provider/base_url widgets.
* **No seed.** Every shot is cached by its storyboard record key, which the CLI and the MCP server share; a seed
  could only enter those keys by breaking that sharing. A rerun of the same storyboard is therefore always free
  (finished shots are reused), and a new take of a shot is asked for by changing its prompt, which re-makes that
  shot and the shots made from it.
* **Progress.** One bar over the whole film (each shot an equal share, the join the last 5 %), and a status line
  with every shot's state; one log line per shot state change.
* **Cancel.** ComfyUI's Cancel flag is the run's ``should_cancel``: waiting stops within a fraction of a second, a create
  request already sent is finished and recorded, and the node raises ComfyUI's quiet interruption naming the
  video ids left running; queueing the same graph again collects them and pays only for what is missing.
* **Files.** Shot clips are paid for, so they live in the user data folder (``storyboards/<id>-shots/``); the
  film and the contact sheet are derived from them and go to ComfyUI's temp folder, like Join Clips' output.
  The storyboard's ``output`` section is not used: Save Video decides where the film is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from comfy_api.latest import InputImpl, io

from ..shared.config import data_dir
from ..shared.errors import InvalidInputError
from ..shared.media import FIT_MODES
from ..shared.pricing import format_usd
from ..shared.storyboard import (Plan, ShotEvent, Storyboard, StoryboardFailed, StoryboardResult, load_storyboard,
                                 plan_storyboard, run_storyboard)
from .characters import (CHARACTER_INPUTS, character_inputs, character_names, check_characters_wired, chosen_characters,
                         wired_characters)
from .clips import output_dir
from .generate import provider_inputs
from .runtime import (CATEGORY, NodeError, NodeRun, Reporter, interrupted, interruption, provider_for_validation,
                      provider_name)
from .tensors import frame_to_image, image_to_reference
from .validation import widget_values

MAX_USD_LIMIT = 1000.0
# Share of the progress bar the shots fill; the join and the contact sheet take the rest.
SHOTS_SHARE = 95.0
EXAMPLE = """\
defaults: {size: 1280x720, seconds: 4}
shots:
  - id: fold
    prompt: Close-up of hands folding a paper boat on a kitchen table, morning light, soft rain on the window
  - id: launch
    prompt: The same hands set the paper boat into a rain-filled gutter; it starts to drift
    start: {continue: fold}
"""
# What the status line says for each phase of a shot (the service's progress is added while rendering).
PHASE_WORDS = {"waiting": "waiting", "starting": "starting", "queued": "queued", "in_progress": "rendering",
               "completed": "rendered", "downloading": "downloading", "reused": "reused", "done": "done", "failed": "failed",
               "skipped": "skipped", "cancelled": "cancelled"}


class Sora2Storyboard(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Sora2BridgeStoryboard",
            display_name="Sora 2 Storyboard",
            category=CATEGORY,
            description="A whole film from a storyboard: shots chained by last frame, remix or extension, made at "
                        "once where they can, joined into one MP4 with sound, with a contact sheet. Priced and "
                        "checked before anything is sent; a rerun pays only for missing shots, and shots "
                        "`sora2 storyboard` made are reused.",
            inputs=[
                io.String.Input("storyboard", multiline=True, default=EXAMPLE,
                                tooltip="The storyboard as YAML or JSON (see docs/storyboard.md), or a STRING "
                                        "wired from another node. Image paths are relative to ComfyUI's input "
                                        "folder. Its output section is not used here: wire the film to Save Video."),
                io.Float.Input("max_usd", default=5.0, min=0.0, max=MAX_USD_LIMIT, step=0.5,
                               tooltip="Budget: a storyboard whose estimated total is above this is refused "
                                       "before anything is sent."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="How the optional first-shot image is made to match the storyboard's size: "
                                       "crop, pad or stretch."),
                io.Image.Input("image", optional=True,
                               tooltip="Optional first frame of the first shot (replaces its start.image). "
                                       "The first image of a batch is used."),
                *character_inputs(),
                *provider_inputs(),
            ],
            outputs=[
                io.Video.Output("film", display_name="film",
                                tooltip="The joined film (MP4 with sound), as ComfyUI's VIDEO type."),
                io.String.Output("shot_ids", display_name="shot_ids",
                                 tooltip='JSON object {shot id: video_id} in storyboard order: wire to Preview Any, '
                                         "or pick a video_id for Remix, Extend or Load Job."),
                io.Image.Output("contact_sheet", display_name="contact_sheet",
                                tooltip="One picture with a frame of every shot, its id and its prompt's start."),
                io.Float.Output("cost_usd", display_name="cost_usd",
                                tooltip="What the whole film costs at the provider's listed rates (estimate, USD); "
                                        "shots reused from the record are not paid again."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, storyboard: Any = None) -> bool | str:
        """Parse and plan the storyboard when the graph is queued (no network), with the budget if it is a widget.

        Names one input only (see ``validation``); the provider and budget widgets come from the queued prompt.
        A wired storyboard is checked when the node runs, still before anything is sent.
        """
        if (verdict := check_characters_wired(cls)) is not True:
            return verdict
        if not isinstance(storyboard, str):
            return True
        values = widget_values(getattr(cls.hidden, "unique_id", None))
        wired = wired_characters(cls)
        sb = None
        try:
            sb = load_storyboard(storyboard)
            first = sb.shots[0]
            if first.start is not None and first.start.kind == "image":
                # The IMAGE input may replace this file (a link is not visible here): the run checks the file.
                sb = sb.model_copy(update={"shots": [first.model_copy(update={"start": None}), *sb.shots[1:]]})
            provider = _provider_choice(values.get("provider"), sb)
            plan = plan_storyboard(sb, provider_for_validation(provider), base_dir=_base_dir(storyboard),
                                   characters=_standing_in(sb, len(wired)))
            budget = values.get("max_usd")
            if isinstance(budget, (int, float)) and not isinstance(budget, bool):
                plan.check_budget(float(budget))
        except InvalidInputError as exc:
            return str(exc) + (_socket_hint(sb, wired) if sb is not None else "")
        return True

    @classmethod
    async def execute(cls, storyboard: str, max_usd: float, fit: str = "crop", image: Any = None,
                      character_1: str | None = None, character_2: str | None = None, provider: str = "auto",
                      base_url: str = "") -> io.NodeOutput:
        node_id = cls.hidden.unique_id
        with Reporter(node_id).showing_failures():  # the provider may come from the storyboard: read it first
            sb = _load(storyboard)
        async with NodeRun.open(node_id, _provider_choice(provider, sb), base_url) as run:
            client = run.client
            images = {}
            if image is not None:
                fitted = image_to_reference(image, sb.defaults.size, fit)
                images[sb.shots[0].id] = fitted.image
                for warning in fitted.warnings:
                    run.reporter.warn(warning)
            cast = await character_names(run, chosen_characters(character_1, character_2))
            plan, shots_dir = _placed(plan_storyboard(sb, client.provider, base_url=client.config.base_url,
                                                      base_dir=_base_dir(storyboard), images=images, characters=cast))
            plan.check_budget(float(max_usd))
            for warning in plan.warnings:
                run.reporter.warn(warning)
            run.check_cancel()
            view = FilmProgress(run.reporter, plan)
            run.reporter.log(f"storyboard {plan.id}: {len(plan.shots)} shots, about {format_usd(plan.total_usd)} "
                             f"on {client.config.provider}")
            try:
                result = await run_storyboard(client, plan, out_dir=shots_dir, on_event=view.event,
                                              should_cancel=interrupted)
            except StoryboardFailed as exc:
                if interrupted():
                    raise _cancelled(exc.result, run.reporter) from None
                raise NodeError(str(exc)) from None
            sheet = await asyncio.to_thread(_picture, result.contact_sheet)
            view.finished(result)
            return io.NodeOutput(InputImpl.VideoFromFile(str(result.film)), shot_ids(result), sheet,
                                 float(plan.total_usd))


# ------------------------------------------------------------------------------------------------- progress
class FilmProgress:
    """Shot events -> one progress bar over the film, a status line of every shot's state, a log line per state."""

    def __init__(self, reporter: Reporter, plan: Plan) -> None:
        self.reporter = reporter
        self.states = {s.id: "planned" for s in plan.shots}
        self.progress = dict.fromkeys(self.states, 0.0)
        self.phases: dict[str | None, str] = {}

    def event(self, ev: ShotEvent) -> None:
        if ev.shot_id is None:  # the film: joining, then made
            self.reporter.set(SHOTS_SHARE if ev.phase == "joining" else 100.0)
            self.reporter.text(ev.message if ev.phase == "joining" else "film ready")
            return
        word = PHASE_WORDS.get(ev.phase, ev.phase)
        self.states[ev.shot_id] = f"{word} {ev.progress}%" if ev.phase == "in_progress" else word
        self.progress[ev.shot_id] = max(self.progress[ev.shot_id], float(ev.progress))
        share = SHOTS_SHARE * sum(self.progress.values()) / (100.0 * len(self.progress))
        self.reporter.set(max(self.reporter.value, share))
        self.reporter.text(" · ".join(f"{shot}: {state}" for shot, state in self.states.items()))
        if self.phases.get(ev.shot_id) != ev.phase:
            self.phases[ev.shot_id] = ev.phase
            level = logging.WARNING if ev.phase in ("failed", "skipped") else logging.INFO
            detail = f" {ev.video_id}" if ev.video_id else ""
            self.reporter.log(f'shot "{ev.shot_id}"{detail}: {word}' + (f" ({ev.message})" if ev.phase in (
                "failed", "skipped", "waiting") and ev.message else ""), level)

    def finished(self, result: StoryboardResult) -> None:
        reused = sum(1 for s in result.shots if s.reused)
        line = (f"film of {len(result.shots)} shots ready ({reused} reused); spent "
                f"{format_usd(result.spent_usd)} this run")
        self.reporter.set(100.0)
        self.reporter.text(line)
        self.reporter.log(line)


def _cancelled(result: StoryboardResult, reporter: Reporter) -> Exception:
    """ComfyUI's quiet interruption, its status line and log naming every job left running and how to collect it."""
    running = [f"{s.id} ({s.video_id})" for s in result.shots if s.status == "cancelled" and s.video_id]
    done = sum(1 for s in result.shots if s.status == "done")
    kept = f"{done} of {len(result.shots)} shots are done and kept"
    if running:
        detail = (f"left running on the service (and billed): {', '.join(running)}; {kept}. Queue the same graph "
                  "again to collect them: finished shots are reused and nothing is paid twice.")
    else:
        detail = f"no job was left running; {kept}. Queue the same graph again to continue."
    exc = interruption(None, reporter, detail)
    reporter.text(f"Cancelled: {detail}")
    exc.video_ids = [s.video_id for s in result.shots if s.status == "cancelled" and s.video_id]  # type: ignore[attr-defined]
    return exc


# ------------------------------------------------------------------------------------------------- helpers
def shot_ids(result: StoryboardResult) -> str:
    """The shots' video ids as one JSON object, in storyboard order (a shot inside its extension included)."""
    return json.dumps({s.id: s.video_id for s in result.shots})


def _load(text: Any) -> Storyboard:
    try:
        return load_storyboard(text if isinstance(text, str) else "")
    except InvalidInputError as exc:
        raise NodeError(str(exc)) from None


def _unsourced(sb: Storyboard) -> list[str]:
    """Names the shots use that the storyboard gives no video, shot or id for: the node's inputs must supply them."""
    sourced = {c.name for c in sb.characters if c.source is not None}
    return list(dict.fromkeys(n for shot in sb.shots for n in shot.characters if n not in sourced))


def _standing_in(sb: Storyboard, wired: int) -> dict[str, str]:
    """At queue time a wired character's id, and so its name, is not known yet: the first ``wired`` unsourced names
    stand for them, so the plan checks everything else (and says which name no socket can supply). The run
    resolves the real names before planning again."""
    return {name: f"char_wired_{i}" for i, name in enumerate(_unsourced(sb)[:wired])}


def _socket_hint(sb: Storyboard, wired: list[str]) -> str:
    """How the node can supply the first name nothing supplies, while a character socket is free."""
    left = _unsourced(sb)[len(wired):]
    free = [name for name in CHARACTER_INPUTS if name not in wired]
    return f" Or wire a Sora 2 Character named {left[0]} into {free[0]}." if left and free else ""


def _provider_choice(widget: Any, sb: Storyboard) -> str | None:
    """The widget wins; with 'auto', the storyboard's defaults.provider, else the environment or config file."""
    return provider_name(widget if isinstance(widget, str) else None) or sb.defaults.provider


def _base_dir(text: str) -> Path:
    """Where the storyboard's image paths start: the file's folder when the text is a file's path, else ComfyUI's
    input folder (where Load Image's uploads go), else the working folder."""
    if "\n" not in text and text.strip().lower().endswith((".yaml", ".yml", ".json")):
        return Path(text.strip()).expanduser().parent
    try:
        import folder_paths

        return Path(folder_paths.get_input_directory())
    except (ImportError, AttributeError):
        return Path.cwd()


def _placed(plan: Plan) -> tuple[Plan, Path]:
    """The plan with the film and its contact sheet in ComfyUI's temp folder, and the folder for the shot clips
    in the user data folder, both named by the storyboard's id."""
    film = output_dir() / f"storyboard-{plan.id}.mp4"
    shots = data_dir() / "storyboards" / f"{plan.id}-shots"
    return dataclasses.replace(plan, film=film, contact_sheet=film.with_suffix(".png")), shots


def _picture(path: Path | None) -> Any:
    if path is None:
        raise NodeError("The storyboard finished without a contact sheet.")
    with Image.open(path) as im:
        return frame_to_image(np.array(im.convert("RGB")))


NODES = [Sora2Storyboard]
