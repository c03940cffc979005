"""Simulator state: its knobs, the jobs with their time-driven lifecycle, request statistics, and persistence.

A job stores only when it was created and how long its queue and render phases last; its status and progress
are computed from the clock whenever it is read. That keeps the lifecycle exact under any clock, including a
virtual one a benchmark drives (``SimulatorConfig.clock``) and the offset tests add with ``POST /_sim/clock``
to reach ``expires_at`` without waiting an hour. With a ``data_dir`` the jobs and the clock offset are saved as
JSON after every change and reloaded on start, so a restarted simulator still knows its videos. Several processes
may share one data folder (``--simulate`` in the CLI and an MCP server at once): a save merges what the others
saved meanwhile, under a file lock, so no process erases another's jobs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..models import parse_size
from ..providers import LOCAL
from .faults import FaultConfig, FaultInjector
from .progress import DEFAULT_PROFILE, PROFILES, check_profile
from .render import MediaCache, RenderSpec

QUEUE_SECONDS = 1.0
RENDER_SECONDS_PER_CLIP_SECOND = 0.5  # at 1280x720; scaled by pixel count for larger sizes
REFERENCE_PIXELS = 1280 * 720
STATE_FILE = "simulator.json"
LOCK_FILE = "simulator.lock"
DIALECTS = ("openai", "cometapi")
MODERATION_ERROR = {"code": "moderation_blocked", "message": "Your request was blocked by our moderation system."}


@dataclass
class SimulatorConfig:
    """Host-independent knobs. Read live by the app, so a test may change them while the simulator runs."""

    speed: float = 1.0  # divides the simulated render time
    instant: bool = False  # jobs are completed the moment they are created
    ttl: float = 3600.0  # seconds from completion until content expires
    max_running_jobs: int | None = LOCAL.max_concurrent_jobs  # None = no cap
    poll_after_ms: int | None = None  # sent as openai-poll-after-ms on non-terminal retrieves
    data_dir: Path | None = None  # persist jobs + clock offset here, and cache media in data_dir/media
    media_dir: Path | None = None  # overrides where rendered media is cached (tests share one across runs)
    prerender: bool = False  # encode each clip as soon as its job is created (interactive use: no wait at download)
    clock: Callable[[], float] = time.time
    faults: FaultConfig = field(default_factory=FaultConfig)  # the initial faults; each simulator arms a copy
    # How jobs report progress (shared/simulator/progress.py); a create may pick another with X-Sim-Progress.
    # Job n of this simulator gets seed progress_seed + n, so a run is reproducible.
    progress: str = DEFAULT_PROFILE
    progress_seed: int = 0
    # Whose error shapes to answer in: "openai" (the contract as documented) or "cometapi" (CometAPI's own:
    # request id in the message, 503 model_not_found, 500 invalid_request, a flat 403 balance error).
    dialect: str = "openai"

    def __post_init__(self) -> None:
        check_profile(self.progress)
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, got {self.dialect!r}")

    def phase_durations(self, size: str, seconds: int) -> tuple[float, float]:
        """(queued, in_progress) durations in simulated seconds: bigger and longer clips take longer."""
        if self.instant:
            return 0.0, 0.0
        w, h = parse_size(size)
        scale = max(1.0, w * h / REFERENCE_PIXELS)
        return QUEUE_SECONDS / self.speed, RENDER_SECONDS_PER_CLIP_SECOND * seconds * scale / self.speed


@dataclass
class Job:
    """One video job. Times are unix seconds (floats); status and progress derive from them."""

    id: str
    model: str
    prompt: str
    size: str
    seconds: int
    created: float
    queue_s: float
    render_s: float
    kind: str = "create"
    remixed_from_video_id: str | None = None
    reference_sha: str | None = None
    error: dict[str, str] | None = None  # decided at creation, revealed when the job finishes
    progress_profile: str = DEFAULT_PROFILE
    progress_seed: int = 0
    characters: list[str] = field(default_factory=list)  # names, drawn in the clip

    @property
    def finished_at(self) -> float:
        return self.created + self.queue_s + self.render_s

    def status(self, now: float) -> tuple[str, int]:
        elapsed = now - self.created
        if elapsed >= self.queue_s + self.render_s:
            return ("failed", 0) if self.error else ("completed", 100)
        return PROFILES[self.progress_profile](elapsed, self.queue_s, self.render_s, self.progress_seed)

    def is_running(self, now: float) -> bool:
        return self.status(now)[0] in ("queued", "in_progress")

    def expires(self, ttl: float) -> float:
        return self.finished_at + ttl

    def to_api(self, now: float, ttl: float) -> dict[str, Any]:
        """The Video object, with all 13 fields present."""
        status, progress = self.status(now)
        done = status in ("completed", "failed")
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status,
            "progress": progress,
            "created_at": int(self.created),
            "completed_at": int(self.finished_at) if done else None,
            "expires_at": int(self.expires(ttl)) if status == "completed" else None,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": str(self.seconds),
            "remixed_from_video_id": self.remixed_from_video_id,
            "error": dict(self.error) if (self.error and done) else None,
        }

    def render_spec(self) -> RenderSpec:
        return RenderSpec(self.prompt, self.size, self.seconds, self.model, self.kind, self.reference_sha,
                          tuple(self.characters))


@dataclass
class SimCharacter:
    """A character made with ``POST /videos/characters``; the simulator keeps its name to draw it."""

    id: str
    name: str
    created: float

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": int(self.created)}


log = logging.getLogger("sora2_bridge.simulator")


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


def new_character_id() -> str:
    return "char_" + secrets.token_hex(16)


class SimulatorState:
    """Everything one simulator instance knows; the Starlette app keeps it in ``app.state.sim``."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = FaultInjector(config.faults.model_copy())  # counters are per simulator, never shared
        self.jobs: dict[str, Job] = {}  # insertion order = creation order, which the list endpoint relies on
        self.characters: dict[str, SimCharacter] = {}
        self.requests: Counter[str] = Counter()
        self.jobs_created = 0
        self.clock_offset = 0.0
        self._deleted: set[str] = set()  # so a merge with the saved file does not bring them back
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        media_dir = config.media_dir or (config.data_dir / "media" if config.data_dir else None)
        if media_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sora2-sim-")
            media_dir = Path(self._tmp.name)
        self.media = MediaCache(media_dir)
        self._load()

    # -- clock -----------------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.config.clock() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        self.clock_offset += seconds
        self.save()

    # -- jobs ------------------------------------------------------------------------------------------------
    def add_job(
        self,
        *,
        model: str,
        prompt: str,
        size: str,
        seconds: int,
        kind: str = "create",
        remixed_from_video_id: str | None = None,
        reference: bytes | None = None,
        progress: str | None = None,
        characters: list[str] | None = None,
    ) -> Job:
        queue_s, render_s = self.config.phase_durations(size, seconds)
        job = Job(
            id=new_video_id(),
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created=self.now(),
            queue_s=queue_s,
            render_s=render_s,
            kind=kind,
            remixed_from_video_id=remixed_from_video_id,
            reference_sha=self.media.put_reference(reference) if reference is not None else None,
            error=dict(MODERATION_ERROR) if self.faults.violates_policy(prompt) else None,
            progress_profile=check_profile(progress or self.config.progress),
            progress_seed=self.config.progress_seed + self.jobs_created,
            characters=list(characters or []),
        )
        self.jobs[job.id] = job
        self.jobs_created += 1
        self.save()
        return job

    def add_character(self, name: str) -> SimCharacter:
        character = SimCharacter(new_character_id(), name, self.now())
        self.characters[character.id] = character
        self.save()
        return character

    def delete_job(self, video_id: str) -> None:
        del self.jobs[video_id]
        self._deleted.add(video_id)
        self.save()

    def running_jobs(self) -> list[Job]:
        now = self.now()
        return [j for j in self.jobs.values() if j.is_running(now)]

    def ordered(self, order: str) -> Iterator[Job]:
        jobs = self.jobs.values()
        return iter(reversed(jobs) if order == "desc" else jobs)

    # -- admin -----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget jobs, faults, statistics and the clock offset. Rendered media stays cached (content-addressed)."""
        self.jobs.clear()
        self.characters.clear()
        self._deleted.clear()
        self.faults.replace(FaultConfig())
        self.requests.clear()
        self.jobs_created = 0
        self.clock_offset = 0.0
        self.save(merge=False)

    def stats(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "jobs_created": self.jobs_created, "jobs": len(self.jobs)}

    # -- persistence -----------------------------------------------------------------------------------------
    @property
    def _state_file(self) -> Path | None:
        return self.config.data_dir / STATE_FILE if self.config.data_dir else None

    def save(self, *, merge: bool = True) -> None:
        """Write the state; with ``merge``, first take in what other processes saved: their jobs and deletions."""
        path = self._state_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.parent / LOCK_FILE):
            if merge:
                saved = _read_payload(path)
                self._deleted.update(d for d in saved.get("deleted", []) if isinstance(d, str))
                merged = {**_jobs_from(saved), **self.jobs}
                self.jobs = dict(sorted(
                    ((jid, job) for jid, job in merged.items() if jid not in self._deleted),
                    key=lambda item: item[1].created,
                ))
                self.characters = {**_characters_from(saved), **self.characters}
            payload = {
                "version": 1,
                "clock_offset": self.clock_offset,
                "jobs_created": self.jobs_created,
                "jobs": [asdict(j) for j in self.jobs.values()],
                "characters": [asdict(c) for c in self.characters.values()],
                "deleted": sorted(self._deleted),  # so a process that still holds one does not bring it back
            }
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{STATE_FILE}.", suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f, indent=1)
            os.replace(tmp, path)

    def _load(self) -> None:
        path = self._state_file
        if path is None or not path.is_file():
            return
        payload = _read_payload(path)
        self.clock_offset = float(payload.get("clock_offset", 0.0))
        self.jobs_created = int(payload.get("jobs_created", 0))
        self._deleted = {d for d in payload.get("deleted", []) if isinstance(d, str)}
        self.jobs = {jid: job for jid, job in _jobs_from(payload).items() if jid not in self._deleted}
        self.characters = _characters_from(payload)


def _read_payload(path: Path) -> dict[str, Any]:
    """The saved state; a file that cannot be read is set aside (renamed ``*.broken``) rather than blocking start."""
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        return payload
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        aside = path.with_name(path.name + ".broken")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        log.warning("simulator state %s is unreadable (%s); moved it to %s and started empty", path, exc, aside)
        return {}


def _jobs_from(payload: dict[str, Any]) -> dict[str, Job]:
    """Jobs from a saved state, ignoring fields this version does not know and entries it cannot use."""
    known = {f.name for f in fields(Job)}
    jobs: dict[str, Job] = {}
    for entry in payload.get("jobs", []):
        if not isinstance(entry, dict):
            continue
        try:
            job = Job(**{k: v for k, v in entry.items() if k in known})
        except TypeError:
            continue
        jobs[job.id] = job
    return jobs


def _characters_from(payload: dict[str, Any]) -> dict[str, SimCharacter]:
    out: dict[str, SimCharacter] = {}
    for entry in payload.get("characters", []):
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("name"), str):
            out[entry["id"]] = SimCharacter(entry["id"], entry["name"], float(entry.get("created") or 0.0))
    return out


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (POSIX ``flock``; elsewhere saves rely on the atomic rename alone)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
