"""The plan of a storyboard: every shot validated for the provider, the starts resolved into an order, every shot
priced and given its record key. Nothing is sent while planning, so every refusal costs nothing.

Record keys are what make a storyboard resumable and shareable between front ends: a shot's key is a hash of what
decides its pixels (kind, prompt, model, size, seconds, the image bytes) and of its source shot's key, never of
its id, its position or the front end. So the CLI, the MCP server and the ComfyUI node find each other's finished
shots in the shared job record, a rerun finds the shots already paid for, and editing one shot's prompt changes
the keys of that shot and of the shots made from it, and of no other.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from ..characters import CharacterVideo, load_character_video, require_characters, validate_character_ids
from ..errors import InvalidInputError
from ..media import fit_reference, load_image_file
from ..models import ImageInput, validate_model, validate_prompt, validate_seconds, validate_size
from ..pricing import estimate_cost, format_usd, price_note
from ..providers import Provider, get_provider
from .model import CharacterEntry, Crossfade, Join, Storyboard, shot_error

KEY_VERSION = 1
"""Part of every shot key: bump it only if what a key means changes (old records then stop matching)."""


@dataclass(frozen=True)
class PlannedShot:
    """One shot as it will be sent. ``seconds`` is the length of its clip (an extension: source + added)."""

    id: str
    index: int  # position in the storyboard (film order)
    kind: str  # create | continue | remix | extend (an image start is a create with an image)
    prompt: str
    model: str
    size: str
    seconds: int
    cost_usd: float
    key: str
    source: str | None = None  # the shot this one needs first (continue, remix, extend)
    added_seconds: int | None = None  # extend only: what the extension adds (and what is paid)
    image: ImageInput | None = field(default=None, repr=False)  # image start: the fitted first frame
    image_path: str | None = None
    warnings: tuple[str, ...] = ()
    join_after: Join = "cut"
    in_film: bool = True  # False for a shot that an extension contains whole
    characters: tuple[str, ...] = ()  # names of the planned characters it names

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "prompt": self.prompt, "model": self.model, "size": self.size,
            "seconds": self.seconds, "added_seconds": self.added_seconds, "source": self.source,
            "image": self.image_path, "cost_usd": self.cost_usd, "key": self.key, "in_film": self.in_film,
            "join_after": self.join_after if isinstance(self.join_after, str) else self.join_after.model_dump(),
            "characters": list(self.characters), "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class PlannedCharacter:
    """A character the shots need, and how it comes to be: ``source`` is ``video`` (a file, read and checked
    now), ``shot`` (that shot's clip, once made) or ``id`` (made before: nothing to do)."""

    name: str
    source: str
    ref: str  # the video path, the shot id or the character id
    key: str
    cost_usd: float
    video: CharacterVideo | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "ref": self.ref, "key": self.key,
                "cost_usd": self.cost_usd}


@dataclass(frozen=True)
class Plan:
    """A checked storyboard, ready to run: shots in film order, the order they can start in, prices and keys."""

    storyboard: Storyboard
    provider: Provider
    base_url: str
    shots: tuple[PlannedShot, ...]
    order: tuple[str, ...]  # a dependency order: every shot after the shot it needs
    film: Path
    contact_sheet: Path
    characters: tuple[PlannedCharacter, ...] = ()  # the ones some shot names, each before the shots using it
    unused_characters: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The storyboard's identity: the same shots, joins and output give the same id (MCP deduplication)."""
        blob = json.dumps([[s.key, s.as_dict()["join_after"], s.in_film] for s in self.shots]
                          + [str(self.film), str(self.contact_sheet)])
        return "sb_" + hashlib.sha256(blob.encode()).hexdigest()[:24]

    @property
    def total_usd(self) -> float:
        return round(sum(s.cost_usd for s in self.shots) + sum(c.cost_usd for c in self.characters), 4)

    @property
    def film_shots(self) -> tuple[PlannedShot, ...]:
        return tuple(s for s in self.shots if s.in_film)

    @property
    def warnings(self) -> list[str]:
        """What every front end says before the first request: each shot's image notes and guessed prices."""
        notes = [(s.id, w) for s in self.shots for w in s.warnings]
        notes += [(s.id, n) for s in self.shots if (n := price_note(self.provider, s.model, s.size))]
        unused = [f'character "{name}": no shot names it, so it is not made' for name in self.unused_characters]
        return [f'shot "{shot_id}": {w}' for shot_id, w in notes] + unused

    def shot(self, shot_id: str) -> PlannedShot:
        return next(s for s in self.shots if s.id == shot_id)

    def character(self, name: str) -> PlannedCharacter:
        return next(c for c in self.characters if c.name == name)

    def dependents(self, shot_id: str) -> list[str]:
        """Every shot made, directly or not, from ``shot_id`` (what a failure of it stops)."""
        out: list[str] = []
        frontier = [shot_id]
        while frontier:
            current = frontier.pop()
            for s in self.shots:
                if s.source == current and s.id not in out:
                    out.append(s.id)
                    frontier.append(s.id)
        return out

    def check_budget(self, max_usd: float | None) -> None:
        """Refuse, before any request, a film whose estimated total is above ``max_usd`` (None: no limit)."""
        if max_usd is None:
            return
        if self.total_usd > max_usd + 1e-9:
            dearest = max(self.shots, key=lambda s: s.cost_usd)
            raise InvalidInputError(
                f"The storyboard costs about {format_usd(self.total_usd)} ({len(self.shots)} shots) but the limit "
                f"is {format_usd(max_usd)}. Raise the limit, or shorten or drop shots (the dearest is "
                f'"{dearest.id}" at {format_usd(dearest.cost_usd)}).',
                param="max_usd",
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "provider": self.provider.name, "order": list(self.order),
            "characters": [c.as_dict() for c in self.characters],
            "shots": [s.as_dict() for s in self.shots], "total_usd": self.total_usd,
            "film": str(self.film), "contact_sheet": str(self.contact_sheet), "warnings": self.warnings,
        }


