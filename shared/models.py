"""Pydantic models of the Videos API contract, and the local validation of a request before it costs money.

Responses are parsed leniently (unknown fields kept, missing nullable fields default to None, status values a relay
invents are kept as strings) because resellers add fields and rename things. Requests are checked strictly against
the provider's table, because a refused request at the service is a wasted round trip and sometimes a wasted job.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from .errors import InvalidInputError
from .providers import Provider

MAX_PROMPT_CHARS = 32000
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
TERMINAL_STATUSES = ("completed", "failed")
KNOWN_STATUSES = ("queued", "in_progress", *TERMINAL_STATUSES)
Variant = Literal["video", "thumbnail", "spritesheet"]
VARIANTS: tuple[str, ...] = ("video", "thumbnail", "spritesheet")
VARIANT_SUFFIX = {"video": ".mp4", "thumbnail": ".webp", "spritesheet": ".jpg"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# A timestamp outside this range is not a time the service meant (and would not fit an SQLite integer).
_MAX_TIMESTAMP = 2**53
# What a status becomes when the answer carries one we cannot read (null, a number, a list...).
UNKNOWN_STATUS = "unknown"


VIDEO_ID_MAX = 200
# The shape of every id the services document (``video_`` + hex, a reseller's ``task_...``): nothing that a URL
# path, a query, an escape or a terminal could read as anything but the id.
VIDEO_ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{VIDEO_ID_MAX}}}$"
_VIDEO_ID = re.compile(VIDEO_ID_PATTERN)


def usable_id(value: Any) -> str | None:
    """The id itself (blanks around it removed) if it can name a job in a URL path and in the record; else None."""
    if not isinstance(value, str):
        return None
    vid = value.strip()
    return vid if _VIDEO_ID.fullmatch(vid) else None


def _text(v: Any) -> str | None:
    """A string as text that can be stored and printed (lone surrogates, which JSON allows, become "?")."""
    if not isinstance(v, str):
        return None
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return v.encode("utf-8", "replace").decode("utf-8")
    return v


def _number(v: Any) -> float | None:
    """A finite number from an int, a float or a numeric string; None for anything else (bools included)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        n = float(v.strip() if isinstance(v, str) else v)
    except (ValueError, OverflowError):
        return None
    return n if math.isfinite(n) else None


def _timestamp(v: Any) -> int | None:
    n = _number(v)
    return int(n) if n is not None and 0 <= n < _MAX_TIMESTAMP else None


def _progress(v: Any) -> int:
    n = _number(v)
    return int(min(100.0, max(0.0, n))) if n is not None else 0


def _seconds(v: Any) -> str | None:
    if isinstance(v, str):
        return _text(v)
    n = _number(v)
    return (str(int(n)) if n.is_integer() else str(n)) if n is not None else None


def _error(v: Any) -> dict[str, Any] | None:
    if isinstance(v, dict):
        return {k: _text(str(v[k])) if v.get(k) is not None and not isinstance(v[k], (dict, list)) else None
                for k in ("code", "message")}
    return {"code": None, "message": _text(v)} if isinstance(v, str) else None


def status_of(answer: dict[str, Any], words: dict[str, str] | None = None) -> str:
    """The status of an answer: "queued" if absent, "unknown" if unreadable; otherwise its word, mapped to the
    contract's through ``words`` (a provider's ``status_words``, case-insensitive) when given. Unknown words stay."""
    if "status" not in answer:
        return "queued"
    word = _text(answer["status"])
    if not word:
        return UNKNOWN_STATUS
    return words.get(word.strip().lower(), word) if words else word


STATUS_WORDS = "status_words"
"""The validation-context key for a provider's status words: ``Video.model_validate(data, context=...)``."""


# How each declared field of a Video is read from an answer: a value of the wrong type becomes the default.
_READERS: dict[str, Any] = {
    "object": _text, "model": _text, "prompt": _text, "size": _text, "seconds": _seconds,
    "remixed_from_video_id": _text, "progress": _progress, "created_at": _timestamp,
    "completed_at": _timestamp, "expires_at": _timestamp, "error": _error,
}


