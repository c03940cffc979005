"""The tools an agent calls. Each is short: validate, one call into ``jobs``, wrap the result.

Descriptions are written for a model choosing between tools, and kept short because the whole list travels with
every request: what it costs, whether it saves anything, and what to call next, each said once. Prices, sizes and
lengths come from the provider table and the spending limits from the settings, so the text matches what the
server will actually accept. No tool publishes an output schema (see models.py); results are structured content
plus the same JSON as text.

(No ``from __future__ import annotations`` here: parameter types are built from the provider table at
registration time, and the SDK reads the annotations as objects.)
"""

import asyncio
import base64
import json
import shutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from pydantic import BeforeValidator, Field, WithJsonSchema

from ..shared.characters import MAX_CHARACTERS_PER_VIDEO
from ..shared.errors import NotFoundError, Sora2Error
from ..shared.outputs import next_free_path
from ..shared.media import FitMode
from ..shared.models import VARIANT_SUFFIX
from ..shared.pricing import estimate_cost, format_usd, price_note
from ..shared.providers import ModelSpec, Provider
from ..shared.redact import redact
from ..shared.video import probe
from .arguments import ToolSet, check_video_id
from .callers import current_caller
from .clips import MAX_JOIN, frame_at, join
from .guard import inside_output, output_path
from .jobs import Jobs, Outcome, describe_usd, video_uri
from .listing import check_cursor, since_timestamp
from .media_links import MediaRef
from .listing import list_videos as list_jobs
from .models import (
    CharacterResult,
    CostEstimate,
    DeleteResult,
    DownloadResult,
    ForgetResult,
    FrameResult,
    JoinResult,
    TokenAllowance,
)
from .progress import ProgressBridge
from .settings import MAX_DEFAULT_WAIT, MAX_WAIT, Settings
from .state import AppState, app_state

MIME = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}


@contextmanager
def tool_errors(state: AppState) -> Iterator[None]:
    """Every anticipated failure reaches the model as a readable tool error (key scrubbed, just in case)."""
    try:
        yield
    except (ToolError, MCPError):
        raise
    except Sora2Error as exc:
        raise ToolError(redact(str(exc))) from None


# ---------------------------------------------------------------------------------------------- results
def render(result: Any, image: bytes | None = None, links: list[ResourceLink] | None = None,
           mime_type: str = "image/webp") -> CallToolResult:
    """Structured content plus the same as JSON text, resource links, and an optional small inline image."""
    data = result.model_dump(mode="json")
    shown = {k: v for k, v in data.items() if v is not None}  # the text leaves out empty fields; lists stay whole
    content: list[Any] = [TextContent(type="text", text=json.dumps(shown, indent=1))]
    content.extend(links or [])
    if image:
        content.append(ImageContent(type="image", data=base64.b64encode(image).decode(), mime_type=mime_type))
    return CallToolResult(content=content, structured_content=data)


def file_links(ctx: Context, files: list[tuple[MediaRef, str | Path | None]]) -> list[ResourceLink]:
    """Over HTTP, a signed URL next to each saved file's path (a remote agent cannot open the path); else none."""
    media = app_state(ctx).media
    return media.links(ctx.headers, files) if media is not None else []


def render_outcome(outcome: Outcome, ctx: Context) -> CallToolResult:
    r = outcome.result
    links = [ResourceLink(type="resource_link", name=r.video_id, title=f"Sora 2 job {r.video_id}", uri=r.resource_uri,
                          mime_type="application/json", description="Job metadata (JSON)")]
    if r.thumbnail_uri:
        links.append(ResourceLink(type="resource_link", name=f"{r.video_id}-thumbnail", uri=r.thumbnail_uri,
                                  mime_type="image/webp", description="Thumbnail of the finished clip"))
    links += file_links(ctx, [(MediaRef("video", r.video_id, "video"), r.file_path),
                              (MediaRef("video", r.video_id, "thumbnail"), r.thumbnail_path)])
    return render(r, outcome.thumbnail, links)


