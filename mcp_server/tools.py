"""The tools an agent calls. Each is short: validate, one call into ``jobs``, wrap the result.

Descriptions are written for a model choosing between tools: what it costs, how long it takes, which sizes and
lengths exist, and what to call next. Prices, sizes and lengths come from the provider table and the spending
limits from the settings, so the text matches what the server will actually accept.

(No ``from __future__ import annotations`` here: parameter types are built from the provider table at
registration time, and the SDK reads the annotations as objects.)
"""

import base64
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from pydantic import BeforeValidator, Field

from ..shared.errors import NotFoundError, Sora2Error
from ..shared.outputs import next_free_path
from ..shared.media import FitMode
from ..shared.models import MAX_PROMPT_CHARS, VARIANT_SUFFIX
from ..shared.pricing import estimate_cost, format_usd
from ..shared.providers import Provider
from ..shared.redact import redact
from .arguments import VIDEO_ID_PATTERN, ToolSet, check_video_id
from .guard import MAX_FILENAME_CHARS, inside_output, output_path
from .jobs import GONE, Jobs, Outcome, describe_usd, video_uri
from .models import CostEstimate, DeleteResult, DownloadResult, VideoListItem, VideoListResult, VideoResult
from .progress import ProgressBridge
from .settings import ENV_BUDGET, ENV_MAX_PER_CALL, MAX_DEFAULT_WAIT, MAX_WAIT, Settings
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
def render(result: Any, thumbnail: bytes | None = None, links: list[ResourceLink] | None = None) -> CallToolResult:
    """Structured content plus the same as JSON text, resource links, and an optional small inline image."""
    content: list[Any] = [TextContent(type="text", text=result.model_dump_json(indent=1, exclude_none=True))]
    content.extend(links or [])
    if thumbnail:
        content.append(ImageContent(type="image", data=base64.b64encode(thumbnail).decode(), mime_type="image/webp"))
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def render_outcome(outcome: Outcome) -> CallToolResult:
    r = outcome.result
    links = [ResourceLink(type="resource_link", name=r.video_id, title=f"Sora 2 job {r.video_id}", uri=r.resource_uri,
                          mime_type="application/json", description="Job metadata (JSON)")]
    if r.thumbnail_uri:
        links.append(ResourceLink(type="resource_link", name=f"{r.video_id}-thumbnail", uri=r.thumbnail_uri,
                                  mime_type="image/webp", description="Thumbnail of the finished clip"))
    return render(r, outcome.thumbnail, links)


# ---------------------------------------------------------------------------------------------- descriptions
def price_table(provider: Provider) -> str:
    lines = []
    for spec in provider.models.values():
        by_price: dict[float, list[str]] = {}
        for size in spec.sizes:
            by_price.setdefault(spec.price_for(size), []).append(size)
        prices = "; ".join(f"${p:.2f}/s at {', '.join(sizes)}" for p, sizes in by_price.items())
        lines.append(f"- {spec.name} ({spec.description}): {prices}")
    return "\n".join(lines)


def limits_text(settings: Settings, provider: Provider) -> str:
    per_call = describe_usd(settings.max_usd_per_call)
    budget = describe_usd(settings.budget_usd)
    period = "per day" if settings.budget_period == "day" else "per server run"
    free = " Against the local simulator nothing is really paid, but the guard counts list prices." if (
        provider.name == "local") else ""
    return (f"Spending guard: at most {per_call} per call and {budget} {period}; a call over it is refused before "
            f"anything is sent.{free}")


def _seconds(v: Any) -> Any:
    if isinstance(v, str):
        text = v.strip().lower().removesuffix("s").strip()
        return int(text) if text.isdigit() else v
    return v


