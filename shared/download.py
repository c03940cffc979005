"""Streaming a response body to disk without holding it in memory, and never leaving a half or wrong file behind.

Bytes go to a hidden temporary file next to the destination and are renamed into place only when the received
length matches ``Content-Length`` and the body is the media asked for (its first bytes carry the format's
signature and its Content-Type is not plainly something else: an error page, a JSON answer). A broken or short
transfer raises :class:`IncompleteDownload`, a body of the wrong kind :class:`WrongContent`; the client retries
both (a proxy hiccup often explains either). The file is created with the user's umask, like any file a program
saves, and partial files left by a process that died are removed by the next download to the same target.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .outputs import part_prefix, remove_stale_parts
from .redact import redact

# Bytes kept from the start of a body: enough for any signature, and for an excerpt once the key is removed.
HEAD_BYTES = 1024
EXCERPT_CHARS = 100
# Content types that are plainly not media, whatever the body's first bytes say.
_NOT_MEDIA = re.compile(r"^(text/|application/(.*[+/])?(json|xml|html|problem)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Media:
    """A kind of file the service sends, recognised by the first bytes of its body."""

    name: str
    mime_type: str
    signature: Callable[[bytes], bool]


MP4 = Media("an MP4 video", "video/mp4", lambda head: head[4:8] == b"ftyp")
WEBP = Media("a WebP image", "image/webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP")
JPEG = Media("a JPEG image", "image/jpeg", lambda head: head[:3] == b"\xff\xd8\xff")
# What each content variant of a video is (the contract's ``variant`` query values).
VARIANT_MEDIA = {"video": MP4, "thumbnail": WEBP, "spritesheet": JPEG}


class IncompleteDownload(Exception):
    def __init__(self, received: int, expected: int | None) -> None:
        self.received, self.expected = received, expected
        super().__init__(f"received {received} of {expected if expected is not None else '?'} bytes")


class WrongContent(Exception):
    """The body is not the media asked for: says what arrived instead (type and a short, redacted excerpt)."""

    def __init__(self, media: Media, content_type: str | None, head: bytes) -> None:
        self.content_type = content_type
        self.excerpt = excerpt(head)
        sent = content_type or "a body without a content type"
        what = f"starting {self.excerpt!r}" if self.excerpt else "empty"
        super().__init__(f"the service sent {sent} ({what}) instead of {media.name}")


def excerpt(head: bytes) -> str:
    """A short printable excerpt of a body: keys removed before it is cut, so none survives in part."""
    text = redact(head.decode("utf-8", errors="replace"))
    text = "".join(c if c.isprintable() and c != "\ufffd" else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


def _check_media(media: Media | None, content_type: str | None, head: bytes) -> None:
    if media is None:
        return
    if (content_type and _NOT_MEDIA.match(content_type)) or not media.signature(head):
        raise WrongContent(media, content_type, head)


def _create_part(dest: Path) -> tuple[int, Path]:
    """A new hidden partial file for ``dest``, created with the user's umask (mkstemp would force 0600)."""
    while True:
        part = dest.with_name(f"{part_prefix(dest)}{uuid.uuid4().hex[:12]}.part")
        try:
            return os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), part
        except FileExistsError:
            continue


async def stream_to_file(
    response: httpx.Response,
    dest: Path,
    on_bytes: Callable[[int, int | None], None] | None = None,
    *,
    media: Media | None = None,
) -> int:
    """Write ``response``'s body to ``dest`` atomically; return the byte count.

    With ``media``, a body that is not that media raises :class:`WrongContent` as soon as its first bytes show
    it, and nothing is saved.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(dest)
    expected_header = response.headers.get("content-length")
    expected = int(expected_header) if expected_header and expected_header.isdigit() else None
    content_type = response.headers.get("content-type")
    fd, part = _create_part(dest)
    received = 0
    head = b""
    checked = False
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                async for chunk in response.aiter_bytes():
                    fh.write(chunk)
                    received += len(chunk)
                    if not checked:
                        head += chunk[: HEAD_BYTES - len(head)]
                    if not checked and len(head) >= HEAD_BYTES:
                        _check_media(media, content_type, head)
                        checked = True
                    if on_bytes is not None:
                        on_bytes(response.num_bytes_downloaded or received, expected)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
                raise IncompleteDownload(received, expected) from exc
        # Content-Length counts bytes on the wire, before any content decoding (a pre-loaded body counts 0 there).
        wire = response.num_bytes_downloaded or received
        if expected is not None and wire != expected:
            raise IncompleteDownload(wire, expected)
        if not checked:
            _check_media(media, content_type, head)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return received
