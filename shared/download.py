"""Streaming a response body to disk without holding it in memory, and never leaving a half file behind.

Bytes go to a temporary file next to the destination and are renamed into place only when the received length
matches ``Content-Length``; a broken or short transfer raises :class:`IncompleteDownload`, which the client retries.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx



class IncompleteDownload(Exception):
    def __init__(self, received: int, expected: int | None) -> None:
        self.received, self.expected = received, expected
        super().__init__(f"received {received} of {expected if expected is not None else '?'} bytes")


async def stream_to_file(
    response: httpx.Response,
    dest: Path,
    on_bytes: Callable[[int, int | None], None] | None = None,
) -> int:
    """Write ``response``'s body to ``dest`` atomically; return the byte count."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected_header = response.headers.get("content-length")
    expected = int(expected_header) if expected_header and expected_header.isdigit() else None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    received = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                async for chunk in response.aiter_bytes():
                    fh.write(chunk)
                    received += len(chunk)
                    if on_bytes is not None:
                        on_bytes(response.num_bytes_downloaded or received, expected)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
                raise IncompleteDownload(received, expected) from exc
        # Content-Length counts bytes on the wire, before any content decoding (a pre-loaded body counts 0 there).
        wire = response.num_bytes_downloaded or received
        if expected is not None and wire != expected:
            raise IncompleteDownload(wire, expected)
        os.replace(tmp_name, dest)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return received
