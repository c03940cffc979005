"""The bridge between a running ComfyUI node and the shared client: progress, Cancel, readable errors, caching.

Every Sora 2 node runs its work through :class:`NodeRun`:

* **Client.** Provider, base URL and key come from :func:`resolve_config` (environment or the user config file).
  The optional provider/base-URL widgets are not secret; the key is never a widget, because ComfyUI writes widget
  values into every saved workflow and into the metadata of every PNG/MP4 it saves.
* **Progress.** The service's ``progress`` drives ComfyUI's progress bar (0-90 % rendering, 90-100 % download) and
  the node shows a status line ("queued", "rendering 42%", "downloading 3.1/8.0 MB").
* **Cancel.** ComfyUI's Cancel sets a flag that nobody delivers to an async node, so every await here races a
  watcher that checks the flag every 0.1 s. The node then raises ComfyUI's own ``InterruptProcessingException``
  (see :func:`interruption`), which the executor shows as a quiet interruption like every core node's, not as an
  error dialog. The service has no cancel: a job left running stays in the shared job record, and the status
  text and the log name its video_id so Sora 2 Load Job (or the same graph re-queued) can collect it. A create
  request already sent is never abandoned half-way: it finishes in the background and is recorded.
* **Errors.** Every ``Sora2Error`` becomes a :class:`NodeError` carrying its readable message and no traceback
  of the client's internals; the status text shows it too, so the node never keeps a stale "starting..." line.
* **Logs.** One line per state change (created with id and price, rendering every 25 %, done with the seconds
  waited, downloaded with size and time); the status text changes far more often and goes to the UI only.
* **Caching.** ComfyUI caches outputs within a session by input values (the seed is one of them). Across restarts
  the shared job record keeps, with each job, the fingerprint of the inputs + seed that made it, so they reuse
  that job: its local file, a fresh download, or the wait for a job still running. A different seed pays again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..shared import AsyncSoraClient, ProgressEvent, Sora2Error, resolve_config
from ..shared.config import LOCAL_PLACEHOLDER_KEY
from ..shared.errors import BadRequestError, ExpiredError, JobFailedError, NotFoundError
from ..shared.models import Video
from ..shared.outputs import check_folder
from ..shared.providers import DEFAULT_PROVIDER, PROVIDERS, get_provider

log = logging.getLogger("sora2_bridge.nodes")
T = TypeVar("T")

CATEGORY = "Sora 2"
PROVIDER_CHOICES = ["auto", *PROVIDERS]
# How often a waiting node looks at ComfyUI's Cancel flag.
CANCEL_TICK = 0.1
# Extra keyword arguments for every client the nodes create (tests inject fast poll policies, fake clocks...).
client_overrides: dict[str, Any] = {}


class NodeError(Exception):
    """What the user sees in ComfyUI's error panel: one readable message."""


def cancel_message(video_id: str | None, detail: str = "") -> str:
    """What a Cancel leaves behind, and how to collect it."""
    if video_id:
        return (
            f"Cancelled: stopped waiting for {video_id}. The service has no cancel, so it keeps running (and is "
            f"billed); it is kept in the local job record. Collect it with Sora 2 Load Job (video_id {video_id}) "
            "or queue the same graph again with the same seed."
        )
    if detail:
        return f"Cancelled: {detail}"
    return (
        "Cancelled before the service returned a video id. Nothing was waited for; if a job was created it is in "
        "the local job record (sora2 list --local)."
    )


def interruption(video_id: str | None, reporter: Reporter | None = None, detail: str = "") -> Exception:
    """ComfyUI's own ``InterruptProcessingException``, so the executor shows a quiet interruption like every core
    node's (an error dialog would offer to "fix" a Cancel). Its message never reaches the UI, so the status text
    and the log say what keeps running; the exception also carries ``video_id`` for callers.
    """
    import comfy.model_management as mm

    message = cancel_message(video_id, detail)
    log.warning("%s%s", f"[node {reporter.node_id}] " if reporter else "", message)
    if reporter is not None:
        reporter.text(f"Cancelled: {video_id} keeps running on the service; collect it with Sora 2 Load Job"
                      if video_id else "Cancelled")
    exc = mm.InterruptProcessingException(message)
    exc.video_id = video_id  # type: ignore[attr-defined]
    return exc