def plan_storyboard(
    sb: Storyboard,
    provider: Provider | str,
    *,
    base_url: str | None = None,
    base_dir: str | Path = ".",
    film: str | Path | None = None,
    images: Mapping[str, ImageInput | bytes] | None = None,
    characters: Mapping[str, str] | None = None,
    owner: str | None = None,
) -> Plan:
    """Check every shot against ``provider`` and work out the order, the prices and the record keys.

    ``base_url`` is the client's (``client.config.base_url``): keys differ between services, so a job made on one
    is never taken for a job on another. Image paths and the output are relative to ``base_dir`` (the folder of
    the storyboard file); ``film`` overrides ``output.film``. ``images`` gives first frames by shot id that do not
    come from a file (the ComfyUI node's IMAGE input, an image an agent sent): such a shot must start from
    nothing or from an image, which it replaces. ``characters`` gives character ids by name that come from the
    front end (the MCP argument, the node's inputs): each replaces the storyboard's entry of that name, or adds
    one. ``owner`` keeps one caller's keys apart from everyone else's (an MCP server's tokens: the same storyboard
    from another token is that token's own, paid work, never a way to obtain someone else's clips); None, the
    default, shares them between every front end. Raises InvalidInputError naming the shot and the field; sends
    nothing.
    """
    images = dict(images or {})
    for shot_id in images:
        shot = next((s for s in sb.shots if s.id == shot_id), None)
        if shot is None:
            raise InvalidInputError(f"An image was given for shot {shot_id!r}, but the storyboard has no such shot.",
                                    param="images")
        if shot.start is not None and shot.start.kind != "image":
            raise shot_error(shot_id, f"start.{shot.start.kind}", "an image was given for this shot, but it "
                             f"starts from shot {shot.start.ref!r}; remove one of the two")
    spec = get_provider(provider) if isinstance(provider, str) else provider
    url = (base_url or spec.base_url or "").rstrip("/")
    keyspace = url if owner is None else json.dumps([url, "owner", owner])
    base = Path(base_dir).expanduser()
    entries = _character_entries(sb, spec, characters or {})
    steps = _order(sb, entries)
    order = [ref for kind, ref in steps if kind == "shot"]
    d = sb.defaults
    default_model = d.model or spec.default_model
    try:
        size = validate_size(spec, default_model, d.size)
    except InvalidInputError as exc:
        raise InvalidInputError(f'storyboard field "defaults.size": {exc}', param="defaults.size") from None
    planned: dict[str, PlannedShot] = {}
    cast: dict[str, PlannedCharacter] = {}
    extended = {s.start.ref for s in sb.shots if s.start is not None and s.start.kind == "extend"}
    for kind, ref in steps:
        if kind == "character":
            cast[ref] = _plan_character(entries[ref], spec, keyspace, base, planned)
            continue
        shot = sb.shot(ref)
        planned[ref] = _plan_shot(shot, sb.shots.index(shot), spec, keyspace, base, default_model, size, d.seconds,
                                  planned, in_film=ref not in extended, image=images.get(ref), cast=cast)
    film_path = Path(film).expanduser() if film is not None else base / sb.output.film
    # A film placed elsewhere (-o) takes its contact sheet along, named after it: never written back beside the
    # storyboard file, where it could replace a picture the user keeps there.
    named = sb.output.contact_sheet and film is None
    sheet = base / sb.output.contact_sheet if named else film_path.with_suffix(".png")
    used = {name for s in sb.shots for name in s.characters}
    return Plan(sb, spec, url, tuple(planned[s.id] for s in sb.shots), tuple(order), film_path.absolute(),
                sheet.absolute(), characters=tuple(cast.values()),
                unused_characters=tuple(name for name in entries if name not in used))


