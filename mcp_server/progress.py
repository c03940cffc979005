"""From the shared client's progress events (a sync callback) to MCP progress notifications (async, increasing).

The client calls ``on_progress`` synchronously from inside its polling loop; the bridge queues each event and one
task sends them in order with ``ctx.report_progress``. MCP requires the value to increase with every notification,
while a job may sit at ``queued 0 %`` for a while, so the value creeps up by a hundredth when the real percentage
does not move: each poll still reaches the client, which resets its idle timeout, and the message carries the
real state ("rendering 42% (~30s left)"). Rendering maps to 0-90 and downloading to 90-100, at most one
notification per tenth of the download.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..shared.progress import ProgressEvent

log = logging.getLogger("sora2_bridge.mcp")

Send = Callable[[float, float | None, str | None], Awaitable[None]]


class ProgressBridge:
    """Use as ``async with ProgressBridge(ctx.report_progress) as on_progress: ...`` around a wait."""

    def __init__(self, send: Send | None) -> None:
        self._send = send
        self._queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self._last = -1.0
        self._task: asyncio.Task[None] | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase in ("downloading", "downloaded"):
            frac = 1.0 if event.phase == "downloaded" else (
                event.bytes_done / event.bytes_total if event.bytes_done is not None and event.bytes_total else 0.0)
            value = 90.0 + 10.0 * min(1.0, frac)
            if event.phase == "downloading" and value - self._last < 1.0:
                return  # one notification per tenth of the download is plenty
        else:
            value = 0.9 * max(0, min(100, event.progress))
        self.note(value, f"{event.video_id}: {event.text}")

    def note(self, value: float, message: str) -> None:
        value = max(value, self._last + 0.01)
        self._last = value
        self._queue.put_nowait((round(value, 2), message))

    async def _pump(self) -> None:
        while (item := await self._queue.get()) is not None:
            if self._send is None:
                continue
            try:
                await self._send(item[0], 100.0, item[1])
            except Exception as exc:  # noqa: BLE001 - a client that went away must not fail the job
                log.debug("progress notification not sent: %s", exc.__class__.__name__)

    async def __aenter__(self) -> ProgressBridge:
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._queue.put_nowait(None)
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                self._task.cancel()
                raise
