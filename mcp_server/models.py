"""The structured results of the tools: each is a pydantic model, sent as ``structuredContent`` and as JSON text.

The tools publish no output schema (five tools return a VideoResult, and its schema repeated in each would be most
of the tool list an agent pays for in context); the schemas, with these field descriptions, are one resource
(``sora2://schemas/results``) instead. Descriptions say what to do with a value, not only what it is.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field


def whole_seconds(value: Any) -> int | None:
    """The service sends seconds as a string ("8"); tools take and give an integer. Anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


# One type in and out: the tools' ``seconds`` parameter is an integer, and so is every ``seconds`` they return.
Seconds = Annotated[int | None, BeforeValidator(whole_seconds)]


class VideoResult(BaseModel):
    """One video job as the agent should see it: where it is, what it cost, and what to do next."""

    video_id: str = Field(description="The job's id; pass it to get_status, download_video, remix_video, ...")
    status: str = Field(
        description="queued | in_progress | completed | failed | expired (content gone from the service) | deleted"
    )
    progress: int = Field(0, description="Rendering progress, 0-100.")
    kind: str | None = Field(None, description="create, remix or extend.")
    model: str | None = None
    size: str | None = None
    seconds: Seconds = Field(None, description="Clip length in seconds (for an extension: the stitched total).")
    prompt: str | None = None
    cost_usd: float | None = Field(None, description="Estimated price of this job in USD (list price, not a bill).")
    budget_remaining_usd: float | None = Field(
        None, description="What the spending guard still allows in this budget period after this job."
    )
    reused_existing: bool = Field(
        False, description="True when an identical recent request was found: no new job was created or paid for."
    )
    eta_seconds: float | None = Field(None, description="Rough estimate of the seconds left until completed.")
    next_check_seconds: float | None = Field(None, description="A sensible delay before calling get_status again.")
    error_code: str | None = None
    error_message: str | None = None
    file_path: str | None = Field(None, description="Absolute path of the downloaded MP4 on the user's machine.")
    target_path: str | None = Field(
        None, description="Not saved yet: where the collector or download_video will save the MP4.")
    thumbnail_path: str | None = Field(None, description="Absolute path of the downloaded WebP thumbnail.")
    resource_uri: str = Field(description="MCP resource with this job's metadata as JSON.")
    thumbnail_uri: str | None = Field(None, description="MCP resource with the thumbnail image (when completed).")
    expires_at: int | None = Field(None, description="Unix time after which the service deletes the content.")
    hint: str = Field(description="What to do next, in one or two sentences.")
    warnings: list[str] | None = Field(
        None, description="What the user should know about the input image (enlarged far: blurry; animated: first "
                          "frame only). Tell the user."
    )


class VideoListItem(BaseModel):
    video_id: str
    status: str
    progress: int = 0
    model: str | None = None
    size: str | None = None
    seconds: Seconds = Field(None, description="Clip length in seconds.")
    prompt: str | None = None
    created_at: float | None = Field(None, description="Unix time the job was created.")
    cost_usd: float | None = Field(None, description="Estimated price, when this machine created the job.")
    file_path: str | None = Field(None, description="Local MP4, when downloaded.")
    on_service: bool = Field(description="Listed by the service right now.")
    in_local_record: bool = Field(description="Created from this machine (any front end), so its cost is known.")


class VideoListResult(BaseModel):
    videos: list[VideoListItem]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next (older) page; null: no more.")
    service_error: str | None = Field(None, description="Set when the service could not be listed (local only).")


class DownloadResult(BaseModel):
    video_id: str
    variant: str = Field(description="video (MP4), thumbnail (WebP) or spritesheet (JPEG).")
    file_path: str = Field(description="Absolute path of the file on the user's machine.")
    bytes: int
    mime_type: str
    resource_uri: str
    requested_path: str | None = Field(
        None, description="Set when the file name asked for already existed: it was kept, and file_path is the "
                          "numbered name used instead.")
    hint: str = ""


class DeleteResult(BaseModel):
    video_id: str
    deleted: bool
    already_deleted: bool = Field(False, description="The service no longer had it: nothing was done, not an error.")
    local_file_kept: str | None = Field(None, description="A local copy that was kept (deleting never touches it).")
    hint: str


class TokenAllowance(BaseModel):
    """The calling token's own limits, which apply on top of the team's (HTTP with a token only)."""

    name: str
    max_usd_per_call: float | None = Field(description="Its per-call limit; null = only the team's applies.")
    daily_usd: float | None = Field(description="Its daily budget (local day); null = only the team's applies.")
    daily_remaining_usd: float | None = Field(description="What is left of it today; null = unlimited.")


class CostEstimate(BaseModel):
    provider: str
    model: str
    size: str
    seconds: int
    usd: float = Field(description="Estimated price in USD.")
    usd_per_second: float
    simulated: bool = Field(description="True against the local simulator: nothing is really paid.")
    max_usd_per_call: float | None = Field(description="The per-call limit; null = unlimited.")
    budget_usd: float | None = Field(description="The budget for the period; null = unlimited.")
    budget_period: str = Field(description="day (resets at local midnight) or lifetime (this server run).")
    budget_remaining_usd: float | None = Field(
        description="What is left of the team's budget in the period; null = unlimited.")
    token: TokenAllowance | None = Field(
        None, description="Called with a token: its own limits, checked as well as the team's.")
    allowed: bool = Field(description="Whether generate_video with these settings would pass the spending guard now "
                                      "(the team's limits and the token's).")
    reason: str | None = Field(None, description="Why it would be refused: the refusal generate_video would give, "
                                                 "naming the limit.")
    price_note: str | None = Field(None, description="Why the price is a guess (a model or size the table lacks).")


class FrameResult(BaseModel):
    video_id: str
    t: float = Field(description="Time of the frame in seconds from the start.")
    width: int = Field(description="Of the attached image (downscaled).")
    height: int
    duration: float = Field(description="Length of the clip in seconds.")
    mime_type: str
    bytes: int = Field(description="Size of the attached image.")


class JoinResult(BaseModel):
    video_ids: list[str]
    file_path: str = Field(description="Absolute path of the joined MP4 on the user's machine.")
    duration: float = Field(description="Length of the joined clip in seconds.")
    has_audio: bool
    bytes: int
    requested_path: str | None = Field(
        None, description="Set when the file name asked for already existed: it was kept, and file_path is the "
                          "numbered name used instead.")
    hint: str


class ForgetResult(BaseModel):
    video_id: str
    was_followed: bool = Field(description="The collector was going to save it; it no longer will.")
    still_billed: bool = Field(description="The service has no cancel: a job that started is paid for.")
    hint: str


class CharacterResult(BaseModel):
    id: str = Field(description="Pass it in generate_video's characters (at most 2 per clip).")
    name: str
    created_at: int | None = Field(None, description="Unix time the service made it.")
    reused: bool = Field(description="Made before from the same video and name on this service: nothing was sent.")
    hint: str


RESULT_MODELS: tuple[type[BaseModel], ...] = (
    VideoResult, VideoListResult, DownloadResult, DeleteResult, CostEstimate, FrameResult, JoinResult, ForgetResult,
    CharacterResult,
)
