"""Signed, expiring URLs for the files the server saved, so an agent on another machine can fetch what it made.

A tool result over HTTP names a file on the server's disk, which a remote or sandboxed agent cannot open. Next to
that path it now gets a URL: ``{public url}/media/{kind}/{id}/{variant}/{expires}/{signature}``. The URL carries
the file's identity, never a path: ``video/{video_id}/{video|thumbnail|spritesheet}`` is looked up in the job
record, ``sequence/{sequence_id}/{film|sheet}`` in the sequences, and ``file/{name}/-`` (joined clips, files saved
under a chosen name) is a bare file name directly inside the output folder. Whatever the lookup finds must still be
a file inside the output folder, so only what the server saved can be served.

The signature is HMAC-SHA256 over the identity and the expiry time, keyed by a server secret:
``SORA2_MCP_URL_SECRET``, else a random secret generated once and kept (mode 0600) in the data folder, so URLs
survive a restart and servers sharing the secret (and the data and output folders) accept each other's URLs.
Signatures are compared in constant time. An expired or altered URL gets a 403, a file that is gone a 404; neither
answer names a path.

Over stdio there is no HTTP server, so there are no URLs: results stay as they were.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from mcp.types import ResourceLink
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ..shared.errors import ConfigurationError, InvalidInputError
from ..shared.models import VARIANT_SUFFIX, validate_video_id
from .guard import inside_output
from .settings import ENV_INLINE_MAX_BYTES, Settings

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from .state import AppState

ENV_URL_SECRET = "SORA2_MCP_URL_SECRET"
SECRET_FILE = "mcp-url-secret"
MIN_SECRET_CHARS = 16
MEDIA_SEGMENT = "media"
URI_LIST = "text/uri-list"  # RFC 2483: one URI a line, "#" lines are comments
MIME_BY_SUFFIX = {".mp4": "video/mp4", ".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".png": "image/png"}
SEQUENCE_VARIANTS = ("film", "sheet")
SEQUENCE_ID = re.compile(r"^sb_[0-9a-f]{24}$")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")

Kind = Literal["video", "sequence", "file"]
Verdict = Literal["ok", "expired", "invalid"]


@dataclass(frozen=True)
class MediaRef:
    """What a URL names: a saved file's identity (``file``: a bare name in the output folder, variant ``-``)."""

    kind: Kind
    ident: str
    variant: str = "-"

    def message(self, expires: int) -> bytes:
        """The signed text: every part of the identity and the expiry, separated so no two identities collide."""
        return f"{self.kind}\n{self.ident}\n{self.variant}\n{expires}".encode()


class Signer:
    """HMAC-SHA256 signatures with an expiry; the clock is injectable so tests drive time instead of sleeping."""

    def __init__(self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def _signature(self, ref: MediaRef, expires: int) -> str:
        digest = hmac.new(self._secret, ref.message(expires), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, ref: MediaRef) -> tuple[int, str]:
        """The expiry (Unix time) and signature of a URL for ``ref`` made now."""
        expires = int(self.clock() + self.ttl_seconds)
        return expires, self._signature(ref, expires)

    def verify(self, ref: MediaRef, expires: str, signature: str) -> Verdict:
        """``ok``, ``expired`` (a genuine URL past its time) or ``invalid`` (altered, or not made with our secret)."""
        if not expires.isdigit() or len(expires) > 12:
            return "invalid"
        if not hmac.compare_digest(self._signature(ref, int(expires)).encode(), signature.encode()):
            return "invalid"
        return "ok" if int(expires) > self.clock() else "expired"


def load_secret(state_dir: Path, env: Mapping[str, str] | None = None) -> bytes:
    """``SORA2_MCP_URL_SECRET``, else the secret kept in the data folder, made on first use.

    The file is written aside and then hard-linked into place, which fails if it exists: two servers starting at
    once end up with the one secret that won, never a half-written one.
    """
    env = os.environ if env is None else env
    given = (env.get(ENV_URL_SECRET) or "").strip()
    if given:
        if len(given) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"{ENV_URL_SECRET} must be at least {MIN_SECRET_CHARS} characters (e.g. the output of "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"`); unset it to let the server make one.")
        return given.encode()
    path = state_dir / SECRET_FILE
    if not path.is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        aside = state_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # another server made it first: use theirs
        finally:
            aside.unlink(missing_ok=True)
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigurationError(f"The URL secret in {path} is too short: delete the file (a new one is made) or "
                                 f"set {ENV_URL_SECRET}.")
    return secret.encode()


