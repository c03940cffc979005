"""``list_videos``: the service's own pages (its ``after`` cursor), filtered, merged with this machine's record.

The cursor handed to the agent is the service's cursor (the last video id examined) plus that video's creation
time: the id continues the service's paging, and the time bounds which local-only rows (jobs the service no longer
lists) belong to the page, so every job shows up on exactly one page. Filters are applied while paging; a page
may take a few of the service's pages to fill, and stops early once ``since`` is passed (the list is newest first).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from ..shared.errors import Sora2Error
from ..shared.models import usable_id
from .guard import inside_output
from .jobs import GONE, Jobs
from .models import VideoListItem, VideoListResult

# Service pages one call may read to fill a filtered page; the cursor continues from where it stopped.
MAX_PAGES_PER_CALL = 5
# Local rows examined for the merge (the record is newest first; older ones belong to later pages anyway).
RECORD_ROWS = 1000


def check_cursor(value: Any) -> Any:
    """A cursor is ``next_cursor`` from a previous answer, unchanged; anything else is refused in a sentence."""
    if value is None or not isinstance(value, str):
        return value
    vid, _, stamp = value.strip().rpartition("@")
    try:
        ok = usable_id(vid) is not None and math.isfinite(float(stamp))
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("cursor must be the next_cursor of a previous list_videos answer, unchanged "
                         "(leave it out for the first page).")
    return value.strip()


def since_timestamp(since: datetime | None) -> float | None:
    """Unix time of ``since``, to the second (the service's ``created_at`` is whole seconds); no offset means UTC."""
    if since is None:
        return None
    return float(math.floor((since if since.tzinfo else since.replace(tzinfo=timezone.utc)).timestamp()))


def make_cursor(video_id: str, created_at: float | None) -> str:
    """The service's cursor (a video id) and that video's creation time, which bounds the local rows of a page."""
    return f"{video_id}@{created_at or 0:.3f}"


async def list_videos(
    jobs: Jobs, limit: int, cursor: str | None, status: str | None, since: float | None
) -> VideoListResult:
    after, upper = None, math.inf
    if cursor:
        after, _, stamp = cursor.rpartition("@")
        upper = float(stamp)
    items: dict[str, VideoListItem] = {}
    examined: set[str] = set()
    lower = upper  # the oldest creation time examined so far
    more = True  # the service has jobs older than ``after`` that this page did not reach
    service_error = None
    try:
        for _ in range(MAX_PAGES_PER_CALL):
            if not more or len(items) >= limit:
                break
            page = await jobs.client.list_page(limit=limit, after=after)
            more = page.has_more and bool(page.data)
            for i, v in enumerate(page.data):
                created = float(v.created_at or 0)
                if since is not None and created < since:
                    more = False  # newest first: the rest is older still
                    break
                examined.add(v.id)
                after, lower = v.id, created
                if status is None or v.status == status:
                    items[v.id] = VideoListItem(
                        video_id=v.id, status=v.status, progress=v.progress, model=v.model, size=v.size,
                        seconds=v.seconds, prompt=v.prompt, created_at=v.created_at, on_service=True,
                        in_local_record=False,
                    )
                if len(items) >= limit:
                    more = more or i < len(page.data) - 1
                    break
    except Sora2Error as exc:
        service_error = str(exc)
    next_cursor = make_cursor(after, lower) if service_error is None and more and after else None
    if service_error is not None or not more:
        lower = since or 0.0  # nothing older is listed later: the local rows down to ``since`` belong here
    _merge_record(jobs, items, examined, status, lower, upper, service_error is None)
    ordered = sorted(items.values(), key=lambda i: i.created_at or 0, reverse=True)
    if service_error is not None:  # the record alone, paged the same way
        ordered = ordered[:limit]
        if len(ordered) == limit:
            next_cursor = make_cursor(ordered[-1].video_id, ordered[-1].created_at)
    return VideoListResult(videos=ordered, next_cursor=next_cursor, service_error=service_error)


def _merge_record(
    jobs: Jobs, items: dict[str, VideoListItem], examined: set[str], status: str | None,
    lower: float, upper: float, listed: bool,
) -> None:
    """Add cost and local file to listed jobs, and the local jobs of this page's span the service did not list."""
    cfg = jobs.client.config
    for row in jobs.record.list(RECORD_ROWS):
        if row.provider != cfg.provider or row.base_url != cfg.base_url:
            continue
        file = inside_output(jobs.settings, row.files.get("video"))
        if row.id in items:
            items[row.id] = items[row.id].model_copy(update={
                "cost_usd": row.cost_usd, "file_path": str(file) if file else None, "in_local_record": True})
            continue
        if row.id in examined or not (lower <= row.created_at < upper):
            continue
        state = row.status
        if listed and state not in GONE:
            state = "deleted"  # within the listed span but not listed: the service no longer has it
        if status is not None and state != status:
            continue
        items[row.id] = VideoListItem(
            video_id=row.id, status=state, progress=row.progress, model=row.model, size=row.size,
            seconds=row.seconds, prompt=row.prompt, created_at=row.created_at, cost_usd=row.cost_usd,
            file_path=str(file) if file else None, on_service=False, in_local_record=True,
        )
