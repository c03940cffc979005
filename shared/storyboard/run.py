"""Running a planned storyboard through the shared client: shots at once up to the provider's cap, each dependent
shot as soon as its source clip exists, every shot under its record key so nothing finished is paid twice.

A shot's life: wait for its source (continue, remix, extend) -> look its key up in the job record -> reuse the
finished clip (no request), or wait for the job still running, or create one -> wait -> download. A shot that
fails stops the shots made from it; shots that do not depend on it run to the end, so a rerun pays only for
what is missing. The run is recorded (``JobRecord.storyboard_runs``) with what each shot became.

Characters are made once, before the first shot that names them (after their source shot, for one made from a
clip); the client answers a character made before from the record, so a rerun sends nothing for them either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..client import AsyncSoraClient
from ..errors import CancelledError, ExpiredError, InvalidInputError, JobFailedError, NotFoundError, Sora2Error
from ..characters import load_character_video
from ..media import fit_pil_image
from ..models import ImageInput, Video
from ..progress import ProgressEvent
from ..video import VideoError, last_frame
from .film import contact_sheet, join_film
from .plan import Plan, PlannedCharacter, PlannedShot

log = logging.getLogger("sora2_bridge")
RUNNING = ("queued", "in_progress")


@dataclass(frozen=True)
class ShotEvent:
    """What a front end draws per shot. ``shot_id`` None is the film itself (phases ``joining`` and ``film``).

    Phases: waiting (for its source shot), starting, queued, in_progress, downloading, reused, done, failed,
    skipped (its source failed), cancelled; for the film: joining, film. ``progress`` is 0..100 for the shot.
    """

    shot_id: str | None
    phase: str
    progress: int = 0
    video_id: str | None = None
    cost_usd: float | None = None
    message: str = ""


ShotCallback = Callable[[ShotEvent], None]


@dataclass
class ShotResult:
    """What one shot became in this run: ``done`` (paid now or reused), ``failed``, ``skipped`` or ``cancelled``."""

    id: str
    status: str = "pending"
    video_id: str | None = None
    file: Path | None = None
    cost_usd: float | None = None  # paid in this run (0 when reused)
    reused: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "video_id": self.video_id,
                "file": str(self.file) if self.file else None, "cost_usd": self.cost_usd, "reused": self.reused,
                "error": self.error}


@dataclass
class CharacterResult:
    """What one character became in this run: ``done`` (made now, reused from the record, or given) or
    ``failed`` (the shots that name it fail with it)."""

    name: str
    status: str = "pending"
    character_id: str | None = None
    reused: bool = False
    cost_usd: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "id": self.character_id, "reused": self.reused,
                "cost_usd": self.cost_usd, "error": self.error}


@dataclass
class StoryboardResult:
    storyboard_id: str
    run_id: str
    shots: list[ShotResult]
    estimated_usd: float
    film: Path | None = None
    contact_sheet: Path | None = None
    warnings: list[str] = field(default_factory=list)
    characters: list[CharacterResult] = field(default_factory=list)

    @property
    def spent_usd(self) -> float:
        """What this run paid for (reused shots and characters cost nothing again)."""
        return round(sum(s.cost_usd or 0.0 for s in self.shots) + sum(c.cost_usd or 0.0 for c in self.characters), 4)

    @property
    def ok(self) -> bool:
        return all(s.status == "done" for s in self.shots)

    def as_dict(self) -> dict[str, Any]:
        return {"storyboard_id": self.storyboard_id, "run_id": self.run_id, "ok": self.ok,
                "film": str(self.film) if self.film else None,
                "contact_sheet": str(self.contact_sheet) if self.contact_sheet else None,
                "estimated_usd": self.estimated_usd, "spent_usd": self.spent_usd, "warnings": self.warnings,
                "characters": [c.as_dict() for c in self.characters],
                "shots": [s.as_dict() for s in self.shots]}


class StoryboardFailed(Sora2Error):
    """Some shots failed (or were cancelled): the message names each, and what was skipped because of it.

    ``result`` holds every shot's outcome; finished shots are in the record, so running again continues.
    """

    def __init__(self, result: StoryboardResult, plan: Plan) -> None:
        self.result = result
        lines = []
        for s in result.shots:
            if s.status in ("failed", "cancelled"):
                after = [d for d in plan.dependents(s.id) if result_of(result, d).status == "skipped"]
                tail = f"; not started because of it: {', '.join(after)}" if after else ""
                lines.append(f'shot "{s.id}" {s.status}: {s.error}{tail}')
        running = [f"{s.id} ({s.video_id})" for s in result.shots if s.status == "cancelled" and s.video_id]
        done = sum(1 for s in result.shots if s.status == "done")
        message = "; ".join(lines) + f". {done} of {len(result.shots)} shots are done and kept"
        if running:
            message += f"; left running on the service: {', '.join(running)}"
        super().__init__(message + ". Run the storyboard again to continue: only the missing shots are paid.")


def result_of(result: StoryboardResult, shot_id: str) -> ShotResult:
    return next(s for s in result.shots if s.id == shot_id)


async def run_storyboard(
    client: AsyncSoraClient,
    plan: Plan,
    *,
    out_dir: str | Path,
    on_event: ShotCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    make_film: bool = True,
) -> StoryboardResult:
    """Make every shot of ``plan`` (clips saved in ``out_dir``), then the film and the contact sheet.

    ``client`` must be for the provider and base URL the plan was made for (the keys depend on them) and should
    keep a job record (``client.record``), without which nothing can be reused. Shots with no source start at
    once, at most ``client.config.max_concurrent_jobs`` running together. ``on_event`` receives a
    :class:`ShotEvent` per change; ``should_cancel`` is polled while waiting (a cancelled job keeps running on the
    service and is collected by the next run). Raises :class:`StoryboardFailed` if any shot failed or was
    cancelled (its ``result`` has every shot), after the independent shots finished and the run was recorded.
    """
    if (client.config.provider, client.config.base_url.rstrip("/")) != (plan.provider.name, plan.base_url):
        raise InvalidInputError(
            f"The plan was made for {plan.provider.name} at {plan.base_url}, but the client is for "
            f"{client.config.provider} at {client.config.base_url}: plan again with the client's provider.",
            param="provider",
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda ev: None)
    runner = _Runner(client, plan, out, emit, should_cancel)
    result = StoryboardResult(plan.id, uuid.uuid4().hex, [runner.results[s.id] for s in plan.shots],
                              plan.total_usd, warnings=plan.warnings, characters=list(runner.cast.values()))
    record = client.record
    async with contextlib.AsyncExitStack() as running:
        if record is not None:
            record.start_storyboard_run(result.run_id, plan.id, plan.as_dict())
            await running.enter_async_context(record.running_storyboard(result.run_id))
        status = "interrupted"
        try:
            await asyncio.gather(*(runner.task(s.id) for s in plan.shots))
            if result.ok and make_film:
                emit(ShotEvent(None, "joining", 0, message=f"joining {len(plan.film_shots)} shots"))
                clips = [runner.results[s.id].file for s in plan.film_shots]
                result.film = await asyncio.to_thread(join_film, clips, [s.join_after for s in plan.film_shots],
                                                      plan.film)
                result.contact_sheet = await asyncio.to_thread(contact_sheet, clips, plan.film_shots,
                                                               plan.contact_sheet)
                emit(ShotEvent(None, "film", 100, message=str(result.film)))
            status = "completed" if result.ok else (
                "cancelled" if any(s.status == "cancelled" for s in result.shots) else "failed")
        finally:
            if record is not None:
                record.finish_storyboard_run(result.run_id, status, result.as_dict())
    if not result.ok:
        raise StoryboardFailed(result, plan)
    return result


class _Runner:
    """The per-shot tasks of one run: each awaits its source's task, then makes its own clip."""

    def __init__(self, client: AsyncSoraClient, plan: Plan, out: Path, emit: ShotCallback,
                 should_cancel: Callable[[], bool] | None) -> None:
        self.client, self.plan, self.out, self.emit, self.should_cancel = client, plan, out, emit, should_cancel
        self.results = {s.id: ShotResult(s.id) for s in plan.shots}
        self.cast = {c.name: CharacterResult(c.name) for c in plan.characters}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._character_tasks: dict[str, asyncio.Task[None]] = {}

    def task(self, shot_id: str) -> asyncio.Task[None]:
        if shot_id not in self._tasks:
            self._tasks[shot_id] = asyncio.ensure_future(self._shot(self.plan.shot(shot_id)))
        return self._tasks[shot_id]

    def character_task(self, name: str) -> asyncio.Task[None]:
        if name not in self._character_tasks:
            self._character_tasks[name] = asyncio.ensure_future(self._character(self.plan.character(name)))
        return self._character_tasks[name]

    async def _character(self, planned: PlannedCharacter) -> None:
        """Make one character (after its source shot, if it has one), or take it from the record or the plan."""
        res = self.cast[planned.name]
        if planned.source == "id":
            res.status, res.character_id, res.cost_usd = "done", planned.ref, 0.0
            return
        try:
            video = planned.video
            if planned.source == "shot":
                await self.task(planned.ref)
                source = self.results[planned.ref]
                if source.status != "done" or source.file is None:
                    raise _CharacterFailed(f'its source shot "{planned.ref}" {source.status}')
                video = await asyncio.to_thread(load_character_video, source.file)
            made = await self.client.create_character(planned.name, video)  # type: ignore[arg-type]
            res.status, res.character_id, res.reused = "done", made.id, made.reused
            res.cost_usd = 0.0 if made.reused else planned.cost_usd
            log.info('character "%s": %s %s', planned.name, "reused" if made.reused else "made", made.id)
        except (_CharacterFailed, Sora2Error, VideoError, OSError) as exc:
            res.status, res.error = "failed", str(exc)
            log.warning('character "%s" could not be made: %s', planned.name, exc)

    async def _shot(self, shot: PlannedShot) -> None:
        res = self.results[shot.id]
        if shot.characters:
            await asyncio.gather(*(self.character_task(name) for name in shot.characters))
            failed = [self.cast[n] for n in shot.characters if self.cast[n].status != "done"]
            if failed:
                res.status = "failed"
                res.error = "; ".join(f'its character "{c.name}" could not be made: {c.error}' for c in failed)
                self.emit(ShotEvent(shot.id, "failed", message=res.error))
                return
        if shot.source is not None:
            self.emit(ShotEvent(shot.id, "waiting", message=f"waiting for {shot.source}"))
            await self.task(shot.source)
            source = self.results[shot.source]
            if source.status != "done":
                res.status = "skipped" if source.status != "cancelled" else "cancelled"
                res.error = f'its source shot "{shot.source}" {source.status}'
                self.emit(ShotEvent(shot.id, res.status, message=res.error))
                return
        try:
            await self._make(shot, res)
            res.status = "done"
            self.emit(ShotEvent(shot.id, "reused" if res.reused else "done", 100, res.video_id, res.cost_usd,
                                str(res.file)))
        except CancelledError as exc:
            res.status, res.error, res.video_id = "cancelled", "cancelled", exc.video_id or res.video_id
            self.emit(ShotEvent(shot.id, "cancelled", 0, res.video_id, message=str(exc)))
        except (Sora2Error, VideoError, OSError) as exc:
            res.status, res.error = "failed", str(exc)
            self.emit(ShotEvent(shot.id, "failed", 0, res.video_id, message=str(exc)))

    async def _make(self, shot: PlannedShot, res: ShotResult) -> None:
        record = self.client.record
        async with self.client.exclusive(shot.key):
            row = record.find_by_key(shot.key) if record is not None else None
            if row is not None and row.status == "completed" and row.video_file and Path(row.video_file).is_file():
                res.video_id, res.file, res.cost_usd, res.reused = row.id, Path(row.video_file), 0.0, True
                return
            if row is not None and row.status in (*RUNNING, "completed"):
                res.video_id = row.id
                try:
                    await self._finish(shot, res, row.id, running=row.status != "completed")
                    res.cost_usd, res.reused = 0.0, True
                    return
                except (JobFailedError, ExpiredError, NotFoundError):
                    res.video_id = None  # that job is unusable: make a new one
            self._check_cancel()
            self.emit(ShotEvent(shot.id, "starting", 0, cost_usd=shot.cost_usd))
            async with self.client.job_slot():  # the client's slots, shared with its other jobs; downloads hold none
                video = await self._start(shot)
                res.video_id = video.id
                res.cost_usd = shot.cost_usd
                await self._wait(shot, video.id)
            await self._download(shot, res, video.id)

    async def _finish(self, shot: PlannedShot, res: ShotResult, video_id: str, *, running: bool) -> None:
        """Collect a job an earlier run (or another front end) started: wait if still running, then download."""
        if running:
            async with self.client.job_slot():
                await self._wait(shot, video_id)
        await self._download(shot, res, video_id)

    async def _start(self, shot: PlannedShot) -> Video:
        client = self.client
        if shot.kind == "remix":
            return await client.remix(self._source_id(shot), shot.prompt, key=shot.key)
        if shot.kind == "extend":
            return await client.extend(self._source_id(shot), shot.prompt, shot.added_seconds or 0, key=shot.key)
        image = shot.image
        if shot.kind == "continue":
            image = await asyncio.to_thread(_first_frame_from, self.results[shot.source].file, shot.size)  # type: ignore[arg-type,index]
        req = client.build_request(shot.prompt, model=shot.model, size=shot.size, seconds=shot.seconds,
                                   input_reference=image,
                                   characters=[self.cast[n].character_id for n in shot.characters])
        return await client.create_from_request(req, key=shot.key)

    def _source_id(self, shot: PlannedShot) -> str:
        return self.results[shot.source].video_id  # type: ignore[index,return-value]

    async def _wait(self, shot: PlannedShot, video_id: str) -> None:
        def progress(ev: ProgressEvent) -> None:
            value = 0 if ev.phase == "queued" else int(0.9 * ev.progress)
            self.emit(ShotEvent(shot.id, ev.phase, value, video_id, shot.cost_usd, ev.text))

        await self.client.wait(video_id, on_progress=progress, should_cancel=self.should_cancel)

    async def _download(self, shot: PlannedShot, res: ShotResult, video_id: str) -> None:
        def progress(ev: ProgressEvent) -> None:
            done = 10 * ev.bytes_done / ev.bytes_total if ev.bytes_done and ev.bytes_total else 0
            self.emit(ShotEvent(shot.id, "downloading", 90 + int(done), video_id, shot.cost_usd, ev.text))

        res.video_id = video_id
        res.file = await self.client.download_content(video_id, self.out / f"{shot.id}-{video_id}.mp4",
                                                      on_progress=progress)

    def _check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise CancelledError(None)


class _CharacterFailed(Exception):
    """A character's source shot did not finish, so there is no clip to make it from."""


def _first_frame_from(clip: Path, size: str) -> ImageInput:
    """The last frame of ``clip`` as a reference image fitted to ``size`` (the next shot's first frame).

    The decoded frame is fitted as a picture and encoded once, not encoded, decoded again and re-encoded."""
    return fit_pil_image(Image.fromarray(last_frame(clip)), size).image
