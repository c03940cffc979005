"""Characters: a figure made once from a short video, then named in up to two creates so it looks the same in each.

``POST /videos/characters`` (multipart ``name`` + ``video``) answers ``{id, name, created_at}``; a create names
characters as ``characters: [{"id": ...}]``. Whether a reseller offers the endpoints is not documented, so
:attr:`Provider.characters` is a capability (on for ``openai`` and the simulator, off for ``cometapi`` and
``custom`` unless the user's config file turns it on). Everything here is checked before a request is sent:
the capability, the name, the number of characters, the ids, and that the video is one PyAV can read.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from .errors import InvalidInputError
from .models import VIDEO_ID_MAX, _text, _timestamp, usable_id
from .providers import Provider

CHARACTER_NAME_MAX = 80
MAX_CHARACTERS_PER_VIDEO = 2
VIDEO_MIME_TYPES = {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".m4v": "video/mp4"}


class Character(BaseModel):
    """A character as the service describes it. Read leniently: a field it leaves out or garbles becomes None.

    ``reused`` is ours, not the service's: True when the record already held a character made from the same video
    and name on this service, so nothing was sent.
    """

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    created_at: int | None = None
    reused: bool = False

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str | None:
        return usable_id(v)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> str | None:
        return _text(v)

    @field_validator("created_at", mode="before")
    @classmethod
    def _created(cls, v: Any) -> int | None:
        return _timestamp(v)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": self.created_at, "reused": self.reused}


@dataclass(frozen=True)
class CharacterVideo:
    """The video a character is made from, as it will be uploaded; ``sha256`` identifies it in the record."""

    data: bytes
    filename: str = "character.mp4"
    mime_type: str = "video/mp4"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def require_characters(provider: Provider) -> None:
    """Refuse, before anything is sent, characters on a provider whose table does not offer them."""
    if provider.characters:
        return
    from .config import config_file_path  # config imports the provider tables this module reads

    raise InvalidInputError(
        f"{provider.name} does not offer characters in our table (POST /videos/characters is not documented for "
        f"it), so nothing was sent. If your provider has them, add `characters = true` under "
        f"[providers.{provider.name}] in {config_file_path()}; otherwise use a provider that has them "
        "(openai, or --simulate to try).",
        param="characters",
    )


def validate_character_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("The character needs a name (1 to 80 characters), e.g. Mochi.", param="name")
    text = name.strip()
    if len(text) > CHARACTER_NAME_MAX:
        raise InvalidInputError(
            f"The character name has {len(text)} characters; the service accepts at most {CHARACTER_NAME_MAX}. "
            "Shorten it.",
            param="name",
        )
    if any(not ch.isprintable() for ch in text):
        raise InvalidInputError("The character name contains control characters or broken text (a lone surrogate); "
                                "use plain text.", param="name")
    return text


def validate_character_ids(provider: Provider, ids: Any) -> tuple[str, ...]:
    """The ids a create names, checked: the provider offers characters, at most two, each an id, no repeats."""
    if ids is None:
        return ()
    if isinstance(ids, str):
        ids = [ids]
    items = list(ids)
    if not items:
        return ()
    require_characters(provider)
    if len(items) > MAX_CHARACTERS_PER_VIDEO:
        raise InvalidInputError(
            f"{len(items)} characters were named; a video can use at most {MAX_CHARACTERS_PER_VIDEO}. Drop "
            f"{len(items) - MAX_CHARACTERS_PER_VIDEO}.",
            param="characters",
        )
    out: list[str] = []
    for item in items:
        cid = usable_id(item)
        if cid is None:
            raise InvalidInputError(
                f"{item!r} is not a character id: ids are letters, digits, '_' and '-' (like char_68f1...), at most "
                f"{VIDEO_ID_MAX} characters. Make one with `sora2 character create NAME VIDEO`.",
                param="characters",
            )
        if cid in out:
            raise InvalidInputError(f"The character {cid} is named twice; name it once.", param="characters")
        out.append(cid)
    return tuple(out)


def check_character_video(video: CharacterVideo) -> CharacterVideo:
    """Refuse a file that is not a readable video with a picture, before it is uploaded."""
    from .video import VideoError, probe

    if not video.data:
        raise InvalidInputError("The character video is empty; give an MP4 of the figure.", param="video")
    try:
        info = probe(io.BytesIO(video.data))
    except VideoError as exc:
        raise InvalidInputError(
            f"The character video {video.filename} is not a video PyAV can read ({exc}); give an MP4 of the figure.",
            param="video",
        ) from None
    if info.frames <= 0 or info.width <= 0:
        raise InvalidInputError(f"The character video {video.filename} has no frames.", param="video")
    return video


def load_character_video(source: str | Path | bytes, filename: str | None = None) -> CharacterVideo:
    """A character video from a file path or bytes, checked readable (see :func:`check_character_video`)."""
    if isinstance(source, bytes):
        name = filename or "character.mp4"
        return check_character_video(CharacterVideo(source, name, _mime(name)))
    path = Path(source).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"Character video not found: {path}", param="video")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the character video {path}: {exc.strerror}", param="video") from None
    return check_character_video(CharacterVideo(data, filename or path.name, _mime(path.name)))


def _mime(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return VIDEO_MIME_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "video/mp4"