# --------------------------------------------------------------------------------------------- ComfyUI hooks
def interrupted() -> bool:
    """ComfyUI's Cancel flag (never raises, never resets it)."""
    try:
        import comfy.model_management as mm
    except ImportError:
        return False
    return bool(mm.processing_interrupted())


def _progress_bar(node_id: str | None) -> Any:
    try:
        import comfy.utils
    except ImportError:
        return None
    return comfy.utils.ProgressBar(100, node_id=node_id)


def _send_text(text: str, node_id: str | None) -> None:
    if node_id is None:
        return
    try:
        from server import PromptServer
    except ImportError:
        return
    server = getattr(PromptServer, "instance", None)
    if server is None:
        return
    try:
        server.send_progress_text(text, node_id)
    except Exception:  # a UI message must never fail the job
        log.debug("send_progress_text failed", exc_info=True)


class Reporter:
    """Progress bar + status text of one node execution, and its log lines.

    The status text follows every event (the UI replaces the last line); the log gets one line per state change
    only, because ComfyUI's log is shared by every node and read after the fact.
    """

    # Rendering progress is logged when it passes one of these marks.
    LOG_MARKS = (25, 50, 75)

    def __init__(self, node_id: str | None) -> None:
        self.node_id = node_id
        self.bar = _progress_bar(node_id)
        self.value = 0.0
        self._last_text: str | None = None
        self._warnings: list[str] = []
        self._logged_mark = 0
        self._download_bytes = 0

    def set(self, value: float) -> None:
        value = max(0.0, min(100.0, value))
        if self.bar is not None and value != self.value:
            self.bar.update_absolute(value, 100)
        self.value = value

    def log(self, text: str, level: int = logging.INFO) -> None:
        log.log(level, "[node %s] %s", self.node_id, text)

    def warn(self, text: str) -> None:
        """Logged as a warning and kept in front of every later status line (each line replaces the last)."""
        self.log(text, logging.WARNING)
        self._warnings.append(f"Warning: {text}.")
        self.text("")

    def text(self, text: str) -> None:
        """The node's status line in the UI (not logged: see :meth:`log`)."""
        shown = " ".join([*self._warnings, text]).strip()
        if shown != self._last_text:
            self._last_text = shown
            _send_text(shown, self.node_id)

    def failed(self, message: str) -> None:
        """The failure replaces whatever the status line said last (e.g. "starting a new clip")."""
        self.text(f"Failed: {message}")

    @contextlib.contextmanager
    def showing_failures(self) -> Iterator[None]:
        """Every NodeError raised inside also becomes the status line."""
        try:
            yield
        except NodeError as exc:
            self.failed(str(exc))
            raise

    def event(self, ev: ProgressEvent) -> None:
        if ev.phase == "queued":
            value = 0.0
        elif ev.phase == "in_progress":
            value = 0.9 * ev.progress
        elif ev.phase == "completed":
            value = 90.0
        elif ev.phase == "downloading":
            value = 90.0 + (10.0 * ev.bytes_done / ev.bytes_total if ev.bytes_done and ev.bytes_total else 0.0)
        elif ev.phase == "downloaded":
            value = 100.0
        else:
            value = self.value
        self.set(max(self.value, value) if ev.phase != "queued" else value)
        self.text(f"{ev.video_id}: {ev.text}")
        self._log_event(ev)

    def _log_event(self, ev: ProgressEvent) -> None:
        if ev.phase == "in_progress":
            mark = max((m for m in self.LOG_MARKS if ev.progress >= m), default=0)
            if mark > self._logged_mark:
                self._logged_mark = mark
                self.log(f"{ev.video_id}: {ev.text}")
        elif ev.phase == "completed":
            self._logged_mark = 100
            self.log(f"{ev.video_id}: done after {ev.elapsed:.0f}s of waiting")
        elif ev.phase == "failed":
            self.log(f"{ev.video_id}: failed after {ev.elapsed:.0f}s of waiting", logging.WARNING)
        elif ev.phase == "downloading":
            self._download_bytes = ev.bytes_done or self._download_bytes
        elif ev.phase == "downloaded":
            self.log(f"{ev.video_id}: downloaded {self._download_bytes / 1e6:.1f} MB in {ev.elapsed:.1f}s")


