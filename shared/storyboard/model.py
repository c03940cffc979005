"""A storyboard as data: shots with their starts and joins, read from YAML or JSON and checked before anything runs.

The same model serves the CLI (a file), the MCP server (structured tool input) and the ComfyUI node (multiline
text), so every refusal is phrased once, here, and names the shot and the field to change:
``shot "s3", field "start.continue": no shot "s9"``. Unknown keys are refused (a typo such as ``secs`` must not
silently fall back to a default and change the price) with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..characters import MAX_CHARACTERS_PER_VIDEO, validate_character_name
from ..errors import InvalidInputError

SHOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_CROSSFADE_MS = 2000
MAX_SHOTS = 100
START_KINDS = ("image", "continue", "remix", "extend")
CHARACTER_SOURCES = ("video", "shot", "id")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Crossfade(_Strict):
    """A sound crossfade across a cut: the picture cuts, the sound of the two shots dips through the cut."""

    crossfade_ms: int = Field(gt=0, le=MAX_CROSSFADE_MS, description="length of the sound transition, in ms")


Join = Union[Literal["cut"], Crossfade]


class Start(_Strict):
    """How a shot begins: exactly one of an image file, another shot's last frame, a remix or an extension."""

    image: str | None = Field(None, description="first frame: a JPEG/PNG/WebP path (relative to the storyboard file)")
    continue_: str | None = Field(
        None, alias="continue", description="id of a shot whose last frame becomes this shot's first frame"
    )
    remix: str | None = Field(None, description="id of a shot to remix (same model, size and length)")
    extend: str | None = Field(None, description="id of a shot to continue; the clip becomes source + seconds")

    @model_validator(mode="after")
    def _exactly_one(self) -> Start:
        given = [k for k in START_KINDS if self.value(k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(START_KINDS)} (got {', '.join(given) or 'none'})")
        return self

    def value(self, kind: str) -> str | None:
        return self.continue_ if kind == "continue" else getattr(self, kind)

    @property
    def kind(self) -> str:
        return next(k for k in START_KINDS if self.value(k) is not None)

    @property
    def ref(self) -> str:
        """The image path or the source shot id."""
        return self.value(self.kind)  # type: ignore[return-value]


class CharacterEntry(_Strict):
    """A character the shots refer to by name: made from a video file or from a shot's clip, or one made before.

    A name without a source is one the front end supplies (the MCP ``characters`` argument, the ComfyUI node's
    character inputs); planning refuses it if none does.
    """

    name: str = Field(description="how shots refer to it, and the name the service gets (1 to 80 characters)")
    video: str | None = Field(None, description="make it from this video file (relative to the storyboard file)")
    shot: str | None = Field(None, description="make it from the clip of this shot of the storyboard")
    id: str | None = Field(None, description="a character made before (e.g. `sora2 character create`)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        try:
            return validate_character_name(v)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _one_source(self) -> CharacterEntry:
        given = [k for k in CHARACTER_SOURCES if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(CHARACTER_SOURCES)}, not {' and '.join(given)}")
        return self

    @property
    def source(self) -> str | None:
        return next((k for k in CHARACTER_SOURCES if getattr(self, k) is not None), None)


class Shot(_Strict):
    """One clip of the film.

    ``size`` is not a shot field: the film has one frame size (``defaults.size``), so the clips can be joined
    losslessly and a ``continue`` frame fits without cropping.
    """

    id: str = Field(pattern=SHOT_ID_PATTERN, description="unique name of the shot (letters, digits, _ . -)")
    prompt: str = Field(min_length=1, description="what happens in this shot")
    seconds: int | None = Field(None, description="clip length (extend: the seconds added); default: defaults.seconds")
    model: str | None = Field(None, description="model for this shot; default: defaults.model")
    start: Start | None = Field(None, description="how the shot begins; none = text to video")
    join_after: Join = Field("cut", description="the transition to the next shot: cut or {crossfade_ms: N}")
    characters: list[str] = Field(
        default_factory=list, max_length=MAX_CHARACTERS_PER_VIDEO,
        description="names from the storyboard's characters that appear in this shot (at most 2; not on a remix or "
                    "an extension)",
    )

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_text(cls, v: Any) -> Any:
        return v[:-1] if isinstance(v, str) and v.strip().endswith("s") else v


class Defaults(_Strict):
    provider: str | None = Field(None, description="provider used when the front end does not choose one")
    model: str | None = Field(None, description="default model (the provider's default if omitted)")
    size: str = Field("1280x720", description="frame size of every shot, WIDTHxHEIGHT")
    seconds: int = Field(4, description="default clip length")

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_text(cls, v: Any) -> Any:
        return v[:-1] if isinstance(v, str) and v.strip().endswith("s") else v


class Output(_Strict):
    film: str = Field("film.mp4", description="the joined MP4 (relative to the storyboard file)")
    contact_sheet: str | None = Field(None, description="the contact sheet PNG; default: the film's name + .png")


class Storyboard(_Strict):
    """A film: defaults, shots in film order, and where the result goes."""

    version: Literal[1] = 1
    title: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    characters: list[CharacterEntry] = Field(
        default_factory=list, description="the figures that keep their look from shot to shot, by name"
    )
    shots: list[Shot] = Field(min_length=1, max_length=MAX_SHOTS)
    output: Output = Field(default_factory=Output)

    @model_validator(mode="after")
    def _references(self) -> Storyboard:
        seen: set[str] = set()
        for shot in self.shots:
            if shot.id in seen:
                raise _ShotError(shot.id, "id", f"another shot is already called {shot.id!r}; ids must be unique")
            seen.add(shot.id)
        ids = [s.id for s in self.shots]
        for shot in self.shots:
            if shot.start is None or shot.start.kind == "image":
                continue
            ref = shot.start.ref
            if ref == shot.id:
                raise _ShotError(shot.id, f"start.{shot.start.kind}", "a shot cannot start from itself")
            if ref not in seen:
                close = difflib.get_close_matches(ref, ids, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the shots are {', '.join(ids)}"
                raise _ShotError(shot.id, f"start.{shot.start.kind}", f"no shot {ref!r}{hint}")
        self._check_characters(ids)
        return self

    def _check_characters(self, ids: list[str]) -> None:
        """Names unique, a ``shot`` source that exists, no characters where the API takes none, none named twice
        in a shot. Whether each name a shot uses is known, and has a source, is the plan's to say: a front end may
        supply characters by name."""
        declared: list[str] = []
        for entry in self.characters:
            if entry.name in declared:
                raise _FieldError("characters", f"two characters are called {entry.name!r}; names must be unique")
            declared.append(entry.name)
            if entry.shot is not None and entry.shot not in ids:
                close = difflib.get_close_matches(entry.shot, ids, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the shots are {', '.join(ids)}"
                raise _FieldError(f"characters.{entry.name}.shot", f"no shot {entry.shot!r}{hint}")
        for shot in self.shots:
            if shot.characters and shot.start is not None and shot.start.kind in ("remix", "extend"):
                what = "a remix" if shot.start.kind == "remix" else "an extension"
                raise _ShotError(shot.id, "characters", f"{what} cannot name characters (the service takes them only "
                                 "when a clip is created); remove them or start the shot otherwise")
            for name in shot.characters:
                if shot.characters.count(name) > 1:
                    raise _ShotError(shot.id, "characters", f"{name!r} is named twice; name it once")

    def character(self, name: str) -> CharacterEntry | None:
        return next((c for c in self.characters if c.name == name), None)

    def shot(self, shot_id: str) -> Shot:
        return next(s for s in self.shots if s.id == shot_id)


class _FieldError(ValueError):
    """A refusal about one storyboard field outside the shots (``characters.Mochi.shot``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class _ShotError(ValueError):
    """A refusal about one shot, raised inside validation and turned into an InvalidInputError naming it."""

    def __init__(self, shot_id: str, field: str, message: str) -> None:
        super().__init__(message)
        self.shot_id, self.field, self.message = shot_id, field, message


def shot_error(shot_id: str, field: str, message: str) -> InvalidInputError:
    """The one wording of a refusal about a shot: ``shot "s3", field "seconds": ...``."""
    return InvalidInputError(f'shot "{shot_id}", field "{field}": {message}', param=f"shots.{shot_id}.{field}")


# ---------------------------------------------------------------------------------------------- loading
def load_storyboard(source: str | Path | Mapping[str, Any]) -> Storyboard:
    """A storyboard from a YAML or JSON file path, YAML/JSON text, or an already parsed mapping (MCP tool input).

    Raises InvalidInputError naming the shot and the field for every problem the model can see without a
    provider (unknown keys, missing prompts, bad references); provider limits are checked by the plan.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        data = _parse_text(_read(source))
    if not isinstance(data, dict):
        raise InvalidInputError("A storyboard is a mapping with at least a 'shots' list.", param="storyboard")
    try:
        return Storyboard.model_validate(data)
    except ValidationError as exc:
        raise _readable(exc, data) from None


def _read(source: str | Path) -> str:
    if isinstance(source, Path) or ("\n" not in source and source.strip().lower().endswith((".yaml", ".yml", ".json"))):
        path = Path(source).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"Storyboard file not found: {path}", param="storyboard")
        return path.read_text(encoding="utf-8")
    return source


def _parse_text(text: str) -> Any:
    import yaml

    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style is a superset; let it report the position
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"The storyboard is not valid YAML or JSON: {exc}", param="storyboard") from None


def _readable(exc: ValidationError, data: dict[str, Any]) -> InvalidInputError:
    """The first validation error as one sentence naming the shot (by id) and the field (dotted path)."""
    # The deepest location is the most specific (inside a union, the member the input was meant for).
    error = max(exc.errors(), key=lambda e: len(e["loc"]))
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _ShotError):
        return shot_error(ctx_error.shot_id, ctx_error.field, ctx_error.message)
    if isinstance(ctx_error, _FieldError):
        return InvalidInputError(f'storyboard field "{ctx_error.field}": {ctx_error.message}', param=ctx_error.field)
    loc = list(error["loc"])
    message = _message(error, loc)
    if len(loc) >= 2 and loc[0] == "shots" and isinstance(loc[1], int):
        shots = data.get("shots") or []
        raw = shots[loc[1]] if loc[1] < len(shots) else None
        shot_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{loc[1] + 1}"
        field = ".".join(str(p) for p in loc[2:] if not _is_union_tag(p)) or "shot"
        return shot_error(shot_id, field, message)
    field = ".".join(str(p) for p in loc if not _is_union_tag(p)) or "storyboard"
    return InvalidInputError(f'storyboard field "{field}": {message}', param=field)


def _is_union_tag(part: Any) -> bool:
    """Pydantic names the union member in the location (``literal['cut']``, ``Crossfade``); users never wrote it."""
    return isinstance(part, str) and (part.startswith(("literal[", "function-")) or part[:1].isupper())


def _message(error: Mapping[str, Any], loc: list[Any]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else f"the known keys are {', '.join(known)}"
        return f"unknown key {key!r}; {hint}"
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "too_long":
        ctx = error.get("ctx") or {}
        return f"takes at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
    if loc and _is_union_tag(loc[-1]):
        return f"must be 'cut' or {{crossfade_ms: N}} with N from 1 to {MAX_CROSSFADE_MS}"
    return str(error["msg"]).removeprefix("Value error, ")


def _known_keys(loc: list[Any]) -> list[str]:
    """The keys the model accepts at ``loc`` (walked through lists, optionals and unions)."""
    model: type[BaseModel] | None = Storyboard
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int) or _is_union_tag(part):
            continue
        info = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _model_in(info.annotation) if info is not None else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def storyboard_json_schema() -> dict[str, Any]:
    """The JSON Schema of a storyboard (by alias: ``continue``), as published in docs/storyboard.md."""
    return Storyboard.model_json_schema(by_alias=True)