# ---------------------------------------------------------------------------------------------- descriptions
def _sizes_by_price(spec: ModelSpec) -> dict[float, list[str]]:
    """A model's sizes grouped by their price per second, in the order the table lists the sizes."""
    by_price: dict[float, list[str]] = {}
    for size in spec.sizes:
        by_price.setdefault(spec.price_for(size), []).append(size)
    return by_price


def price_line(provider: Provider) -> str:
    """Every model's price per second in one line; sizes only where a model has more than one price."""
    parts = []
    for spec in provider.models.values():
        groups = list(_sizes_by_price(spec).items())
        if len(groups) == 1:
            parts.append(f"{spec.name} ${groups[0][0]:.2f}/s")
        else:
            shown = ", ".join(f"${p:.2f}/s at {'/'.join(sizes)}" for p, sizes in groups[:-1])
            parts.append(f"{spec.name} {shown}, ${groups[-1][0]:.2f}/s larger")
    return "; ".join(parts)


def price_table(provider: Provider) -> str:
    """The full table (with each model's description), for the prices resource."""
    lines = []
    for spec in provider.models.values():
        prices = "; ".join(f"${p:.2f}/s at {', '.join(sizes)}" for p, sizes in _sizes_by_price(spec).items())
        lines.append(f"- {spec.name} ({spec.description}): {prices}")
    return "\n".join(lines)


def limits_text(settings: Settings, provider: Provider) -> str:
    per_call = describe_usd(settings.max_usd_per_call)
    budget = describe_usd(settings.budget_usd)
    period = "/day" if settings.budget_period == "day" else "/server run"
    return f"Guard: max {per_call}/call, {budget}{period}; more is refused unsent."


def _seconds(v: Any) -> Any:
    if isinstance(v, str):
        text = v.strip().lower().removesuffix("s").strip()
        return int(text) if text.isdigit() else v
    return v


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def _hints(read_only: bool = False, destructive: bool = False, idempotent: bool = False,
           open_world: bool = True) -> ToolAnnotations:
    """Only the hints that differ from the spec's defaults (not read-only, destructive, not idempotent, open
    world): a client reads a missing hint as its default, so spelling defaults out only costs bytes."""
    hints: dict[str, bool] = {}
    if read_only:
        hints["read_only_hint"] = True
    elif not destructive:
        hints["destructive_hint"] = False
    if idempotent and not read_only:
        hints["idempotent_hint"] = True
    if not open_world:
        hints["open_world_hint"] = False
    return ToolAnnotations(**hints)


PAID = _hints()
STATUSES = ("queued", "in_progress", "completed", "failed", "expired", "deleted")