# --------------------------------------------------------------------------------------------- configuration
def _check_base_url(base_url: str) -> str | None:
    url = (base_url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.username or parts.password or parts.query:
        raise NodeError(
            "base_url must not carry credentials or a query string: widget values are saved into workflows and "
            "media metadata. Put the key in SORA2_API_KEY (or the provider's variable) or the user config file."
        )
    return url


def provider_name(provider: str | None) -> str | None:
    return None if not provider or provider == "auto" else provider


def provider_for_validation(provider: str | None) -> Any:
    """The provider table to check model/size/seconds against, chosen as the client would choose it (widget,
    environment, user config file) but without needing a key; the default provider's if that choice is broken
    (the run then reports the broken setting itself)."""
    try:
        return resolve_config(provider_name(provider), api_key=LOCAL_PLACEHOLDER_KEY).provider_spec
    except Sora2Error:
        return get_provider(DEFAULT_PROVIDER)


def make_client(provider: str | None = None, base_url: str | None = None) -> AsyncSoraClient:
    try:
        config = resolve_config(provider_name(provider), _check_base_url(base_url or ""))
        return AsyncSoraClient(config, **client_overrides)
    except Sora2Error as exc:
        raise NodeError(str(exc)) from None


# --------------------------------------------------------------------------------------------- restart cache
def node_key(kind: str, client: AsyncSoraClient, payload: Any, seed: int) -> str:
    blob = json.dumps([kind, client.config.provider, client.config.base_url, payload, int(seed)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


# --------------------------------------------------------------------------------------------- one execution
@dataclass(frozen=True)
class Clip:
    video_id: str
    path: Path
    cost_usd: float | None
    reused: bool = False


class NodeRun:
    """One node execution: a client, a reporter, the Cancel watcher and the error translation."""

    def __init__(self, node_id: str | None, provider: str | None = None, base_url: str | None = None) -> None:
        self.reporter = Reporter(node_id)
        self.provider, self.base_url = provider, base_url
        self.client: AsyncSoraClient | None = None
        self._detached: set[asyncio.Task[Any]] = set()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, node_id: str | None, provider: str | None = None, base_url: str | None = None, *, client: bool = True
    ) -> AsyncIterator[NodeRun]:
        run = cls(node_id, provider, base_url)
        try:
            if client:
                run.client = make_client(provider, base_url)
            with run.reporter.showing_failures():
                try:
                    yield run
                except Sora2Error as exc:
                    raise NodeError(str(exc)) from None
        finally:
            await run._close()

    async def _close(self) -> None:
        if self.client is None:
            return
        pending = {t for t in self._detached if not t.done()}
        if not pending:
            await self.client.aclose()
            return
        client = self.client

        async def close_later() -> None:
            await asyncio.gather(*pending, return_exceptions=True)
            await client.aclose()

        _background.add(task := asyncio.ensure_future(close_later()))
        task.add_done_callback(_background.discard)

    # ------------------------------------------------------------------ cancel
    async def guard(self, work: Awaitable[T], *, video_id: str | None, detach: bool = False) -> T:
        """Await ``work`` unless ComfyUI's Cancel is pressed; then stop within CANCEL_TICK seconds.

        ``detach=True`` lets the work finish in the background instead of cancelling it (a create request that
        may already have reached the service must still be recorded).
        """
        task = asyncio.ensure_future(work)
        if detach:
            self._detached.add(task)
        while True:
            done, _ = await asyncio.wait({task}, timeout=CANCEL_TICK)
            if done:
                return task.result()
            if interrupted():
                if not detach:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                raise interruption(video_id, self.reporter)

    def check_cancel(self, video_id: str | None = None) -> None:
        if interrupted():
            raise interruption(video_id, self.reporter)

    # ------------------------------------------------------------------ jobs
    async def produce(
        self, key: str, start: Callable[[str], Awaitable[Video]], *, what: str, cost_hint: float | None = None
    ) -> Clip:
        """Reuse the job made from the same inputs and seed, else start one; then wait and download it.

        ``key`` is stored with the job in the shared record (``start`` passes it to the client), so the same
        inputs and seed find their job again after a restart of ComfyUI.
        """
        assert self.client is not None and self.client.record is not None
        async with self.client.exclusive(key):
            previous = self.client.record.find_by_key(key)
            if previous is not None:
                clip = await self.collect(previous.id, lenient=True)
                if clip is not None:
                    return clip
            self.check_cancel()
            check_folder(self.client.downloads_dir)  # a clip that cannot be saved must not be paid for
            if cost_hint is not None:
                self.reporter.text(f"starting {what} (about ${cost_hint:.2f})")
            video = await self.guard(start(key), video_id=None, detach=True)
            self.reporter.text(f"{video.id}: {video.status}")
            self.reporter.log(f"created {video.id}: {what}, {self._price(video.id, cost_hint)}")
            return await self.collect(video.id, known=video)  # type: ignore[return-value]

    def _price(self, video_id: str, estimate: float | None) -> str:
        row = self.client.record.get(video_id) if self.client and self.client.record else None
        cost = row.cost_usd if row is not None and row.cost_usd is not None else estimate
        return f"about ${cost:.2f}" if cost is not None else "price unknown"

    def _local_file(self, video_id: str) -> tuple[Path | None, Any]:
        row = self.client.record.get(video_id) if self.client and self.client.record else None
        path = Path(row.video_file) if row is not None and row.video_file else None
        if path is not None and row.status == "completed" and path.is_file():
            return path, row
        return None, row

    async def collect(self, video_id: str, *, lenient: bool = False, known: Video | None = None) -> Clip | None:
        """The local file of ``video_id``: reused if present, else waited for (with progress) and downloaded.

        ``lenient``: a job that failed, expired or vanished returns None (the caller starts a new one) instead of
        raising its error.
        """
        assert self.client is not None
        client = self.client
        path, row = self._local_file(video_id)
        if path is not None:
            self.reporter.set(100)
            self.reporter.text(f"{video_id}: reused the downloaded clip (no new charge)")
            self.reporter.log(f"{video_id}: reused the downloaded clip (no new charge)")
            return Clip(video_id, path, row.cost_usd, reused=True)
        try:
            status = known.status if known is not None else (row.status if row is not None else None)
            if status in (None, "completed"):
                # Try the content first: a finished job costs one request; "not ready" means it is still running.
                try:
                    dest = await self.guard(
                        client.download_content(video_id, on_progress=self.reporter.event), video_id=video_id
                    )
                    return self._clip(video_id, dest, reused=status == "completed" and known is None)
                except BadRequestError as exc:
                    if isinstance(exc, NotFoundError) or "not ready" not in exc.message.lower():
                        raise
            video = await self.guard(
                client.wait(video_id, on_progress=self.reporter.event, should_cancel=interrupted), video_id=video_id
            )
            dest = await self.guard(
                client.download_content(video.id, on_progress=self.reporter.event), video_id=video_id
            )
            return self._clip(video_id, dest)
        except Sora2Error as exc:
            from ..shared.errors import CancelledError

            if isinstance(exc, CancelledError):
                raise interruption(video_id, self.reporter) from None
            if lenient and isinstance(exc, (JobFailedError, ExpiredError, NotFoundError)):
                self.reporter.log(f"previous job {video_id} is unusable ({exc}); starting a new one")
                return None
            raise NodeError(str(exc)) from None

    def _clip(self, video_id: str, dest: Path, *, reused: bool = False) -> Clip:
        row = self.client.record.get(video_id) if self.client and self.client.record else None
        self.reporter.set(100)
        self.reporter.text(f"{video_id}: done")
        return Clip(video_id, dest, row.cost_usd if row is not None else None, reused=reused)


_background: set[asyncio.Task[Any]] = set()