def bound_url(host: str, port: int, path: str) -> str | None:
    """The MCP endpoint's URL from the address it is bound to; None for a wildcard address (no usable name)."""
    if host in WILDCARD_HOSTS:
        return None
    try:
        shown = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        shown = host
    return f"http://{shown}:{port}/{path.strip('/')}".rstrip("/")


def mime_of(path: Path) -> str:
    return MIME_BY_SUFFIX.get(path.suffix.lower(), "application/octet-stream")


class MediaLinks:
    """The signer, the public base URL, and the route that serves the files; one per server.

    ``state`` is the lifespan's AppState, set when the server starts: the route answers 503 before that.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time,
                 env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.env = env
        self.state: AppState | None = None
        self._signer: Signer | None = None

    @property
    def signer(self) -> Signer:
        """Made on first use, so a server on stdio never creates a secret file."""
        if self._signer is None:
            self._signer = Signer(load_secret(self.settings.state_dir, self.env), self.settings.url_ttl_seconds,
                                  self.clock)
        return self._signer

    @property
    def route_path(self) -> str:
        """Under the MCP endpoint's path, so a proxy that forwards the endpoint forwards the files too."""
        return f"/{self.settings.http_path.strip('/')}/{MEDIA_SEGMENT}".replace("//", "/")

    def base_url(self, headers: Mapping[str, str] | None) -> str | None:
        """The MCP endpoint's public URL; None over stdio (no headers), where there are no URLs.

        Configured (``--public-url``, or derived by ``sora2-mcp`` from the bound address), else the Host the client
        reached this server by (a wildcard bind has no better name).
        """
        if headers is None:
            return None
        if self.settings.public_url:
            return self.settings.public_url
        host = headers.get("host")
        return f"http://{host}/{self.settings.http_path.strip('/')}".rstrip("/") if host else None

    def url(self, ref: MediaRef, headers: Mapping[str, str] | None) -> tuple[str, int] | None:
        """A signed URL for ``ref`` and its expiry, or None over stdio."""
        base = self.base_url(headers)
        if base is None:
            return None
        expires, signature = self.signer.sign(ref)
        ident = quote(ref.ident, safe="")
        return f"{base}/{MEDIA_SEGMENT}/{ref.kind}/{ident}/{ref.variant}/{expires}/{signature}", expires

    def links(self, headers: Mapping[str, str] | None, files: list[tuple[MediaRef, str | Path | None]]
              ) -> list[ResourceLink]:
        """A ResourceLink with a signed URL for each saved file; none over stdio or for a file not saved."""
        if self.base_url(headers) is None:
            return []
        links = []
        for ref, saved in files:
            if saved is None or not Path(saved).is_file():
                continue
            made = self.url(ref, headers)
            assert made is not None  # there is a base URL
            uri, expires = made
            path = Path(saved)
            until = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            links.append(ResourceLink(
                type="resource_link", name=_file_name(ref, path), uri=uri, mime_type=mime_of(path),
                size=path.stat().st_size, title="Download URL",
                description=f"The file over HTTP (GET, Range supported); valid until {until}."))
        return links

    def inline(self, ref: MediaRef, path: Path, headers: Mapping[str, str] | None) -> bytes | str:
        """A resource read's content: the bytes up to the inline cap, else a text/uri-list naming where to fetch it.

        Over HTTP that is the signed URL; over stdio the client runs on this machine, so a file: URI.
        """
        size = path.stat().st_size
        if size <= self.settings.inline_max_bytes:
            return path.read_bytes()
        made = self.url(ref, headers)
        limit = f"{self.settings.inline_max_bytes} bytes ({ENV_INLINE_MAX_BYTES})"
        if made is None:
            return f"# {size} bytes, more than the inline limit of {limit}; the file on this machine:\n{path.as_uri()}\n"
        uri, expires = made
        until = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return f"# {size} bytes, more than the inline limit of {limit}; fetch it before {until}:\n{uri}\n"

    # ------------------------------------------------------------------ serving
    def resolve(self, ref: MediaRef) -> Path | None:
        """The saved file ``ref`` names, looked up (never taken from the URL), if it is still in the output folder."""
        state = self.state
        if state is None or state.jobs is None:
            return None
        settings = state.settings
        if ref.kind == "video":
            if ref.variant not in VARIANT_SUFFIX:
                return None
            try:
                vid = validate_video_id(ref.ident)
            except InvalidInputError:
                return None
            return state.jobs.local_file(vid, ref.variant)
        if ref.kind == "sequence":
            if ref.variant not in SEQUENCE_VARIANTS or not SEQUENCE_ID.match(ref.ident) or state.sequences is None:
                return None
            view = state.sequences.view(ref.ident)
            if view is None:
                return None
            return inside_output(settings, view.film_path if ref.variant == "film" else view.contact_sheet_path)
        if ref.kind == "file" and ref.variant == "-" and not ref.ident.startswith("."):
            found = inside_output(settings, settings.output_dir / ref.ident)
            return found if found is not None and found.parent == settings.output_dir else None  # no subfolders
        return None

    async def serve(self, request: Request) -> Response:
        """GET/HEAD of a signed URL: the file streamed (Range honoured), or a short refusal naming no path."""
        p = request.path_params
        kind = p["kind"]
        if kind not in ("video", "sequence", "file"):
            return _refuse(404, "Not found.")
        ref = MediaRef(kind, p["ident"], p["variant"])  # type: ignore[arg-type]  # the kind was checked
        verdict = self.signer.verify(ref, p["expires"], p["signature"])
        if verdict == "invalid":
            return _refuse(403, "This link is not valid.")
        if verdict == "expired":
            return _refuse(403, "This link has expired: ask the MCP server for the file again for a fresh link.")
        if self.state is None:
            return _refuse(503, "The server is starting; try again in a moment.")
        path = self.resolve(ref)
        if path is None:
            return _refuse(404, "The file is no longer on the server.")
        left = max(0, int(p["expires"]) - int(self.clock()))
        return FileResponse(
            path, media_type=mime_of(path), filename=_file_name(ref, path), content_disposition_type="inline",
            headers={"Cache-Control": f"private, max-age={left}", "X-Content-Type-Options": "nosniff"},
        )

    def install(self, mcp: MCPServer[Any]) -> None:
        """Register the route on the server's HTTP app and label the over-the-cap resource text as a URI list."""
        mcp.custom_route(f"{self.route_path}/{{kind}}/{{ident}}/{{variant}}/{{expires}}/{{signature}}",
                         methods=["GET", "HEAD"], name="media", include_in_schema=False)(self.serve)
        mcp.middleware.append(_uri_list_mime)


async def _uri_list_mime(ctx: Any, call_next: Any) -> Any:
    """Resource templates declare one MIME type (the media's); the text given instead of an over-the-cap blob is
    a URI list, and says so on the wire. (Middleware sees the result in its wire form: a dict, camelCase keys.)"""
    result = await call_next(ctx)
    if getattr(ctx, "method", None) == "resources/read" and isinstance(result, dict):
        for item in result.get("contents") or ():
            if isinstance(item, dict) and item.get("mimeType") in MIME_BY_SUFFIX.values() \
                    and str(item.get("text", "")).startswith("# "):
                item["mimeType"] = URI_LIST
    return result


def _file_name(ref: MediaRef, path: Path) -> str:
    return ref.ident if ref.kind == "file" else f"{ref.ident}-{ref.variant}{path.suffix}"


def _refuse(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})