class VideoError(_Lenient):
    code: str | None = None
    message: str | None = None


class Video(_Lenient):
    """The service's Video object, read so that any answer with a usable id parses.

    A job we paid for must reach the record whatever its answer looks like, so every declared field of the wrong
    type becomes its default (None, 0 or ``"unknown"`` for the status) instead of failing the whole answer;
    status words we do not know stay as they are. The answer as received stays available as :attr:`raw`.
    Only an answer without a usable ``id`` is refused (a ``ValidationError``; see :func:`usable_id`).
    """

    id: str
    object: str = "video"
    model: str | None = None
    status: str = "queued"
    progress: int = 0
    created_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    size: str | None = None
    seconds: str | None = None
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    _raw: Any = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _read_leniently(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or usable_id(data.get("id")) is None:
            return handler(data)  # refused: nothing can be recorded without an id
        # Extra keys are kept as text that can be stored (a lone surrogate in a key would fail the whole answer).
        clean = {_text(k) or k: v for k, v in data.items() if k not in _READERS}
        clean.update({k: read(data[k]) for k, read in _READERS.items() if k in data})
        clean = {k: v for k, v in clean.items() if v is not None or k not in _READERS}
        clean["id"] = usable_id(data["id"])
        clean["status"] = status_of(data, (info.context or {}).get(STATUS_WORDS))
        video = handler(clean)
        video._raw = data
        return video

    @property
    def raw(self) -> Any:
        """The answer this Video was read from, unchanged (None when built in code)."""
        return self._raw

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def width_height(self) -> tuple[int, int] | None:
        """The size as numbers, or None when the answer's size is missing or unreadable."""
        try:
            return parse_size(self.size) if self.size else None
        except InvalidInputError:
            return None


class VideoList(_Lenient):
    """A page of the account's videos. Entries without a usable id are left out (they cannot be named)."""

    object: str = "list"
    data: list[Video] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False

    @model_validator(mode="before")
    @classmethod
    def _read_leniently(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {}
        items = data.get("data")
        clean = dict(data)
        clean["data"] = [
            v for v in (items if isinstance(items, list) else [])
            if isinstance(v, dict) and usable_id(v.get("id")) is not None
        ]
        for key in ("first_id", "last_id"):
            clean[key] = usable_id(data.get(key))
        more = data.get("has_more")
        clean["has_more"] = more is True or (isinstance(more, str) and more.strip().lower() == "true")
        clean["object"] = _text(data.get("object")) or "list"
        return clean


class DeletedVideo(_Lenient):
    """The answer to a delete. Only a plain ``false`` says the service kept the video; anything else is a delete."""

    id: str
    object: str = "video.deleted"
    deleted: bool = True

    @model_validator(mode="before")
    @classmethod
    def _read_leniently(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {**data, "object": _text(data.get("object")) or "video.deleted", "deleted": data.get("deleted") is not False}


class ImageInput(BaseModel):
    """An image file to send as ``input_reference``: raw bytes and their MIME type."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(repr=False)
    mime_type: str
    filename: str = "reference"

    def __repr__(self) -> str:  # keep reprs short: never dump megabytes of image
        return f"ImageInput(mime_type={self.mime_type!r}, bytes={len(self.data)})"


class CreateVideoRequest(BaseModel):
    """A validated create request. Build it with :func:`build_create_request`."""

    prompt: str
    model: str
    size: str
    seconds: str
    input_reference: ImageInput | None = None
    characters: tuple[str, ...] = ()  # character ids (at most two), see shared/characters.py

    def form_fields(self) -> dict[str, str]:
        return {"prompt": self.prompt, "model": self.model, "size": self.size, "seconds": self.seconds}

    def summary(self) -> dict[str, Any]:
        """What goes into the job record and logs: the request without image bytes."""
        out: dict[str, Any] = self.form_fields()
        if self.characters:
            out["characters"] = [{"id": c} for c in self.characters]
        if self.input_reference is not None:
            out["input_reference"] = {
                "mime_type": self.input_reference.mime_type,
                "bytes": len(self.input_reference.data),
            }
        return out


def parse_size(size: str) -> tuple[int, int]:
    try:
        w, h = size.lower().split("x")
        return int(w), int(h)
    except (ValueError, AttributeError):
        raise InvalidInputError(f"Size must look like WIDTHxHEIGHT (e.g. 1280x720), got {size!r}.", param="size") from None


def validate_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInputError("The prompt is empty: describe the video you want.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"The prompt has {len(prompt)} characters; the service accepts at most {MAX_PROMPT_CHARS}. Shorten it.",
            param="prompt",
        )
    return prompt


def validate_seconds(provider: Provider, model: str, seconds: Any) -> str:
    spec = provider.model(model)
    allowed = spec.seconds if spec else provider.all_seconds
    text = str(seconds).strip() if seconds is not None else ""
    if text.endswith("s"):
        text = text[:-1]
    if text not in allowed:
        raise InvalidInputError(
            f"seconds={seconds!r} is not offered for {model} on {provider.name}; choose one of {', '.join(allowed)}.",
            param="seconds",
        )
    return text


def validate_size(provider: Provider, model: str, size: Any) -> str:
    spec = provider.model(model)
    allowed = spec.sizes if spec else provider.all_sizes
    text = str(size).strip().lower() if size is not None else ""
    if text not in allowed:
        extra = ""
        if spec and text in provider.all_sizes:
            bigger = [m for m, s in provider.models.items() if text in s.sizes]
            extra = f" ({text} needs {' or '.join(bigger)})"
        raise InvalidInputError(
            f"size={size!r} is not offered for {model} on {provider.name}{extra}; choose one of {', '.join(allowed)}.",
            param="size",
        )
    return text


def validate_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        raise InvalidInputError("The model name is empty: use e.g. sora-2.", param="model")
    return model.strip()


def validate_image(image: ImageInput, size: str) -> None:
    """The service takes JPEG, PNG or WebP at exactly ``size``; checking here spares a refused request."""
    from .media import probe_image

    if image.mime_type not in IMAGE_MIME_TYPES:
        raise InvalidInputError(
            f"input_reference must be JPEG, PNG or WebP, got {image.mime_type}.", param="input_reference"
        )
    real_mime, (w, h) = probe_image(image.data)
    if real_mime not in IMAGE_MIME_TYPES:
        raise InvalidInputError(
            f"input_reference is {real_mime or 'not an image'}; use a JPEG, PNG or WebP file.", param="input_reference"
        )
    want = parse_size(size)
    if (w, h) != want:
        raise InvalidInputError(
            f"input_reference is {w}x{h} but size is {size}: the service rejects a mismatch. "
            "Fit it first (--fit crop or --fit pad).",
            param="input_reference",
        )


def build_create_request(
    provider: Provider,
    prompt: str,
    model: str | None = None,
    size: str | None = None,
    seconds: str | int | None = None,
    input_reference: ImageInput | None = None,
    characters: Any = None,
) -> CreateVideoRequest:
    """Validate everything locally, with one error that names the parameter and the allowed values."""
    from .characters import validate_character_ids  # it reads the id pattern defined here

    model = validate_model(model or provider.default_model)
    prompt = validate_prompt(prompt)
    size = validate_size(provider, model, size or "720x1280")
    seconds = validate_seconds(provider, model, "4" if seconds is None else seconds)
    if input_reference is not None:
        validate_image(input_reference, size)
    return CreateVideoRequest(prompt=prompt, model=model, size=size, seconds=seconds, input_reference=input_reference,
                              characters=validate_character_ids(provider, characters))


def validate_video_id(video_id: Any) -> str:
    if not isinstance(video_id, str) or not video_id.strip():
        raise InvalidInputError("A video id is required (e.g. video_68f1...).", param="video_id")
    vid = usable_id(video_id)
    if vid is None:
        raise InvalidInputError(
            f"{video_id!r} is not a valid video id: ids are letters, digits, '_' and '-' only (like video_68f1...), "
            f"at most {VIDEO_ID_MAX} characters.",
            param="video_id",
        )
    return vid
