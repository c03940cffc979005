"""Resources: a job's metadata as JSON, its thumbnail, and the reference an agent reads on demand.

The reference (prices, result schemas) lives here rather than in the tool descriptions, which every request
carries: a model that needs the full price table or a result field's meaning reads it once.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from ..shared.errors import InvalidInputError, NotFoundError, Sora2Error
from ..shared.models import validate_video_id
from ..shared.redact import redact
from ..shared.providers import Provider
from .guard import inside_output
from .media_links import MediaRef
from .models import RESULT_MODELS
from .sequences import SequenceResult
from .settings import Settings
from .state import app_state
from .tools import limits_text, price_table


def register_resources(mcp: MCPServer, provider: Provider, settings: Settings) -> None:
    @mcp.resource(
        "sora2://prices",
        name="prices",
        title="Prices and spending limits",
        description="The provider's price table (USD per second of video, by model and size) and the spending limits.",
        mime_type="text/markdown",
    )
    def prices() -> str:
        lengths = ", ".join(provider.all_seconds)
        return (f"# Prices on {provider.name} (USD per second of video)\n\n{price_table(provider)}\n\n"
                f"Lengths: {lengths} s. Estimates are list prices, not a bill.\n\n{limits_text(settings, provider)}\n")

    @mcp.resource(
        "sora2://schemas/results",
        name="result-schemas",
        title="What the tools return",
        description="JSON schemas, with field descriptions, of every tool's structured result.",
        mime_type="application/json",
    )
    def result_schemas() -> str:
        models = (*RESULT_MODELS, SequenceResult)
        return json.dumps({m.__name__: m.model_json_schema() for m in models}, indent=1)

    @mcp.resource(
        "sora2://videos/{video_id}",
        name="video",
        title="Sora 2 video job",
        description="A job's metadata as JSON: the service's current view plus this machine's record "
                    "(estimated cost, local files).",
        mime_type="application/json",
    )
    async def video_metadata(video_id: str, ctx: Context) -> str:
        state = app_state(ctx)
        jobs = _jobs(state)
        vid = _video_id(video_id)
        row = jobs.record.get(vid)
        service: dict[str, Any] | None = None
        service_error = None
        try:
            service = (await jobs.client.retrieve(vid)).model_dump(mode="json")
        except NotFoundError:
            service_error = "not found on the service (deleted or expired)"
        except Sora2Error as exc:
            service_error = redact(str(exc))
        if service is None and row is None:
            raise ResourceNotFoundError(f"No video {vid} on the service or in the local record.")
        local = None
        if row is not None:
            files = {k: str(p) for k, v in row.files.items() if (p := inside_output(jobs.settings, v))}
            local = {
                "kind": row.kind, "source_id": row.source_id, "provider": row.provider, "status": row.status,
                "cost_usd": row.cost_usd, "request": row.request, "created_at": row.created_at, "files": files,
            }
        return json.dumps({"video_id": vid, "service": service, "service_error": service_error, "local": local},
                          indent=1)

    @mcp.resource(
        "sora2://videos/{video_id}/thumbnail",
        name="thumbnail",
        title="Thumbnail of a finished clip",
        description="A still (WebP) of a completed clip, so a vision-capable agent can see what it made.",
        mime_type="image/webp",
    )
    async def video_thumbnail(video_id: str, ctx: Context) -> bytes | str:
        return await _saved_media(ctx, video_id, "thumbnail")

    @mcp.resource(
        "sora2://videos/{video_id}/video",
        name="clip",
        title="A finished clip (MP4)",
        description="The MP4 inline when small; above the inline limit a text/uri-list with where to fetch it "
                    "(over HTTP a signed URL).",
        mime_type="video/mp4",
    )
    async def video_clip(video_id: str, ctx: Context) -> bytes | str:
        return await _saved_media(ctx, video_id, "video")


async def _saved_media(ctx: Context, video_id: str, variant: str) -> bytes | str:
    """A completed clip's ``variant``, saved first if need be (downloading is free), inline up to the cap."""
    state = app_state(ctx)
    jobs = _jobs(state)
    vid = _video_id(video_id)
    path = jobs.local_file(vid, variant)
    if path is None:
        try:
            video = await jobs.client.retrieve(vid)
            if video.status != "completed":
                raise ResourceError(f"{vid} is {video.status}; the {variant} exists once it is completed.")
            clip, thumb = await jobs.ensure_downloaded(vid)
        except NotFoundError:
            raise ResourceNotFoundError(f"No video {vid} on the service.") from None
        except Sora2Error as exc:
            raise ResourceError(redact(str(exc))) from None
        path = clip if variant == "video" else thumb
        if path is None:
            raise ResourceError(f"The service has no {variant} for {vid}.")
    if state.media is None:
        return path.read_bytes()
    return state.media.inline(MediaRef("video", vid, variant), path, ctx.headers)


def _jobs(state: Any) -> Any:
    try:
        return state.require_jobs()
    except Sora2Error as exc:
        raise ResourceError(str(exc)) from None


def _video_id(video_id: str) -> str:
    try:
        return validate_video_id(video_id)
    except InvalidInputError as exc:
        raise ResourceNotFoundError(str(exc)) from None