def _lower(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


# ---------------------------------------------------------------------------------------------- tools
def build_tools(provider: Provider, settings: Settings) -> list[Tool]:
    """The tools, each accepting exactly its parameters (see arguments.py); for ``MCPServer(tools=...)``."""
    mcp = ToolSet()
    models = tuple(provider.models)
    sizes = provider.all_sizes
    seconds_allowed = tuple(int(s) for s in provider.all_seconds)
    ModelName = Annotated[Literal[models], BeforeValidator(_lower)]  # type: ignore[valid-type]
    SizeName = Annotated[Literal[sizes], BeforeValidator(_lower)]  # type: ignore[valid-type]
    Seconds = Annotated[Literal[seconds_allowed], BeforeValidator(_seconds)]  # type: ignore[valid-type]
    default_model = provider.default_model
    example = estimate_cost(provider, default_model, "720x1280", 4)
    prices = price_table(provider)
    limits = limits_text(settings, provider)
    lengths = ", ".join(str(s) for s in seconds_allowed)
    input_dirs = ", ".join(str(d) for d in settings.input_dirs) or "none configured, so local paths are refused"
    simulated = " (local simulator: free, prices are what CometAPI would charge)" if provider.name == "local" else ""

    model_param = Annotated[ModelName, Field(
        description=f"{' | '.join(models)}. sora-2 is cheapest and fastest (720p only); sora-2-pro has larger sizes.")]
    base_sizes = provider.models[default_model].sizes if default_model in provider.models else ()
    larger: dict[str, list[str]] = {}
    for size in sizes:
        if size not in base_sizes:
            names = ", ".join(m for m, spec in provider.models.items() if size in spec.sizes)
            larger.setdefault(names, []).append(size)
    needs = "; ".join(f"{', '.join(group)} need {names}" for names, group in larger.items())
    size_param = Annotated[SizeName, Field(
        description=f"WIDTHxHEIGHT: 720x1280 portrait or 1280x720 landscape (every model). {needs}.")]
    seconds_param = Annotated[Seconds, Field(description=f"Clip length in seconds: {lengths}. Price scales with it.")]
    wait_param = Annotated[float, Field(
        ge=0, le=MAX_WAIT,
        description=(f"Seconds to wait for the job to finish inside this call, sending progress notifications. "
                     f"Default 0: return at once and poll with get_status. Keep it at or below "
                     f"{MAX_DEFAULT_WAIT:.0f} unless you know your client allows longer calls (many cut calls at "
                     "60 s); the job keeps running either way."))]
    video_id_param = Annotated[str, BeforeValidator(check_video_id), Field(
        description="The video_id returned by generate_video (video_...).", pattern=VIDEO_ID_PATTERN)]
    prompt_param = Annotated[str, Field(
        min_length=1, max_length=MAX_PROMPT_CHARS,
        description="What the clip shows: subject, action, setting, camera, lighting, style. "
                    "No real people or copyrighted characters (moderation rejects them).")]

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
        return render_outcome(outcome)

    @mcp.tool(
        title="Generate a video clip (paid)",
        annotations=ToolAnnotations(title="Generate a video clip (paid)", read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=True),
        description=f"""Start a Sora 2 video clip from a text prompt (and optionally a first-frame image).
COSTS MONEY{simulated}.

Returns at once with video_id, status, the cost estimate and a hint; then call get_status(video_id) every 10-30 s
until status is "completed" (rendering takes about 1-5 minutes), which downloads the MP4 and returns its local path.
Set wait_seconds to wait inside this call instead (progress notifications are sent meanwhile).

Prices on {provider.name} (USD per second of video):
{prices}
Example: 4 s of {default_model} at 720x1280 = {format_usd(example)}. Lengths: {lengths} s.
{limits}
An identical request repeated within {settings.dedupe_seconds:.0f} s returns the existing job instead of paying again
(change the prompt for another take). Use estimate_cost to price a clip without starting it.""",
    )
    async def generate_video(
        prompt: prompt_param,
        ctx: Context,
        model: model_param = default_model,
        size: size_param = "720x1280",
        seconds: seconds_param = 4,
        image: Annotated[str | None, Field(description=(
            "Optional first frame: an https:// URL, a data:image/...;base64 URL, or a local file path inside the "
            f"allowed input folders ({input_dirs}). JPEG, PNG or WebP; fitted to size automatically."))] = None,
        image_fit: Annotated[FitMode, Field(description=(
            "How the image is fitted to size: crop (fill, centre-crop), pad (letterbox), stretch."))] = "crop",
        wait_seconds: wait_param = 0.0,
    ) -> Annotated[CallToolResult, VideoResult]:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            req, warnings = await jobs.build_request(prompt, model, size, seconds, image, image_fit)
            for warning in warnings:  # a progress message reaches a listening client before the job is paid
                await ctx.report_progress(0.0, None, f"Warning: {warning}.")
            created = await jobs.create(req)
            return await respond_created(jobs, ctx, created, wait_seconds, state, warnings)

    @mcp.tool(
        title="Get a video job's status",
        annotations=ToolAnnotations(title="Get a video job's status", read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=True),
        description="""Status of a video job: queued / in_progress (with progress % and an ETA) / completed / failed
(with the error code and message) / expired / deleted. Free (no new job is created).

When completed, the MP4 is downloaded once into the user's output folder and the result gives its local file_path,
a resource link and a small thumbnail image; call it again any time, the download is not repeated. Follow
next_check_seconds between calls. Works for any job this machine created, also after a server restart.""",
    )
    async def get_status(
        video_id: video_id_param,
        ctx: Context,
        wait_seconds: wait_param = 0.0,
    ) -> Annotated[CallToolResult, VideoResult]:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            async with ProgressBridge(ctx.report_progress) as bridge:
                outcome = await jobs.status(video_id, wait_seconds, bridge)
            return render_outcome(outcome)

    @mcp.tool(
        title="Remix a finished clip (paid)",
        annotations=ToolAnnotations(title="Remix a finished clip (paid)", read_only_hint=False,
                                    destructive_hint=False, idempotent_hint=False, open_world_hint=True),
        description=f"""Make a new clip from a completed one, changed as the prompt says (same model, size and
length as the original; describe only the change, e.g. "make it night"). COSTS MONEY{simulated}: the same
price as the original clip (its seconds x its model's rate per second). Returns a new video_id at once; poll it
with get_status. Prices per second: see generate_video. {limits}""",
    )
    async def remix_video(
        video_id: video_id_param,
        prompt: prompt_param,
        ctx: Context,
        wait_seconds: wait_param = 0.0,
    ) -> Annotated[CallToolResult, VideoResult]:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            created = await jobs.remix(video_id, prompt)
            return await respond_created(jobs, ctx, created, wait_seconds, state)

    @mcp.tool(
        title="Extend a finished clip (paid)",
        annotations=ToolAnnotations(title="Extend a finished clip (paid)", read_only_hint=False,
                                    destructive_hint=False, idempotent_hint=False, open_world_hint=True),
        description=f"""Continue a completed clip by `seconds` more ({lengths}); the prompt says what happens next.
The new job's length is the stitched total. COSTS MONEY{simulated}: only the added seconds x the original's
rate per second. Returns a new video_id at once; poll it with get_status. {limits}""",
    )
    async def extend_video(
        video_id: video_id_param,
        prompt: prompt_param,
        seconds: seconds_param,
        ctx: Context,
        wait_seconds: wait_param = 0.0,
    ) -> Annotated[CallToolResult, VideoResult]:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            created = await jobs.extend(video_id, prompt, seconds)
            return await respond_created(jobs, ctx, created, wait_seconds, state)

    @mcp.tool(
        title="List video jobs",
        annotations=ToolAnnotations(title="List video jobs", read_only_hint=True, open_world_hint=True),
        description="""List recent video jobs, newest first: the service's list merged with this machine's record (which
adds the estimated cost and the local file path, and keeps jobs the service has already deleted). Free.""",
    )
    async def list_videos(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=100, description="How many jobs to return (1-100).")] = 20,
    ) -> VideoListResult:
        state = app_state(ctx)
        with tool_errors(state):
            jobs = state.require_jobs()
            return await _list(jobs, limit)

    @mcp.tool(
        title="Download a finished clip",
        annotations=ToolAnnotations(title="Download a finished clip", read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=True),
        description=f"""Save a completed job's file into the user's output folder ({settings.output_dir}) and
return its path. variant: video (MP4), thumbnail (WebP still) or spritesheet (JPEG grid of frames; a small
copy is attached so you can look at the whole clip). Free. Files can only be written inside the output folder:
`filename` is an optional plain file name, not a path. An existing file is never replaced: the new one gets a
numbered name (name-2.mp4), reported in the result. get_status already downloads the MP4; use this for the
other variants or a copy.""",
    )
    async def download_video(
        video_id: video_id_param,
        ctx: Context,
        variant: Annotated[Literal["video", "thumbnail", "spritesheet"], Field(
            description="video (MP4), thumbnail (WebP) or spritesheet (JPEG).")] = "video",
        filename: Annotated[str | None, Field(
            description=f"Optional plain file name inside the output folder: visible characters, no folders, no "
                        f"leading dot, at most {MAX_FILENAME_CHARS} characters.")] = None,
    ) -> Annotated[CallToolResult, DownloadResult]:
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
            return render(result, image, [link])

    @mcp.tool(
        title="Delete a video on the service",
        annotations=ToolAnnotations(title="Delete a video on the service", read_only_hint=False,
                                    destructive_hint=True, idempotent_hint=True, open_world_hint=True),
        description="""Delete a job and its content on the service. Irreversible: it can no longer be
downloaded, remixed or extended there. Does not refund anything and never deletes the local downloaded file.
Only use it when the user asks to delete a video. Deleting a video that is already gone answers success
(already_deleted true).""",
    )
    async def delete_video(video_id: video_id_param, ctx: Context) -> DeleteResult:
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
            return DeleteResult(
                video_id=video_id, deleted=deleted, already_deleted=already,
                local_file_kept=str(local) if local else None,
                hint=f"{done}{f' The local copy at {local} was kept.' if local else ''}",
            )

    @mcp.tool(
        name="estimate_cost",
        title="Estimate the cost of a clip",
        annotations=ToolAnnotations(title="Estimate the cost of a clip", read_only_hint=True,
                                    idempotent_hint=True, open_world_hint=False),
        description=f"""Price a clip before generating it, and say whether the spending guard would allow it now.
Free, no network. Prices on {provider.name}{simulated} (USD per second):
{prices}
{limits}""",
    )
    async def estimate_cost_tool(
        ctx: Context,
        model: model_param = default_model,
        size: size_param = "720x1280",
        seconds: seconds_param = 4,
    ) -> CostEstimate:
        state = app_state(ctx)
        with tool_errors(state):
            return _estimate(state, model, size, seconds)

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


