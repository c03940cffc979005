"""What is done and what is left of a storyboard, read from the job record alone (no network, nothing paid).

A shot is ``done`` when the record holds a completed job with its key and the clip is on disk, ``downloadable``
when the job completed but its file is gone (the next run downloads it, if the service still has it), ``running``
while its job is queued or rendering, ``failed`` when its last job failed, and ``missing`` otherwise. Editing a
shot changes its key and its dependents' keys, so they show as missing until they are made again. A character is
``given``, ``reused`` or ``to make``.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..record import JobRecord
from .plan import Plan


@dataclass(frozen=True)
class ShotStatus:
    id: str
    state: str  # done | downloadable | running | failed | missing
    video_id: str | None
    file: str | None
    cost_usd: float  # the estimate of this shot (what a run still pays if it is not done)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def storyboard_status(plan: Plan, record: JobRecord | None) -> list[ShotStatus]:
    """Each shot's state in film order, from ``record`` (None: every shot is missing)."""
    out = []
    for shot in plan.shots:
        row = record.find_by_key(shot.key) if record is not None else None
        if row is None:
            out.append(ShotStatus(shot.id, "missing", None, None, shot.cost_usd))
            continue
        if row.status == "completed":
            on_disk = bool(row.video_file) and Path(row.video_file).is_file()  # type: ignore[arg-type]
            state = "done" if on_disk else "downloadable"
        elif row.status in ("queued", "in_progress"):
            state = "running"
        elif row.status == "failed":
            state = "failed"
        else:
            state = "missing"
        out.append(ShotStatus(shot.id, state, row.id, row.video_file, shot.cost_usd,
                              row.error_message if state == "failed" else None))
    return out


@dataclass(frozen=True)
class CharacterState:
    """What a storyboard run would do for one character, read from the record: ``given`` (an id in the
    storyboard or from the front end), ``reused`` (made before from the same video and name on this service) or
    ``to make``."""

    state: str
    character_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "character_id": self.character_id}


def character_states(plan: Plan, record: JobRecord) -> dict[str, CharacterState]:
    """Each planned character's state before a run, from the record alone (the run's client decides the same way:
    the same name and video bytes on the same service are answered from the record). A character made from a
    shot's clip can only be found once that clip is on disk; until then it is to make."""
    shots = {s.id: s for s in storyboard_status(plan, record)} if plan.characters else {}
    states: dict[str, CharacterState] = {}
    for c in plan.characters:
        if c.source == "id":
            states[c.name] = CharacterState("given", c.ref)
            continue
        digest = c.video.sha256 if c.video is not None else None
        clip = shots[c.ref] if c.source == "shot" else None
        if clip is not None and clip.state == "done" and clip.file:
            with contextlib.suppress(OSError):  # gone since the status was read: it is made again, like the clip
                digest = hashlib.sha256(Path(clip.file).read_bytes()).hexdigest()
        row = record.find_character(plan.provider.name, plan.base_url, c.name, digest) if digest else None
        states[c.name] = CharacterState("reused", row.id) if row else CharacterState("to make")
    return states