# ---------------------------------------------------------------------------------------------- tools
def build_tools(provider: Provider, settings: Settings) -> list[Tool]:
    """The tools, each accepting exactly its parameters (see arguments.py); for ``MCPServer(tools=...)``.

    The one place the tool list is made. Descriptions are terse on purpose: clients send the whole list to the
    model with every request (``tests/mcp/test_tool_list_size.py`` holds the budget). Each fact is said once:
    prices and limits in generate_video (and the ``sora2://prices`` resource), result fields in the
    ``sora2://schemas/results`` resource.
    """
    mcp = ToolSet()
    models = tuple(provider.models)
    sizes = provider.all_sizes
    seconds_allowed = tuple(int(s) for s in provider.all_seconds)
    ModelName = Annotated[Literal[models], BeforeValidator(_lower)]  # type: ignore[valid-type]
    SizeName = Annotated[Literal[sizes], BeforeValidator(_lower)]  # type: ignore[valid-type]
    Seconds = Annotated[Literal[seconds_allowed], BeforeValidator(_seconds)]  # type: ignore[valid-type]
    default_model = provider.default_model
    input_dirs = f", or a path in {', '.join(str(d) for d in settings.input_dirs)}" if settings.input_dirs else ""
    simulated = " (simulator: free)" if provider.name == "local" else ""

    base_sizes = provider.models[default_model].sizes if default_model in provider.models else ()
    larger: dict[str, list[str]] = {}
    for size in sizes:
        if size not in base_sizes:
            names = "/".join(m for m, spec in provider.models.items() if size in spec.sizes)
            larger.setdefault(names, []).append(size)
    needs = "; ".join(f"{', '.join(group)}: {names} only" for names, group in larger.items())
    model_param = Annotated[ModelName, Field()]
    size_param = Annotated[SizeName, Field(description=needs)] if needs else SizeName
    seconds_param = Annotated[Seconds, Field()]
    wait_param = Annotated[float, Field(ge=0, le=int(MAX_WAIT))]  # explained once, in generate_video's description
    # The other tools' wait_seconds: its range is published once, in generate_video, and validated the same here.
    also_wait_param = Annotated[wait_param, WithJsonSchema({"type": "number"})] | None
    video_id_param = Annotated[str, BeforeValidator(check_video_id)]
    # The length limits are validation's (a sentence naming the limit), not schema keywords every request carries
    # to the model: that a prompt is not empty goes without saying.
    prompt_param = Annotated[str, Field(min_length=1), WithJsonSchema({"type": "string"})]
    filename_param = Annotated[str | None, Field(description="Not a path.")]
    # The count and the ids are the shared validation's (its refusal names the config switch on a provider without
    # characters); the schema still tells the model the limit. Where the ids come from: create_character says it.
    characters_param = Annotated[list[str], WithJsonSchema({
        "type": "array", "items": {"type": "string"}, "maxItems": MAX_CHARACTERS_PER_VIDEO})]

    async def respond_created(jobs: Jobs, ctx: Context, created: Any, wait_seconds: float,
                              state: AppState, warnings: list[str] | None = None) -> CallToolResult:
        """The shared tail of the paid tools: wait as asked, then say what was paid (or reused) and what is left."""
        outcome = await _follow(jobs, ctx, created.video, wait_seconds, created.usd, created.remaining, created.reused)
        r = outcome.result
        r.warnings = warnings or None
        usd, reused = created.usd, created.reused
        if reused:
            r.hint = ("An identical request was made moments ago: this is that job, nothing new was paid. " + r.hint)
        else:
            left = describe_usd(state.guard.remaining())
            r.hint = (f"Started a new job (estimated {format_usd(usd or 0)}; budget left {state.guard.period_text}: "
                      f"{left}). " + r.hint)
        return render_outcome(outcome, ctx)

    @mcp.tool(
        annotations=PAID,
        description=f"""A Sora 2 clip from a prompt (no real people or copyrighted characters). PAID{simulated}:
{price_line(provider)}. {limits_text(settings, provider)} Returns video_id at once; poll get_status (renders: 1-5
min). wait_seconds (also get_status, remix, edit, extend): wait in the call, <= {MAX_DEFAULT_WAIT:.0f} s (clients
cut at ~60 s). Repeats within {settings.dedupe_seconds:.0f} s return that job unpaid.""",
    )
    async def generate_video(
        prompt: prompt_param,
        ctx: Context,
        model: model_param = default_model,
        size: size_param = "720x1280",
        seconds: seconds_param = 4,
        image: Annotated[str | None, Field(description=(
            f"First frame: https/data: URL{input_dirs}."))] = None,
        image_fit: FitMode = "crop",
        characters: characters_param | None = None,
        wait_seconds: wait_param = 0,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            req, warnings = await jobs.build_request(prompt, model, size, seconds, image, image_fit, characters)
            for warning in warnings:  # a progress message reaches a listening client before the job is paid
                await ctx.report_progress(0.0, None, f"Warning: {warning}.")
            created = await jobs.create(req)
            return await respond_created(jobs, ctx, created, wait_seconds, state, warnings)

    @mcp.tool(
        # Idempotent: the same video and name come back from the record, nothing sent again.
        annotations=_hints(idempotent=True),
        description="""A figure kept alike across clips, made from a short video of it (no real people). Use:
generate_video(characters=[id]).""",
    )
    async def create_character(
        name: str,  # 1 to 80 characters: the shared validation says so when it is not
        video: Annotated[str, Field(description="As generate_video's image.")],
        ctx: Context,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            made = await state.require_jobs().create_character(name, video)
            assert made.id is not None  # the shared client refuses an answer without one
            return render(CharacterResult(
                id=made.id, name=made.name or name.strip(), created_at=made.created_at, reused=made.reused,
                hint=(("Made before from the same video and name: nothing was sent. " if made.reused else "Made. ")
                      + f"Use it with generate_video(characters=[\"{made.id}\"]) (at most "
                        f"{MAX_CHARACTERS_PER_VIDEO} per clip); say the name, {made.name or name.strip()}, in the "
                        "prompt."),
            ))

    @mcp.tool(
        annotations=_hints(read_only=True),
        description="""file_path once saved, else target_path (where the collector or download_video saves it).""",
    )
    async def get_status(
        video_id: video_id_param,
        ctx: Context,
        wait_seconds: also_wait_param = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            async with ProgressBridge(ctx.report_progress) as bridge:
                outcome = await jobs.status(video_id, wait_seconds or 0, bridge)
            return render_outcome(outcome, ctx)

    async def derived(ctx: Context, wait_seconds: float | None,
                      start: Callable[[Jobs], Awaitable[Any]]) -> CallToolResult:
        """The paid tools that make a new job from a finished one."""
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            return await respond_created(jobs, ctx, await start(jobs), wait_seconds or 0, state)

    @mcp.tool(
        annotations=PAID,
        description="""A completed clip changed as the prompt says (say only the change): same model, size, length,
PRICE.""",
    )
    async def remix_video(
        video_id: video_id_param, prompt: prompt_param, ctx: Context, wait_seconds: also_wait_param = None,
    ) -> CallToolResult:
        return await derived(ctx, wait_seconds, lambda jobs: jobs.remix(video_id, prompt))

    @mcp.tool(
        annotations=PAID,
        description="""remix_video via the edits endpoint (its successor at OpenAI). Same PRICE.""",
    )
    async def edit_video(
        video_id: video_id_param, prompt: prompt_param, ctx: Context, wait_seconds: also_wait_param = None,
    ) -> CallToolResult:
        return await derived(ctx, wait_seconds, lambda jobs: jobs.edit(video_id, prompt))

    @mcp.tool(
        annotations=PAID,
        description="""Continue a completed clip by seconds (prompt: what happens next). PAID: the added seconds;
new seconds = total.""",
    )
    async def extend_video(
        video_id: video_id_param, prompt: prompt_param, seconds: seconds_param, ctx: Context,
        wait_seconds: also_wait_param = None,
    ) -> CallToolResult:
        return await derived(ctx, wait_seconds, lambda jobs: jobs.extend(video_id, prompt, seconds))

    @mcp.tool(
        annotations=_hints(read_only=True),
        description="""Jobs newest first, merged with the local record (cost, file, deleted jobs). Next page:
cursor=next_cursor.""",
    )
    async def list_videos(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, BeforeValidator(check_cursor)] = None,
        status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
        since: Annotated[datetime | None, Field(description="UTC if no offset")] = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            return render(await list_jobs(jobs, limit, cursor, status, since_timestamp(since)))

    @mcp.tool(
        annotations=_hints(idempotent=True),
        description="""Free. Save a completed job's variant in the output folder (images also attached), never
replacing a file.""",
    )
    async def download_video(
        video_id: video_id_param,
        ctx: Context,
        variant: Literal["video", "thumbnail", "spritesheet"] = "video",
        filename: filename_param = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            path, asked = await _download(jobs, video_id, variant, filename)
            renamed = asked is not None and asked != path
            result = DownloadResult(
                video_id=video_id, variant=variant, file_path=str(path), bytes=path.stat().st_size,
                mime_type=MIME[variant], resource_uri=video_uri(video_id),
                requested_path=str(asked) if renamed else None,
                hint=(f"{asked.name} already existed and was kept; saved as {path.name} instead." if renamed
                      else f"Saved at {path}."),
            )
            image = jobs.small_thumbnail(path, 768 if variant == "spritesheet" else 256) if variant != "video" else None
            link = ResourceLink(type="resource_link", name=video_id, uri=result.resource_uri,
                                mime_type="application/json", description="Job metadata (JSON)")
            return render(result, image, [link, *file_links(ctx, [(_saved_ref(jobs, video_id, variant, path), path)])])

    @mcp.tool(
        annotations=_hints(read_only=True, open_world=False),
        description="""A saved clip's frame at t seconds, as a small JPEG.""",
    )
    async def get_frame(
        video_id: video_id_param, ctx: Context,
        t: Annotated[float, Field(ge=0), WithJsonSchema({"type": "number"})] = 0,  # not negative: goes without saying
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            frame = await frame_at(state.require_jobs(), video_id, t)
            result = FrameResult(video_id=video_id, t=t, width=frame.width, height=frame.height,
                                 duration=frame.duration, mime_type="image/jpeg", bytes=len(frame.jpeg))
            return render(result, frame.jpeg, mime_type="image/jpeg")

    @mcp.tool(
        annotations=_hints(),
        description="""Free. Join completed clips in order into one MP4 with sound in the output folder (never
replacing a file).""",
    )
    async def join_videos(
        video_ids: Annotated[list[video_id_param],  # type: ignore[valid-type]
                             Field(min_length=2, max_length=MAX_JOIN)],
        ctx: Context,
        filename: filename_param = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            path, asked = await join(state.require_jobs(), video_ids, filename)
            info = await asyncio.to_thread(probe, path)
            result = JoinResult(
                video_ids=video_ids, file_path=str(path), duration=round(info.duration, 3),
                has_audio=info.has_audio, bytes=path.stat().st_size,
                requested_path=str(asked) if asked else None,
                hint=(f"{asked.name} already existed and was kept; saved as {path.name}." if asked
                      else f"Saved at {path}."),
            )
            return render(result, links=file_links(ctx, [(MediaRef("file", path.name), path)]))

    @mcp.tool(
        annotations=_hints(idempotent=True, open_world=False),
        description="""Stop the collector saving this job (still listed). No cancel: the job runs on and is
billed.""",
    )
    async def forget_video(video_id: video_id_param, ctx: Context) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            if jobs.record.get(video_id) is None:
                raise ToolError(f"This machine has no job {video_id}: check the id (list_videos shows the jobs).")
            was = jobs.followed(video_id)
            state.guard.ledger.unfollow(video_id)
            return render(ForgetResult(
                video_id=video_id, was_followed=was, still_billed=True,
                hint=("No longer followed: it will not be saved automatically. " if was else
                      "It was not being followed. ") + "The job itself keeps running on the service and is billed "
                     "(there is no cancel); download_video can still save it.",
            ))

    @mcp.tool(
        annotations=_hints(destructive=True, idempotent=True),
        description="""Delete a job on the service (irreversible, no refund; local file kept). Only if the user
asks.""",
    )
    async def delete_video(video_id: video_id_param, ctx: Context) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            row = jobs.record.get(video_id)
            try:
                deleted = (await jobs.client.delete(video_id)).deleted
                done = "Deleted on the service."
                already = False
            except NotFoundError:
                if row is None:
                    raise ToolError(
                        f"The service has no video {video_id}, and this machine never created one with that id: "
                        "check the id (list_videos shows the jobs)."
                    ) from None
                deleted = already = True  # deleting again is not an error: the tool is idempotent
                done = ("Already deleted: the service no longer has it." if row.status == "deleted" else
                        f"Already gone from the service (deleted elsewhere or expired); it was {row.status} here.")
            local = inside_output(jobs.settings, row.files.get("video") if row else None)
            return render(DeleteResult(
                video_id=video_id, deleted=deleted, already_deleted=already,
                local_file_kept=str(local) if local else None,
                hint=f"{done}{f' The local copy at {local} was kept.' if local else ''}",
            ))

    @mcp.tool(
        name="estimate_cost",
        annotations=_hints(read_only=True, open_world=False),
        description="Offline: a clip's price and whether the guard allows it now. Arguments and defaults as "
                    "generate_video's.",
    )
    async def estimate_cost_tool(
        ctx: Context,
        # The values each takes, and its default, are published once, in generate_video; validated the same here.
        model: Annotated[ModelName, WithJsonSchema({"type": "string"})] | None = None,
        size: Annotated[SizeName, WithJsonSchema({"type": "string"})] | None = None,
        seconds: Annotated[Seconds, WithJsonSchema({"type": "integer"})] | None = None,
    ) -> CallToolResult:
        state = app_state(ctx)
        with tool_errors(state):
            return render(_estimate(state, model or default_model, size or "720x1280", seconds or 4))

    from .sequences import sequence_tools  # it builds on this module's helpers, so it is imported last

    return mcp.tools + sequence_tools(provider, settings)


# ---------------------------------------------------------------------------------------------- helpers
async def _follow(
    jobs: Jobs, ctx: Context, video: Any, wait_seconds: float, usd: float | None, remaining: float, reused: bool
) -> Outcome:
    async with ProgressBridge(ctx.report_progress) as bridge:
        bridge.note(0.0, f"{video.id}: {video.status}")
        video = await jobs.wait(video, wait_seconds, bridge)
        return await jobs.outcome(video, on_progress=bridge, cost=usd, remaining=remaining, reused=reused)


async def _download(jobs: Jobs, vid: str, variant: str, filename: str | None) -> tuple[Path, Path | None]:
    """Save ``variant`` of ``vid``; return its path and, for a named file, the path asked for (never replaced)."""
    suffix = VARIANT_SUFFIX[variant]
    asked = output_path(jobs.settings, filename, suffix) if filename else None
    row = jobs.record.get(vid)
    local = inside_output(jobs.settings, row.files.get(variant) if row else None)
    if local is None and (jobs.settings.output_dir / f"{vid}{suffix}").is_file():
        local = (jobs.settings.output_dir / f"{vid}{suffix}").resolve()
    if asked is not None and local is not None and asked == local:
        return local, None  # the name asked for is this very file
    dest = next_free_path(asked) if asked else jobs.settings.output_dir / f"{vid}{suffix}"
    if local is not None:
        if local == dest.resolve():
            return local, asked
        jobs.settings.output_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, dest)
        return dest, asked
    try:
        video = await jobs.client.retrieve(vid)
    except NotFoundError:
        raise ToolError(
            f"{vid} is not on the service any more (deleted or expired) and there is no local copy."
        ) from None
    if video.status != "completed":
        raise ToolError(
            f"{vid} is {video.status} ({video.progress}%): there is nothing to download yet. "
            "Call get_status until it is completed."
        )
    if variant == "video" and asked is None:
        path, _ = await jobs.ensure_downloaded(vid)
        return path, None
    return await jobs.download(vid, variant, dest), asked


def _saved_ref(jobs: Jobs, vid: str, variant: str, path: Path) -> MediaRef:
    """A saved download's identity for its URL: its name when it sits in the output folder, else the job's file."""
    return MediaRef("file", path.name) if path.parent == jobs.settings.output_dir else MediaRef("video", vid, variant)


def _estimate(state: AppState, model: str, size: str, seconds: int) -> CostEstimate:
    """The price, and the guard's own verdict on it for the current caller (the very refusal a paid call would
    get), with what is left of the team's budget and, with a token, of the token's: nothing is reserved."""
    from ..shared.models import build_create_request

    provider = state.provider
    req = build_create_request(provider, "price check", model, size, seconds)
    usd = estimate_cost(provider, req.model, req.size, req.seconds)
    settings, guard = state.settings, state.guard
    reason = guard.refusal(usd, f"a {req.seconds} s {req.model} clip at {req.size}")  # generate_video's words
    team_left, *token_left = guard.left()
    caller = current_caller()
    token = None if caller is None else TokenAllowance(
        name=caller.name, max_usd_per_call=_finite(caller.per_call_usd), daily_usd=_finite(caller.daily_usd),
        daily_remaining_usd=_finite(max(0.0, token_left[0])),
    )
    return CostEstimate(
        provider=provider.name, model=req.model, size=req.size, seconds=int(req.seconds), usd=usd,
        usd_per_second=round(usd / int(req.seconds), 4), simulated=provider.name == "local",
        max_usd_per_call=_finite(settings.max_usd_per_call), budget_usd=_finite(settings.budget_usd),
        budget_period=settings.budget_period, budget_remaining_usd=_finite(team_left), token=token,
        allowed=reason is None, reason=reason, price_note=price_note(provider, req.model, req.size),
    )


def _finite(usd: float) -> float | None:
    """An amount for a result: null stands for unlimited (JSON has no infinity)."""
    return None if usd == float("inf") else round(usd, 4)