async def _list(jobs: Jobs, limit: int) -> VideoListResult:
    cfg = jobs.client.config
    items: dict[str, VideoListItem] = {}
    service_error = None
    try:
        async for v in jobs.client.list(limit=limit, max_items=limit):
            items[v.id] = VideoListItem(
                video_id=v.id, status=v.status, progress=v.progress, model=v.model, size=v.size, seconds=v.seconds,
                prompt=v.prompt, created_at=v.created_at, on_service=True, in_local_record=False,
            )
    except Sora2Error as exc:
        service_error = str(exc)
    listed = [i.created_at or 0 for i in items.values()]
    complete = service_error is None and len(listed) < limit  # the service listed everything it has
    oldest = min(listed, default=0)
    for row in jobs.record.list(limit * 2):
        if row.provider != cfg.provider or row.base_url != cfg.base_url:
            continue
        file = inside_output(jobs.settings, row.files.get("video"))
        if row.id in items:
            items[row.id] = items[row.id].model_copy(update={
                "cost_usd": row.cost_usd, "file_path": str(file) if file else None, "in_local_record": True})
            continue
        status = row.status
        if service_error is None and (complete or row.created_at >= oldest) and status not in GONE:
            status = "deleted"  # within the listed range but not listed: the service no longer has it
        items[row.id] = VideoListItem(
            video_id=row.id, status=status, progress=row.progress, model=row.model, size=row.size,
            seconds=row.seconds, prompt=row.prompt, created_at=row.created_at, cost_usd=row.cost_usd,
            file_path=str(file) if file else None, on_service=False, in_local_record=True,
        )
    ordered = sorted(items.values(), key=lambda i: i.created_at or 0, reverse=True)[:limit]
    return VideoListResult(videos=ordered, service_error=service_error)


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


