"""The plumbing every tool shares: paid creates behind the guard, status with ETA, download-once, thumbnails.

Tools stay short (validate, one call here, wrap the result); what they have in common lives here, once: the
never-pay-twice window, the spending reservation around each create, the per-video lock that makes "download
once" hold when an agent polls from several calls at once, and the background collector that downloads what
this server paid for even if nobody asks again before the service deletes it. Several servers sharing one database
collect each job once: a server takes the job's ``collect:`` lease before downloading and keeps it once saved;
the lease of a server that died lapses, and another collects the job.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from ..shared.characters import Character, require_characters, validate_character_name
from ..shared.client import AsyncSoraClient, request_key
from ..shared.locks import KeyedLocks
from ..shared.errors import ExpiredError, NotFoundError, Sora2Error, WaitTimeoutError, is_content_policy
from ..shared.media import FitMode, fit_reference
from ..shared.models import (
    VARIANT_SUFFIX,
    CreateVideoRequest,
    Video,
    VideoError,
    validate_prompt,
    validate_seconds,
    validate_video_id,
)
from ..shared.polling import PollPolicy, PollState
from ..shared.pricing import estimate_cost, format_usd, price_note
from ..shared.progress import ProgressCallback
from ..shared.providers import Provider
from ..shared.record import JobRecord, JobRow
from ..shared.store.leases import new_holder
from .guard import Resolver, SpendingGuard, check_output_folder, inside_output, load_image, load_video
from .models import VideoResult
from .settings import Settings

log = logging.getLogger("sora2_bridge.mcp")

THUMB_MAX_SIDE = 256
RUNNING = ("queued", "in_progress")
GONE = ("failed", "deleted", "expired")
# Hints for an agent polling by hand: never sooner than this, never later than that.
CHECK_POLICY = PollPolicy(initial_interval=10.0, min_interval=3.0, max_interval=30.0)
COLLECT_WINDOW = 6 * 3600.0
# How long a collector's claim on a download outlives the collector (a server killed while downloading); while it
# only asks the service whether a job is done, the claim is the usual lease (it lapses after 30 s).
COLLECT_LEASE_S = 120.0


def video_uri(video_id: str) -> str:
    return f"sora2://videos/{video_id}"


def thumbnail_uri(video_id: str) -> str:
    return f"sora2://videos/{video_id}/thumbnail"


@dataclass
class Outcome:
    """A tool's answer about one job: the structured result and, when there is one, a small inline thumbnail."""

    result: VideoResult
    thumbnail: bytes | None = None


@dataclass
class Created:
    video: Video
    usd: float | None
    reused: bool
    remaining: float