Step = tuple[str, str]  # ("shot", id) or ("character", name): shots and characters may share a name


def _order(sb: Storyboard, entries: Mapping[str, CharacterEntry]) -> list[Step]:
    """Shots and the characters they name, each after what it needs: a shot after the shot it starts from and
    its characters, a character after the shot it is made from. A cycle is refused, naming it."""
    used = {name for s in sb.shots for name in s.characters}
    graph: dict[Step, set[Step]] = {}
    for s in sb.shots:
        needs = {("shot", s.start.ref)} if s.start is not None and s.start.kind != "image" else set()
        graph[("shot", s.id)] = needs | {("character", name) for name in s.characters}
    for name in used:
        entry = entries[name]
        graph[("character", name)] = {("shot", entry.shot)} if entry.shot is not None else set()
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        path = " -> ".join(f'"{ref}"' if kind == "shot" else f'character "{ref}"' for kind, ref in reversed(cycle))
        kind, ref = next(step for step in cycle if step[0] == "shot")
        first = sb.shot(ref)
        if any(k == "character" for k, _ in cycle):
            raise shot_error(first.id, "characters", f"the shots and characters form a cycle ({path}); a character "
                             "cannot be made from a shot that needs it")
        raise shot_error(first.id, f"start.{first.start.kind}",  # type: ignore[union-attr]
                         f"the starts form a cycle ({path}); one of these shots must start from nothing or an image")


def _character_entries(sb: Storyboard, spec: Provider, given: Mapping[str, str]) -> dict[str, CharacterEntry]:
    """Every character by name, with the front end's ids in place; each name a shot uses must have a source."""
    entries = {c.name: c for c in sb.characters}
    for name, cid in given.items():
        try:
            clean = validate_character_ids(spec, [cid])[0]
        except InvalidInputError as exc:
            raise InvalidInputError(f'character "{name}": {exc}', param="characters") from None
        entries[name] = CharacterEntry(name=name, id=clean)
    used = [name for s in sb.shots for name in s.characters]
    if used:
        try:
            require_characters(spec)
        except InvalidInputError as exc:
            raise InvalidInputError(f'storyboard field "characters": {exc}', param="characters") from None
    for shot in sb.shots:
        for name in shot.characters:
            if name not in entries:
                close = difflib.get_close_matches(name, list(entries), n=1)
                hint = (f"did you mean {close[0]!r}?" if close else
                        "declare it under characters (with a video, a shot or an id), or pass its id from the front "
                        "end (the MCP characters argument, a ComfyUI character input)"
                        + (f"; the characters are {', '.join(entries)}" if entries else ""))
                raise shot_error(shot.id, "characters", f"no character {name!r}; {hint}")
            if entries[name].source is None:
                raise InvalidInputError(
                    f'storyboard field "characters.{name}": give video, shot or id (or pass the character from the '
                    "front end: the MCP characters argument, the ComfyUI node's character inputs)",
                    param=f"characters.{name}",
                )
    return entries


def _plan_character(entry: CharacterEntry, spec: Provider, keyspace: str, base: Path,
                    planned: dict[str, PlannedShot]) -> PlannedCharacter:
    """How one character comes to be, its key (what decides it: name and video, or name and source shot) and
    its price; a video file is read and checked now, before anything is sent."""
    name = entry.name
    if entry.id is not None:
        key = _key(spec, keyspace, "character", None, name, "id", entry.id)
        return PlannedCharacter(name, "id", entry.id, key, 0.0)
    price = spec.character_price_usd
    if entry.shot is not None:
        source = planned[entry.shot]
        return PlannedCharacter(name, "shot", entry.shot, _key(spec, keyspace, "character", source.key, name, "shot"),
                                price)
    path = base / str(entry.video)
    try:
        video = load_character_video(path)
    except InvalidInputError as exc:
        raise InvalidInputError(f'storyboard field "characters.{name}.video": {exc}',
                                param=f"characters.{name}.video") from None
    key = _key(spec, keyspace, "character", None, name, "video", video.sha256)
    return PlannedCharacter(name, "video", str(path), key, price, video)