def _estimate(state: AppState, model: str, size: str, seconds: int) -> CostEstimate:
    from ..shared.models import build_create_request

    provider = state.provider
    req = build_create_request(provider, "price check", model, size, seconds)
    usd = estimate_cost(provider, req.model, req.size, req.seconds)
    settings = state.settings
    remaining = state.guard.remaining()
    reason = None
    if usd > settings.max_usd_per_call + 1e-9:
        reason = (f"{format_usd(usd)} is above the per-call limit of {format_usd(settings.max_usd_per_call)} "
                  f"({ENV_MAX_PER_CALL}).")
    elif usd > remaining + 1e-9:
        reason = (f"{format_usd(usd)} is more than the {describe_usd(max(0.0, remaining))} left "
                  f"{state.guard.period_text} ({ENV_BUDGET}).")
    inf = float("inf")
    return CostEstimate(
        provider=provider.name, model=req.model, size=req.size, seconds=int(req.seconds), usd=usd,
        usd_per_second=round(usd / int(req.seconds), 4), simulated=provider.name == "local",
        max_usd_per_call=None if settings.max_usd_per_call == inf else settings.max_usd_per_call,
        budget_usd=None if settings.budget_usd == inf else settings.budget_usd,
        budget_period=settings.budget_period,
        budget_remaining_usd=None if remaining == inf else round(remaining, 4),
        allowed=reason is None, reason=reason,
    )
