"""Pydantic models of the Videos API contract, and the local validation of a request before it costs money.

Responses are parsed leniently (unknown fields kept, missing nullable fields default to None, status values a relay
invents are kept as strings) because resellers add fields and rename things. Requests are checked strictly against
the provider's table, because a refused request at the service is a wasted round trip and sometimes a wasted job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import InvalidInputError
from .providers import Provider

MAX_PROMPT_CHARS = 32000
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
TERMINAL_STATUSES = ("completed", "failed")
Variant = Literal["video", "thumbnail", "spritesheet"]
VARIANTS: tuple[str, ...] = ("video", "thumbnail", "spritesheet")
VARIANT_SUFFIX = {"video": ".mp4", "thumbnail": ".webp", "spritesheet": ".jpg"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class VideoError(_Lenient):
    code: str | None = None
    message: str | None = None


class Video(_Lenient):
    """The service's Video object. ``seconds`` is a string on the wire; ints from relays are coerced."""

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

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @field_validator("progress", mode="before")
    @classmethod
    def _progress_int(cls, v: Any) -> Any:
        if v is None:
            return 0
        return int(float(v))

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def width_height(self) -> tuple[int, int] | None:
        return parse_size(self.size) if self.size else None


class VideoList(_Lenient):
    object: str = "list"
    data: list[Video] = Field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class DeletedVideo(_Lenient):
    id: str
    object: str = "video.deleted"
    deleted: bool = True


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

    def form_fields(self) -> dict[str, str]:
        return {"prompt": self.prompt, "model": self.model, "size": self.size, "seconds": self.seconds}

    def summary(self) -> dict[str, Any]:
        """What goes into the job record and logs: the request without image bytes."""
        out: dict[str, Any] = self.form_fields()
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
) -> CreateVideoRequest:
    """Validate everything locally, with one error that names the parameter and the allowed values."""
    model = validate_model(model or provider.default_model)
    prompt = validate_prompt(prompt)
    size = validate_size(provider, model, size or "720x1280")
    seconds = validate_seconds(provider, model, "4" if seconds is None else seconds)
    if input_reference is not None:
        validate_image(input_reference, size)
    return CreateVideoRequest(prompt=prompt, model=model, size=size, seconds=seconds, input_reference=input_reference)


def validate_video_id(video_id: Any) -> str:
    if not isinstance(video_id, str) or not video_id.strip():
        raise InvalidInputError("A video id is required (e.g. video_68f1...).", param="video_id")
    vid = video_id.strip()
    if any(c in vid for c in "/?#\\ ") or len(vid) > 200:
        raise InvalidInputError(f"{video_id!r} is not a valid video id.", param="video_id")
    return vid
