"""Sequences for agents: ``generate_sequence``, ``get_sequence_status`` and the ``storyboard`` prompt.

A sequence is a storyboard (``shared/storyboard``) given as tool input: the same shots give the same record keys
as in the CLI and the ComfyUI node, so a shot made by any front end is reused by the others. The tool plans (every
refusal before anything is sent), holds the price of what is still missing in the spending guard, and runs the
storyboard in a background task the server holds; it returns the sequence id (the plan's id) at once. Calling it
again with the same shots returns the same id and pays nothing new; after a failure or a server restart it
continues from the job record, paying only for the shots that are missing.

Spending: the whole missing price is reserved in one guarded step (per-call limit and budget, so an over-budget
sequence is refused before its first shot), then held as one reservation per shot, so each shot's reservation
is settled to its job the moment the job is created, and released when the shot turns out not to need paying
(reused, or not started because its source failed). Spending is counted early, never late.

(No ``from __future__ import annotations``: the SDK reads the tools' annotations as objects.)
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ResourceLink
from pydantic import BaseModel, Field, WithJsonSchema

from ..shared.errors import Sora2Error
from ..shared.models import ImageInput
from ..shared.pricing import format_usd
from ..shared.providers import Provider
from ..shared.storyboard import (
    Plan,
    PlannedShot,
    ShotEvent,
    StoryboardFailed,
    load_storyboard,
    plan_storyboard,
    run_storyboard,
    storyboard_json_schema,
    storyboard_status,
)
from ..shared.storyboard.model import shot_error
from .arguments import ToolSet, compact_schema
from .callers import current_caller
from .guard import SpendingGuard, check_output_folder, load_image
from .ledger_store import Scope
from .jobs import CHECK_POLICY, Jobs, describe_usd, video_uri
from .settings import Settings
from .state import AppState, app_state
from .media_links import MediaRef
from .tools import _finite, _hints, file_links, limits_text, price_table, render, tool_errors

log = logging.getLogger("sora2_bridge.mcp")

SEQUENCE_ID_PATTERN = r"^sb_[0-9a-f]{24}$"
SEQUENCES_FOLDER = "sequences"  # inside the output folder: the films, contact sheets and shot clips
SHEET_MAX_SIDE = 640  # the inline contact sheet: a WebP this wide stays well under 100 KB
# Shot states that mean the next run pays for the shot (see storyboard_status).
TO_PAY = ("missing", "failed")
# The tool list's words for each shot field (empty: the name says it); the storyboard prompt shows them whole.
SHOT_TEXTS = {
    "id": "unique",
    "prompt": "",
    "seconds": "extend: added seconds",
    "model": "",
    "start": "{image: as generate_video's} or {continue|remix|extend: shot id}",
    "join_after": "cut or {crossfade_ms: N}",
    "characters": "<=2 names",
}


# ---------------------------------------------------------------------------------------------- results
class ShotState(BaseModel):
    id: str
    kind: str
    state: str = Field(description="planned, waiting, queued, in_progress, downloading, done, reused, failed, "
                                   "skipped, cancelled, missing")
    progress: int = 0
    video_id: str | None = None
    cost_usd: float
    error: str | None = None


class SequenceResult(BaseModel):
    sequence_id: str
    status: str = Field(description="running | joining | completed | failed | cancelled | interrupted")
    shots: list[ShotState]
    estimated_usd: float = Field(description="The whole sequence at list price.")
    to_pay_usd: float | None = Field(None, description="Reserved by this call: the shots not made yet.")
    budget_remaining_usd: float | None = None
    reused_existing: bool = False
    film_path: str | None = None
    contact_sheet_path: str | None = None
    warnings: list[str] | None = None
    error: str | None = None
    next_check_seconds: float | None = None
    hint: str


# ---------------------------------------------------------------------------------------------- spending
class _Spend:
    """The guard's side of one run: one reservation per shot to pay, settled to its job when the job exists.

    The ledger settles one video per reservation, and a sequence's shots are created over minutes, some never
    (reused, or skipped after a failure): so the total is checked and held in one guarded step, then split.
    Every change first adds and only then removes, so the ledger may briefly count too much, never too little.
    """

    def __init__(self, guard: SpendingGuard) -> None:
        self.guard = guard
        self.rows: dict[str, int] = {}  # shot id -> reservation id, until settled or released
        self.creating: set[str] = set()  # shots whose create request may be on its way

    async def hold(self, shots: list[PlannedShot], what: str) -> None:
        """Refuse (BudgetExceeded, nothing sent) or reserve the price of ``shots``."""
        total = round(sum(s.cost_usd for s in shots), 4)
        if total <= 0:
            return
        whole = await self.guard.reserve(total, what, "sequence")
        try:
            self.rows = {s.id: self._reserve(s.cost_usd) for s in shots}
        finally:
            self.guard.release(whole)

    def _reserve(self, usd: float) -> int:
        """A reservation that is already covered by the guarded total (so the ledger's budget check is skipped)."""
        return _unchecked_row(self.guard, usd)

    def on_event(self, ev: ShotEvent, cost: float) -> None:
        shot = ev.shot_id
        if shot is None:
            return
        if ev.phase == "starting":
            self.creating.add(shot)
        elif shot in self.creating and ev.video_id:  # the job exists: its shot is paid for
            self.creating.discard(shot)
            rid = self.rows.pop(shot, None)
            self.guard.ledger.settle(rid if rid is not None else self._reserve(cost), ev.video_id)
        elif ev.phase in ("reused", "done", "failed", "skipped", "cancelled"):
            self.creating.discard(shot)
            rid = self.rows.pop(shot, None)
            if rid is not None:
                self.guard.ledger.release(rid)

    def close(self) -> None:
        """End of the run: a create that may have reached the service counts; the rest is released."""
        for shot, rid in self.rows.items():
            if shot in self.creating:
                self.guard.ledger.settle(rid, "")
            else:
                self.guard.ledger.release(rid)
        self.rows.clear()


def _unchecked_row(guard: SpendingGuard, usd: float) -> int:
    """A ledger row of ``usd`` for the current caller, outside every budget check (the caller checked already)."""
    rid, _ = guard.ledger.reserve(usd, float("inf"), Scope(), {
        "server_id": guard.server_id, "provider": guard.provider, "base_url": guard.base_url, "kind": "sequence"})
    assert rid is not None
    return rid


def _claim(guard: SpendingGuard, sequence_id: str) -> None:
    """Record that the current caller (a token) started ``sequence_id``, so that only it sees the sequence.

    Who owns what is the ledger's to say (a video belongs to the token that paid for it, see
    ``SpendingGuard.visible``), and the ledger is shared by every server using the same data folder or database:
    so the owner of a sequence is a zero-dollar row naming the caller and the sequence id, and ``visible`` answers
    for sequences exactly as for videos, after a restart and on another instance too. The collector is told first
    that the id is no job to download.
    """
    if current_caller() is None or guard.visible(sequence_id):
        return
    guard.ledger.unfollow(sequence_id)
    guard.ledger.settle(_unchecked_row(guard, 0.0), sequence_id)


# ---------------------------------------------------------------------------------------------- runs
@dataclasses.dataclass
class _Run:
    plan: Plan
    shots: dict[str, ShotState]
    task: "asyncio.Task[None] | None" = None
    status: str = "running"
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ("running", "joining")


class Sequences:
    """The sequences this server runs: one background task per sequence id, cancelled when the server stops."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self._runs: dict[str, _Run] = {}
        self._lock = asyncio.Lock()

    async def plan(self, storyboard: dict[str, Any], images: dict[str, str],
                   characters: dict[str, str] | None = None) -> Plan:
        """Validate and price (nothing sent); the film is named after the shots so sequences never share one.

        ``characters`` gives character ids by the names the shots use (made before with create_character).
        """
        jobs = self.jobs
        sb = load_storyboard(storyboard)
        loaded: dict[str, ImageInput] = {}
        for shot_id, spec in images.items():
            try:
                loaded[shot_id] = await load_image(spec, jobs.settings, resolver=jobs.url_resolver,
                                                   transport=jobs.url_transport)
            except Sora2Error as exc:
                raise shot_error(shot_id, "start.image", str(exc)) from None
        folder = jobs.settings.output_dir / SEQUENCES_FOLDER
        cfg = jobs.client.config
        caller = current_caller()  # a token's shots are its own, as its videos are (None: the one local user)
        plan = plan_storyboard(sb, jobs.provider, base_url=cfg.base_url, base_dir=folder,
                               film=folder / "sequence.mp4", images=loaded, characters=characters,
                               owner=caller.name if caller is not None else None)
        film = folder / f"sequence-{plan.id.removeprefix('sb_')[:12]}.mp4"
        return dataclasses.replace(plan, film=film, contact_sheet=film.with_suffix(".png"))

    async def start(self, plan: Plan) -> tuple[_Run | None, float | None, bool]:
        """The running (or finished) run of ``plan``, or a new one once the guard holds what is missing.

        Returns the run (None: it runs on another server sharing the record), what was reserved (None when reused)
        and whether it was an existing run. A token that starts it (or gives the same shots again) may see it from
        then on.
        """
        async with self._lock:
            run = self._runs.get(plan.id)
            if run is not None and (run.active or (run.status == "completed" and plan.film.is_file())):
                _claim(self.jobs.guard, plan.id)
                return run, None, True
            if self._running_elsewhere(plan.id):  # the same call reached another instance first: answer with its run
                _claim(self.jobs.guard, plan.id)
                return None, None, True
            jobs = self.jobs
            check_output_folder(jobs.settings)  # the clips must be savable before anything is paid
            states = {s.id: s for s in storyboard_status(plan, jobs.record)}
            to_pay = [s for s in plan.shots if states[s.id].state in TO_PAY]
            spend = _Spend(jobs.guard)
            made = len(plan.shots) - len(to_pay)
            await spend.hold(to_pay, f"a sequence of {len(plan.shots)} shots ({made} already made)")
            _claim(jobs.guard, plan.id)
            run = _Run(plan, {s.id: ShotState(id=s.id, kind=s.kind, state="planned", cost_usd=s.cost_usd,
                                              video_id=states[s.id].video_id) for s in plan.shots})
            run.task = asyncio.create_task(self._run(run, spend), name=f"sora2-sequence-{plan.id}")
            self._runs[plan.id] = run
            return run, round(sum(s.cost_usd for s in to_pay), 4), False

    async def _run(self, run: _Run, spend: _Spend) -> None:
        plan = run.plan

        def on_event(ev: ShotEvent) -> None:
            if ev.shot_id is None:
                run.status = "joining" if ev.phase == "joining" else run.status
                return
            spend.on_event(ev, plan.shot(ev.shot_id).cost_usd)
            shot = run.shots[ev.shot_id]
            shot.state, shot.progress = ev.phase, ev.progress
            shot.video_id = ev.video_id or shot.video_id
            shot.error = ev.message if ev.phase in ("failed", "skipped", "cancelled") else None

        try:
            await run_storyboard(self.jobs.client, plan, out_dir=plan.film.parent / f"{plan.film.stem}-shots",
                                 on_event=on_event)
            run.status = "completed"
        except StoryboardFailed as exc:
            run.status = "cancelled" if any(s.status == "cancelled" for s in exc.result.shots) else "failed"
            run.error = str(exc)
        except asyncio.CancelledError:
            run.status, run.error = "interrupted", "the server stopped while the sequence was running"
            raise
        except Exception as exc:  # noqa: BLE001 - joining or writing failed: keep the shots, report the reason
            log.warning("sequence %s failed: %s", plan.id, exc.__class__.__name__)
            run.status, run.error = "failed", str(exc) or exc.__class__.__name__
        finally:
            spend.close()

    def _running_elsewhere(self, sequence_id: str) -> bool:
        """Whether another process sharing the record is running this sequence now (it holds the run's lease)."""
        runs = self.jobs.record.storyboard_runs(sequence_id, limit=1)
        return bool(runs) and runs[0]["status"] == "running"

    def view(self, sequence_id: str) -> SequenceResult | None:
        """What is known of a sequence: this server's run, else the job record's (after a restart).

        The one lookup of a sequence by id (tools, links): a token that did not start the sequence gets None, the
        same as for an id nobody made, so it cannot even learn that the sequence exists.
        """
        if not self.jobs.guard.visible(sequence_id):
            return None
        run = self._runs.get(sequence_id)
        if run is not None:
            plan = run.plan
            done = run.status == "completed"
            return _result(sequence_id, run.status, list(run.shots.values()), plan.total_usd, run.error,
                           plan.film if done else None, plan.contact_sheet if done else None, plan.warnings)
        return self._recorded(sequence_id)

    def _recorded(self, sequence_id: str) -> SequenceResult | None:
        runs = self.jobs.record.storyboard_runs(sequence_id, limit=1)
        if not runs:
            return None
        recorded, result = runs[0]["plan"], runs[0]["result"] or {}
        # storyboard_status reads only each shot's id, key and price: the recorded plan has them.
        shots = [SimpleNamespace(**s) for s in recorded["shots"]]
        states = storyboard_status(SimpleNamespace(shots=shots), self.jobs.record)  # type: ignore[arg-type]
        status = runs[0]["status"]  # running: on another server sharing the record; interrupted: its server died
        film = result.get("film") if status == "completed" else None
        sheet = result.get("contact_sheet") if status == "completed" else None
        view = [ShotState(id=st.id, kind=s.kind, state=st.state, progress=100 if st.state == "done" else 0,
                          video_id=st.video_id, cost_usd=st.cost_usd, error=st.error)
                for s, st in zip(shots, states, strict=True)]
        return _result(sequence_id, status, view, recorded["total_usd"], None, film, sheet, None)

    async def aclose(self) -> None:
        """Stop the running sequences (their jobs keep running on the service; a later call collects them)."""
        tasks = [r.task for r in self._runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _result(sequence_id: str, status: str, shots: list[ShotState], estimated: float, error: str | None,
            film: Path | str | None, sheet: Path | str | None, warnings: list[str] | None) -> SequenceResult:
    film_ok = film is not None and Path(film).is_file()
    sheet_ok = sheet is not None and Path(sheet).is_file()
    result = SequenceResult(
        sequence_id=sequence_id, status=status, shots=shots, estimated_usd=estimated, error=error,
        film_path=str(film) if film_ok else None, contact_sheet_path=str(sheet) if sheet_ok else None,
        warnings=warnings or None, hint="",
    )
    if status in ("running", "joining"):
        done = sum(1 for s in shots if s.state in ("done", "reused"))
        result.next_check_seconds = CHECK_POLICY.initial_interval
        result.hint = (f"{done} of {len(shots)} shots done. Call get_sequence_status again in about "
                       f"{CHECK_POLICY.initial_interval:.0f} s; a shot takes 1-5 minutes, shots that start from "
                       "another shot wait for it.")
    elif status == "completed":
        result.hint = (f"The film is saved at {result.film_path}. Look at the attached contact sheet (one frame "
                       "per shot), then give the user the path.")
    elif status == "interrupted":
        result.hint = ("This sequence is not running (its server stopped). Call generate_sequence again with "
                       "the same shots to continue: finished shots are reused, only the missing ones are paid.")
    else:
        result.hint = ("Call generate_sequence again with the same shots to continue: finished shots are reused, "
                       "only the missing ones are paid. If a shot failed moderation, rephrase its prompt (no real "
                       "people, no copyrighted characters); that re-makes it and the shots made from it.")
    return result


# ---------------------------------------------------------------------------------------------- schemas
def shot_items_schema() -> dict[str, Any]:
    """One shot's JSON Schema for the tool list: the storyboard model's own properties and required fields (one
    definition for every front end), each said in a few words. The nested forms of ``start`` and ``join_after``
    are told, not spelled out as schemas: every client sends the tool list to the model with each request, the
    storyboard prompt shows them whole, and the storyboard model still validates them, naming shot and field."""
    shot = storyboard_json_schema()["$defs"]["Shot"]
    assert set(SHOT_TEXTS) == set(shot["properties"]), "every field of a shot is described here"
    types = {"id": "string", "prompt": "string", "seconds": "integer", "model": "string", "start": "object",
             "characters": "array"}
    props = {name: ({"type": types[name]} if name in types else {}) | ({"description": text} if text else {})
             for name, text in SHOT_TEXTS.items()}
    return {"type": "object", "required": shot["required"], "properties": props}


# ---------------------------------------------------------------------------------------------- tools
def sequence_tools(provider: Provider, settings: Settings) -> list[Tool]:
    """``generate_sequence`` and ``get_sequence_status``, accepting exactly their parameters."""
    mcp = ToolSet()
    simulated = " (simulator: free)" if provider.name == "local" else ""
    shots_param = Annotated[list[dict[str, Any]], WithJsonSchema(
        {"type": "array", "items": shot_items_schema()}), Field(description="In film order.")]
    # The id generate_sequence returned; its shape is checked, not published (the model copies it, never makes one).
    id_param = Annotated[str, Field(pattern=SEQUENCE_ID_PATTERN), WithJsonSchema({"type": "string"})]
    characters_param = Annotated[dict[str, str], Field(description="Name -> character id.")]

    @mcp.tool(
        # Idempotent: the same shots are the same sequence. A repeat while it runs or after it is done changes
        # nothing; a repeat after a failure only makes what is missing, converging on the same one film.
        annotations=_hints(idempotent=True),
        description=f"""One film from shots joined with sound, plus a contact sheet. PAID{simulated}: the guard
checks all shots first. Returns sequence_id; poll get_sequence_status. Repeating it continues a failed run, paying
only what is missing. Shot forms, lengths, prices: the storyboard prompt.""",
    )
    async def generate_sequence(
        shots: shots_param,
        ctx: Context,
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        title: str | None = None,
        characters: characters_param | None = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            sequences = _sequences(state)
            storyboard, images = _storyboard(shots, model, size, seconds, title)
            plan = await sequences.plan(storyboard, images, characters)
            for warning in plan.warnings:  # reaches a listening client before anything is paid
                await ctx.report_progress(0.0, None, f"Warning: {warning}.")
            _, reserved, reused = await sequences.start(plan)
            result = sequences.view(plan.id)
            assert result is not None
            result.reused_existing, result.to_pay_usd = reused, reserved
            result.budget_remaining_usd = _finite(state.guard.remaining())
            left = describe_usd(state.guard.remaining())
            result.hint = ((f"The same shots as sequence {plan.id}: nothing new was paid. " if reused else
                            f"Started: {format_usd(reserved or 0)} to pay of {format_usd(plan.total_usd)} "
                            f"(budget left {state.guard.period_text}: {left}). ") + result.hint)
            return render(result, links=_film_links(ctx, result))

    @mcp.tool(
        annotations=_hints(read_only=True, open_world=False),
        description="""Shots' states, video_ids, prices; when done, the film's path and contact sheet image. Free.""",
    )
    async def get_sequence_status(sequence_id: id_param, ctx: Context) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            sequences = _sequences(state)
            result = sequences.view(sequence_id)
            if result is None:
                raise Sora2Error(sequence_not_found_text(sequence_id))
            result.budget_remaining_usd = _finite(state.guard.remaining())
            sheet = result.contact_sheet_path
            image = sequences.jobs.small_thumbnail(Path(sheet), SHEET_MAX_SIDE) if sheet else None
            links = [ResourceLink(type="resource_link", name=s.video_id, uri=video_uri(s.video_id),
                                  mime_type="application/json", description=f"Job of shot {s.id}")
                     for s in result.shots if s.video_id and result.status == "completed"]
            return render(result, image, links + _film_links(ctx, result))

    for tool in mcp.tools:
        tool.parameters = compact_schema(tool.parameters)
    return mcp.tools


def sequence_not_found_text(sequence_id: str) -> str:
    """The answer for a sequence id nobody made, and for another token's: the two must not differ."""
    return f"No sequence {sequence_id} on this machine: pass the sequence_id that generate_sequence returned."


def _film_links(ctx: Context, result: SequenceResult) -> list[ResourceLink]:
    sid = result.sequence_id
    return file_links(ctx, [(MediaRef("sequence", sid, "film"), result.film_path),
                            (MediaRef("sequence", sid, "sheet"), result.contact_sheet_path)])


def _sequences(state: AppState) -> Sequences:
    state.require_jobs()  # the configuration problem (no key...) as a readable error
    assert state.sequences is not None
    return state.sequences


def _storyboard(shots: list[dict[str, Any]], model: str | None, size: str | None, seconds: int | None,
                title: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The tool's arguments as a storyboard mapping, and the image starts, which go through the input guards."""
    defaults = {k: v for k, v in (("model", model), ("size", size), ("seconds", seconds)) if v is not None}
    images: dict[str, str] = {}
    for shot in shots:
        start = shot.get("start")
        if isinstance(start, dict) and isinstance(start.get("image"), str) and isinstance(shot.get("id"), str):
            images[shot["id"]] = start["image"]
    return {"title": title, "defaults": defaults, "shots": shots}, images


# ---------------------------------------------------------------------------------------------- prompt
def storyboard_example(provider: Provider) -> dict[str, Any]:
    """A small generate_sequence input valid on ``provider`` (its default model's first size and length)."""
    spec = provider.models[provider.default_model]
    size = "1280x720" if "1280x720" in spec.sizes else spec.sizes[0]
    seconds = int(spec.seconds[0])
    return {
        "title": "The paper boat", "size": size, "seconds": seconds,
        "shots": [
            {"id": "fold", "prompt": "Close-up of hands folding a paper boat on a wooden kitchen table, soft "
                                     "morning light, rain on the window, 35mm film look"},
            {"id": "launch", "prompt": "The same hands set the paper boat into a rain-filled gutter; it starts to "
                                       "drift, camera low at water level, same morning light",
             "start": {"continue": "fold"}, "join_after": {"crossfade_ms": 300}},
            {"id": "night", "prompt": "Make it night: neon reflections on the wet street",
             "start": {"remix": "launch"}},
        ],
    }


def storyboard_prompt_text(provider: Provider, settings: Settings, story: str) -> str:
    """The prompt's message: what the configured provider offers, how to chain shots, and a checked example."""
    example = storyboard_example(provider)
    sb = load_storyboard({"defaults": {k: example[k] for k in ("size", "seconds")}, "shots": example["shots"]})
    price = plan_storyboard(sb, provider).total_usd
    lengths = ", ".join(provider.all_seconds)
    by_model = "; ".join(f"{name}: {', '.join(spec.sizes)}" for name, spec in provider.models.items())
    free = " (the local simulator: nothing is paid)" if provider.name == "local" else ""
    return f"""Turn this story into a film of a few Sora 2 shots and make it with generate_sequence.

Story: {story}

On {provider.name}{free}:
- shot lengths: {lengths} s (default model {provider.default_model});
- sizes per model: {by_model}. The film has one size (`size`), every shot is made at it;
- prices, USD per second of video:
{price_table(provider)}
- {limits_text(settings, provider)} The whole sequence counts as one call.

Writing the shots:
- 3 to 8 shots; an id each (letters, digits, _ . -). Each shot is rendered on its own, so every prompt names the
  subject, the action, the setting, the camera and the light, and repeats the look (clothes, colours, style).
- start {{"continue": "ID"}}: that shot's last frame becomes this shot's first frame. Use it for one unbroken
  moment (the same place, the next action); write what happens from that frame on.
- start {{"remix": "ID"}}: the same shot changed (night, another weather, another style); same model, size and
  length; describe only the change. Costs what the source cost.
- start {{"extend": "ID"}}: that shot continued by `seconds`; the film shows the source and the addition as one
  clip. Pays only the added seconds.
- start {{"image": ...}}: a first frame (an https URL, a data: URL, or a file in the allowed input folders).
- no start: a fresh shot from the prompt alone (a cut to a new place or time).
- join_after: "cut" (default) or {{"crossfade_ms": 300}} (the sound crossfades across the cut, up to 2000).
- No real people and no copyrighted characters (moderation refuses them).

Tell the user the shots and the total (the sum of seconds x rate) before you call generate_sequence; then call
get_sequence_status every 10-30 s until it is completed, and look at the contact sheet before you give the path.

Example (costs {format_usd(price)} on {provider.name}):
{json.dumps(example, indent=1)}"""


def register_sequence_prompt(mcp: MCPServer, provider: Provider, settings: Settings) -> None:
    def storyboard(story: Annotated[str, Field(description="The story, scene or idea to film.")]) -> str:
        return storyboard_prompt_text(provider, settings, story)

    mcp.add_prompt(Prompt.from_function(
        storyboard, name="storyboard", title="Turn a story into a sequence of shots",
        description="How to write shots for generate_sequence on this provider: lengths, sizes, prices, "
                    "continuity, and an example.",
    ))