def _plan_shot(
    shot: Any, index: int, spec: Provider, keyspace: str, base: Path, default_model: str, size: str,
    default_seconds: int,
    planned: dict[str, PlannedShot], *, in_film: bool, image: ImageInput | bytes | None = None,
    cast: Mapping[str, PlannedCharacter],
) -> PlannedShot:
    kind = "create" if shot.start is None or shot.start.kind == "image" else shot.start.kind
    source = planned[shot.start.ref] if kind != "create" else None
    # What the characters add to the key: only when there are some, so the keys of other shots stay as they were.
    cast_keys: tuple[Any, ...] = (["characters", [cast[n].key for n in shot.characters]],) if shot.characters else ()

    def check(field_name: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidInputError as exc:
            raise shot_error(shot.id, field_name, str(exc)) from None

    check("prompt", validate_prompt, shot.prompt)
    common = dict(id=shot.id, index=index, prompt=shot.prompt, join_after=shot.join_after, in_film=in_film,
                  characters=tuple(shot.characters))
    if kind == "remix":
        for name in ("seconds", "model"):
            if getattr(shot, name) is not None:
                raise shot_error(shot.id, name, f"a remix keeps the {name} of its source shot "
                                 f'"{source.id}"; remove {name} from this shot')  # type: ignore[union-attr]
        assert source is not None
        return PlannedShot(kind=kind, model=source.model, size=source.size, seconds=source.seconds,
                           cost_usd=estimate_cost(spec, source.model, source.size, source.seconds),
                           key=_key(spec, keyspace, "remix", source.key, shot.prompt), source=source.id, **common)
    if kind == "extend":
        assert source is not None
        if shot.model is not None:
            raise shot_error(shot.id, "model", f'an extension keeps the model of its source shot "{source.id}"; '
                             "remove model from this shot")
        added = int(check("seconds", validate_seconds, spec, source.model,
                          shot.seconds if shot.seconds is not None else default_seconds))
        return PlannedShot(kind=kind, model=source.model, size=source.size, seconds=source.seconds + added,
                           added_seconds=added, cost_usd=estimate_cost(spec, source.model, source.size, added),
                           key=_key(spec, keyspace, "extend", source.key, shot.prompt, added), source=source.id,
                           **common)
    model = check("model", validate_model, shot.model or default_model)
    check("model", validate_size, spec, model, size)
    seconds = int(check("seconds", validate_seconds, spec, model,
                        shot.seconds if shot.seconds is not None else default_seconds))
    cost = estimate_cost(spec, model, size, seconds)
    if kind == "continue":
        assert source is not None
        key = _key(spec, keyspace, "continue", source.key, shot.prompt, model, size, seconds, *cast_keys)
        return PlannedShot(kind=kind, model=model, size=size, seconds=seconds, cost_usd=cost, key=key,
                           source=source.id, **common)
    image_path, warnings = None, ()
    if image is None and shot.start is not None:  # an image file
        image_path = str(base / shot.start.ref)
        image = check("start.image", load_image_file, image_path)
    if image is not None:
        fitted = check("start.image", fit_reference, image, size)
        image, warnings = fitted.image, tuple(fitted.warnings)
    image_sha = hashlib.sha256(image.data).hexdigest() if image is not None else None
    key = _key(spec, keyspace, "create", None, shot.prompt, model, size, seconds, image_sha, *cast_keys)
    return PlannedShot(kind=kind, model=model, size=size, seconds=seconds, cost_usd=cost, key=key, image=image,
                       image_path=image_path, warnings=warnings, **common)


def _key(spec: Provider, keyspace: str, kind: str, source_key: str | None, *parts: Any) -> str:
    """``keyspace``: the service's base URL (and the owner's name, when keys are not shared)."""
    blob = json.dumps(["storyboard-shot", KEY_VERSION, spec.name, keyspace, kind, source_key, *parts])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def describe_join(join: Join) -> str:
    return f"crossfade {join.crossfade_ms} ms" if isinstance(join, Crossfade) else "cut"