class Jobs:
    def __init__(
        self,
        client: AsyncSoraClient,
        record: JobRecord,
        settings: Settings,
        guard: SpendingGuard,
        *,
        url_resolver: Resolver | None = None,
        url_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = client
        self.record = record
        self.settings = settings
        self.guard = guard
        self.provider: Provider = client.provider
        self.url_resolver = url_resolver
        self.url_transport = url_transport
        self._download_locks = KeyedLocks()
        self._holder = new_holder()  # this server, as the holder of the collect leases it takes
        self._checks: dict[str, PollState] = {}
        self._thumbs: OrderedDict[tuple[str, float], bytes] = OrderedDict()

    # ------------------------------------------------------------------ requests
    async def build_request(
        self,
        prompt: str,
        model: str | None,
        size: str | None,
        seconds: int | None,
        image: str | None,
        image_fit: FitMode,
        characters: list[str] | None = None,
    ) -> tuple[CreateVideoRequest, list[str]]:
        """Validate locally; an image is read through the guards and fitted to the size (nothing is sent).

        Characters are checked (capability, count, ids) with the rest, before an image is fetched. Also returns
        what the user must hear before paying: a guessed price, and the warnings about the image (enlarged far,
        animated...).
        """
        req = self.client.build_request(prompt, model=model, size=size, seconds=seconds, characters=characters)
        notes = [note] if (note := price_note(self.provider, req.model, req.size)) else []
        if not image:
            return req, notes
        source = await load_image(image, self.settings, resolver=self.url_resolver, transport=self.url_transport)
        fitted = fit_reference(source, req.size, image_fit)
        req = self.client.build_request(
            prompt, model=req.model, size=req.size, seconds=req.seconds, input_reference=fitted.image,
            characters=req.characters,
        )
        return req, notes + fitted.warnings

    async def create_character(self, name: str, video: str) -> Character:
        """Make a character from a ``video`` argument read through the input guards, or the record's same one.

        The capability and the name are checked before the video is read (the shared client checks them again);
        the same video and name on this service come back from the record with ``reused`` and nothing sent, also
        when an agent fires the same call twice at once (the client makes the second wait for the first).
        """
        require_characters(self.provider)
        name = validate_character_name(name)
        clip, path = await load_video(video, self.settings, resolver=self.url_resolver, transport=self.url_transport)
        return await self.client.create_character(name, path if path is not None else clip)

    def estimate(self, model: str, size: str, seconds: str | int) -> float:
        return estimate_cost(self.provider, model, size, seconds)

    # ------------------------------------------------------------------ paid creates
    async def _paid(
        self,
        key: str,
        find_existing: Callable[[], JobRow | None],
        usd: float,
        what: str,
        kind: str,
        create: Callable[[], Awaitable[Video]],
    ) -> Created:
        """Return a recent identical job, or reserve ``usd``, create, and settle (release if nothing was created)."""
        async with self.client.exclusive(key):
            row = find_existing()
            if row is not None and not self.guard.visible(row.id):
                row = None  # another caller's job: never shown, nor handed out unpaid
            if row is not None:
                log.info("identical %s request within %.0fs: returning %s instead of paying again",
                         kind, self.settings.dedupe_seconds, row.id)
                try:
                    video = await self.client.retrieve(row.id)
                except Sora2Error:
                    video = video_from_row(row)
                return Created(video, row.cost_usd, True, self.guard.remaining())
            check_output_folder(self.settings)  # the clip must be savable before it is paid for
            reservation = await self.guard.reserve(usd, what, kind)
            try:
                video = await create()
            except asyncio.CancelledError:
                # The request may have reached the service: count it, never under-count money.
                self.guard.ledger.settle(reservation.id, "")
                raise
            except BaseException:
                self.guard.release(reservation)
                raise
            self.guard.settle(reservation, video.id)
            return Created(video, usd, False, reservation.remaining_after)

    async def create(self, req: CreateVideoRequest) -> Created:
        key = request_key(self.client.config.provider, self.client.config.base_url, req)
        since = time.time() - self.settings.dedupe_seconds

        def existing() -> JobRow | None:
            row = self.record.find_by_key(key, since=since)
            return row if row is not None and row.status not in GONE else None

        usd = self.client.estimate(req)
        what = f"a {req.seconds} s {req.model} clip at {req.size}"
        return await self._paid(key, existing, usd, what, "create", lambda: self.client.create_from_request(req))

    def _find_derived(self, kind: str, source_id: str, prompt: str, seconds: str | None = None) -> JobRow | None:
        """The same remix/extension asked for moments ago (the client files it under this key in the record)."""
        parts = (source_id, prompt) if seconds is None else (source_id, prompt, seconds)
        row = self.record.find_by_key(self.client.derived_key(kind, *parts),
                                      since=time.time() - self.settings.dedupe_seconds)
        return row if row is not None and row.status not in GONE else None

    async def _source(self, video_id: str) -> tuple[str, str, str]:
        """Model, size and seconds of a finished clip: from the local record, else from the service (a free read)."""
        row = self.record.get(video_id)
        if row is not None and row.model and row.size and row.seconds:
            return row.model, row.size, row.seconds
        video = await self.client.retrieve(video_id)
        return (video.model or self.provider.default_model, video.size or "", video.seconds or "")

    async def remix(self, video_id: str, prompt: str) -> Created:
        return await self._like_source("remix", "a remix", video_id, prompt, self.client.remix)

    async def edit(self, video_id: str, prompt: str) -> Created:
        """Like a remix, through the service's edits endpoint."""
        return await self._like_source("edit", "an edit", video_id, prompt, self.client.edit)

    async def _like_source(
        self, kind: str, what: str, video_id: str, prompt: str, start: Callable[[str, str], Awaitable[Video]]
    ) -> Created:
        """A new job with its source's model, size and length, so at its source's price (remix, edit)."""
        video_id, prompt = validate_video_id(video_id), validate_prompt(prompt)
        model, size, seconds = await self._source(video_id)
        usd = self.estimate(model, size, seconds) if seconds else self.provider.fallback_price_per_second * 20
        key = self.client.derived_key(kind, video_id, prompt)  # the key the client files the job under
        return await self._paid(
            key, lambda: self._find_derived(kind, video_id, prompt), usd,
            f"{what} of {video_id} ({seconds} s {model} at {size})", kind, lambda: start(video_id, prompt),
        )

    async def extend(self, video_id: str, prompt: str, seconds: int) -> Created:
        video_id, prompt = validate_video_id(video_id), validate_prompt(prompt)
        model, size, _ = await self._source(video_id)
        secs = validate_seconds(self.provider, model, seconds)
        usd = self.estimate(model, size, secs)
        key = self.client.derived_key("extend", video_id, prompt, secs)
        return await self._paid(
            key, lambda: self._find_derived("extend", video_id, prompt, secs), usd,
            f"extending {video_id} by {secs} s ({model} at {size})", "extend",
            lambda: self.client.extend(video_id, prompt, secs),
        )

    # ------------------------------------------------------------------ waiting and status
    async def wait(self, video: Video, seconds: float, on_progress: ProgressCallback | None) -> Video:
        """Poll up to ``seconds``; return the last state seen (the job keeps running if time runs out)."""
        if seconds <= 0 or video.is_terminal:
            return video
        last = {"status": video.status, "progress": video.progress}

        def seen(event) -> None:  # type: ignore[no-untyped-def]
            last.update(status=event.phase, progress=event.progress)
            if on_progress is not None:
                on_progress(event)

        try:
            return await self.client.poll(video.id, on_progress=seen, deadline=seconds)
        except WaitTimeoutError:
            return video.model_copy(update=last)

    async def status(
        self, video_id: str, wait_seconds: float = 0.0, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        """The service's view of a job (waiting up to ``wait_seconds`` for it to finish), or the record's if gone.

        Read-only: nothing is saved here (clients auto-approve read-only tools, so polling never asks the user);
        a finished clip is saved by the collector or ``download_video``, and the answer says where.
        """
        video_id = validate_video_id(video_id)
        try:
            video = await self.client.retrieve(video_id)
        except NotFoundError:
            row = self.record.get(video_id)
            if row is None:
                raise
            return self._gone(row)
        video = await self.wait(video, wait_seconds, on_progress)
        return await self.outcome(video, on_progress=on_progress, save=False)

    def local_file(self, video_id: str, variant: str = "video") -> Path | None:
        """The saved ``variant`` of a job inside the output folder, if there is one (a read, never a write)."""
        return self._saved(video_id, self.record.get(video_id), variant)

    def _saved(self, video_id: str, row: JobRow | None, variant: str) -> Path | None:
        found = inside_output(self.settings, row.files.get(variant) if row else None)
        return found or inside_output(self.settings, self.target(video_id, variant))

    def target(self, video_id: str, variant: str = "video") -> Path:
        """Where the collector and ``download_video`` save a job's ``variant``."""
        return self.settings.output_dir / f"{video_id}{VARIANT_SUFFIX[variant]}"

    def followed(self, video_id: str) -> bool:
        """Whether the background collector will save this job when it finishes."""
        cfg = self.client.config
        return self.settings.auto_download and self.guard.ledger.follows(
            video_id, cfg.provider, cfg.base_url, time.time() - COLLECT_WINDOW)

    async def outcome(
        self,
        video: Video,
        *,
        on_progress: ProgressCallback | None = None,
        cost: float | None = None,
        remaining: float | None = None,
        reused: bool = False,
        save: bool = True,
    ) -> Outcome:
        """The agent's view of ``video``; with ``save`` a completed job is downloaded first (once), else only the
        files already saved are reported, with the path the clip will be saved at."""
        status = video.status
        file = thumb = None
        err_code = video.error.code if video.error else None
        err_msg = video.error.message if video.error else None
        download_problem: str | None = None
        if status == "completed" and save:
            try:
                file, thumb = await self.ensure_downloaded(video.id, on_progress)
            except ExpiredError as exc:
                status, err_code, err_msg = "expired", "video_expired", str(exc)
            except Sora2Error as exc:
                download_problem = str(exc)
        row = self.record.get(video.id)  # read once: every poll of every agent comes through here
        if status == "completed" and not save:
            file, thumb = self._saved(video.id, row, "video"), self._saved(video.id, row, "thumbnail")
            if file is None and video.expires_at and time.time() >= video.expires_at:
                status, err_code = "expired", "video_expired"
        if file is None and row is not None:
            file = inside_output(self.settings, row.files.get("video"))
        if cost is None:
            cost = row.cost_usd if row is not None else self._cost_of(video)
        eta, next_check = self._timing(video) if status in RUNNING else (None, None)
        result = VideoResult(
            video_id=video.id,
            status=status,
            progress=video.progress,
            kind=row.kind if row is not None else None,
            model=video.model,
            size=video.size,
            seconds=video.seconds,
            prompt=video.prompt,
            cost_usd=cost,
            budget_remaining_usd=_finite(remaining),
            reused_existing=reused,
            eta_seconds=eta,
            next_check_seconds=next_check,
            error_code=err_code,
            error_message=err_msg or download_problem,
            file_path=str(file) if file else None,
            target_path=str(self.target(video.id)) if file is None and status in (*RUNNING, "completed") else None,
            thumbnail_path=str(thumb) if thumb else None,
            resource_uri=video_uri(video.id),
            thumbnail_uri=thumbnail_uri(video.id) if thumb else None,
            expires_at=video.expires_at,
            hint="",
        )
        result.hint = self._hint(result, download_problem)
        return Outcome(result, self.small_thumbnail(thumb) if thumb else None)

    def _gone(self, row: JobRow) -> Outcome:
        """A job the service no longer knows (deleted or expired), answered from the local record."""
        if row.status in GONE:
            status = row.status
        else:  # gone without us deleting it: expired if its content was due to expire, else deleted elsewhere
            status = "expired" if row.expires_at and time.time() >= row.expires_at else "deleted"
        file = inside_output(self.settings, row.files.get("video"))
        thumb = inside_output(self.settings, row.files.get("thumbnail"))
        local = f" The local copy is at {file}." if file else " There is no local copy."
        result = VideoResult(
            video_id=row.id, status=status, progress=row.progress, kind=row.kind, model=row.model, size=row.size,
            seconds=row.seconds, prompt=row.prompt, cost_usd=row.cost_usd, error_code=row.error_code,
            error_message=row.error_message, file_path=str(file) if file else None,
            thumbnail_path=str(thumb) if thumb else None, resource_uri=video_uri(row.id),
            thumbnail_uri=thumbnail_uri(row.id) if thumb else None, expires_at=row.expires_at,
            hint=f"The service no longer has this video ({status}).{local}",
        )
        return Outcome(result, self.small_thumbnail(thumb) if thumb else None)

    def _cost_of(self, video: Video) -> float | None:
        if not video.size or not video.seconds:
            return None
        return self.estimate(video.model or self.provider.default_model, video.size, video.seconds)

    def _timing(self, video: Video) -> tuple[float | None, float]:
        state = self._checks.setdefault(video.id, PollState(CHECK_POLICY))
        now = time.time()
        state.observe(now, video.progress)
        eta = state.eta()
        if eta is None and video.progress > 0 and video.created_at:
            elapsed = max(1.0, now - video.created_at)
            eta = elapsed * (100 - video.progress) / video.progress
        if len(self._checks) > 1000:  # forget the oldest hints; they only tune advice
            self._checks.pop(next(iter(self._checks)))
        return (round(eta, 1) if eta is not None else None), round(state.next_interval(), 1)

    def _hint(self, r: VideoResult, download_problem: str | None) -> str:
        if r.status in RUNNING:
            where = "Queued on the service" if r.status == "queued" else f"Rendering ({r.progress}%"
            where += "" if r.status == "queued" else (f", about {r.eta_seconds:.0f} s left)" if r.eta_seconds else ")")
            return (f"{where}. Call get_status with this video_id again in about {r.next_check_seconds:.0f} s "
                    "(a clip usually takes 1-5 minutes). The job keeps running even if you stop asking.")
        self._checks.pop(r.video_id, None)
        if r.status == "completed":
            if download_problem:
                return f"Finished, but the download failed: {download_problem} Call download_video to retry."
            if r.file_path is None:
                who = (f"the background collector saves it there within about {self.settings.collector_interval:.0f}"
                       " s, or call download_video now" if self.followed(r.video_id) else "call download_video")
                return (f"Finished, not saved yet: {who} (it goes to {r.target_path}). The service deletes its "
                        "copy about an hour after completion.")
            return (f"Finished and saved at {r.file_path}. Give the user this path. "
                    "The service deletes its copy about an hour after completion; the local file stays.")
        if r.status == "failed":
            advice = ("Rephrase the prompt (no real people, no copyrighted characters) and generate again."
                      if is_content_policy(r.error_code, r.error_message)
                      else "Nothing was produced; you may try again.")
            return f"The job failed ({r.error_code or 'no code'}): {r.error_message or 'no message'}. {advice}"
        if r.status == "expired":
            local = f" The local copy is at {r.file_path}." if r.file_path else ""
            return "The service no longer has the content (it keeps it about an hour)." + local
        return f"Status {r.status}."

    # ------------------------------------------------------------------ files
    async def ensure_downloaded(
        self, video_id: str, on_progress: ProgressCallback | None = None
    ) -> tuple[Path, Path | None]:
        """Download the MP4 (and thumbnail) into the output folder unless already there. Once per video."""
        out = self.settings.output_dir
        async with self._download_locks.hold(video_id):
            row = self.record.get(video_id)
            video_file = inside_output(self.settings, row.files.get("video") if row else None)
            target = out / f"{video_id}{VARIANT_SUFFIX['video']}"
            if video_file is None and target.is_file():
                video_file = target
                self.record.set_file(video_id, "video", target)
            if video_file is None:
                out.mkdir(parents=True, exist_ok=True)
                video_file = (await self.client.download_content(
                    video_id, target, variant="video", on_progress=on_progress)).resolve()
                self._mark_collected(video_id)
            thumb: Path | None = out / f"{video_id}{VARIANT_SUFFIX['thumbnail']}"
            if not thumb.is_file():  # type: ignore[union-attr]
                try:
                    thumb = (await self.client.download_content(video_id, thumb, variant="thumbnail")).resolve()
                except Sora2Error as exc:
                    log.info("no thumbnail for %s: %s", video_id, exc)
                    thumb = None
            return video_file, thumb

    async def download(self, video_id: str, variant: str, dest: Path) -> Path:
        async with self._download_locks.hold(video_id):
            dest.parent.mkdir(parents=True, exist_ok=True)
            return (await self.client.download_content(video_id, dest, variant=variant)).resolve()

    def small_thumbnail(self, path: Path, max_side: int = THUMB_MAX_SIDE) -> bytes | None:
        """A WebP of at most ``max_side`` pixels, cached; small enough to inline in a tool result."""
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            return None
        if key in self._thumbs:
            self._thumbs.move_to_end(key)
            return self._thumbs[key]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.thumbnail((max_side, max_side))
                buf = io.BytesIO()
                im.save(buf, format="WEBP", quality=75)
        except OSError as exc:
            log.info("cannot read thumbnail %s: %s", path, exc)
            return None
        self._thumbs[key] = data = buf.getvalue()
        while len(self._thumbs) > 64:
            self._thumbs.popitem(last=False)
        return data

    # ------------------------------------------------------------------ background collector
    async def collect_once(self) -> list[str]:
        """Download every finished job paid for in the last hours that is not saved yet, unless another server
        sharing the database has taken (or done) it."""
        cfg = self.client.config
        leases = self.record.leases
        saved: list[str] = []
        for video_id in self.guard.ledger.video_ids(cfg.provider, cfg.base_url, time.time() - COLLECT_WINDOW):
            row = self.record.get(video_id)
            if row is None or row.status in GONE or inside_output(self.settings, row.files.get("video")):
                continue
            if not leases.take(_collect_key(video_id), self._holder):  # the usual lease while asking the service
                continue
            try:
                video = await self.client.retrieve(video_id)
                if video.status == "completed":  # a download may take longer: hold the lease for it
                    leases.keep(_collect_key(video_id), self._holder, until=time.time() + COLLECT_LEASE_S)
                    await self.ensure_downloaded(video_id)
                    saved.append(video_id)
                    continue
            except Sora2Error as exc:
                log.warning("collector: %s not downloaded yet: %s", video_id, exc)
            leases.release(_collect_key(video_id), self._holder)  # not finished: any server may try next time
        return saved

    def _mark_collected(self, video_id: str) -> None:
        """Keep the job's collect lease for the collector's whole window: saved once, by whichever server."""
        leases = self.record.leases
        if leases.take(_collect_key(video_id), self._holder, COLLECT_LEASE_S):
            leases.keep(_collect_key(video_id), self._holder, until=time.time() + COLLECT_WINDOW)

    async def collect_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.collector_interval)
            try:
                await self.collect_once()
            except Exception as exc:  # noqa: BLE001 - keep collecting; never crash the server over a download
                log.warning("collector run failed: %s", exc.__class__.__name__)


def _collect_key(video_id: str) -> str:
    return f"collect:{video_id}"


def video_from_row(row: JobRow) -> Video:
    error = VideoError(code=row.error_code, message=row.error_message) if row.error_code or row.error_message else None
    return Video(
        id=row.id, model=row.model, status=row.status, progress=row.progress, created_at=int(row.created_at),
        completed_at=row.completed_at, expires_at=row.expires_at, prompt=row.prompt, size=row.size,
        seconds=row.seconds, error=error,
    )


def _finite(value: float | None) -> float | None:
    if value is None or value == float("inf"):
        return None
    return round(value, 4)


def describe_usd(value: float) -> str:
    return "unlimited" if value == float("inf") else format_usd(value)
