"""What stands between an agent and the user's money and files: the spending guard, folder checks, URL checks.

Spending: every paid call reserves its estimate in the spending ledger (ledger_store.py: a SQLite file, or one
PostgreSQL database for servers on several machines) *before* anything is sent, under an asyncio lock in this
process and a transaction that serializes reservations across processes, so ten calls fired at once, or several
servers sharing the ledger, can never spend past the budget. A failed create releases its
reservation; a created job turns it into spending. A per-day budget survives restarts (desktop clients restart
their servers often); a per-lifetime budget counts what this server process spent. A call made with a token
(see callers.py) must also fit that token's per-call limit and daily budget, checked in the same transaction; each
row records the caller's name, which also says whose job a video is.

Files: outputs only inside the output folder (bare file names, no separators, no ``..``), inputs (images, and the
videos characters are made from) only inside the configured input folders after following symlinks. URLs: https
only, every address the host resolves to must be public (no loopback, private, link-local, CGNAT, multicast or
reserved range), the connection is pinned to the vetted address (no DNS-rebinding window), redirects are
re-checked, and the body is size-capped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import socket
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from ..shared.characters import CharacterVideo, load_character_video
from ..shared.errors import InvalidInputError, Sora2Error
from ..shared.media import probe_image
from ..shared.models import ImageInput
from ..shared.outputs import check_folder
from ..shared.pricing import format_usd
from .callers import Caller, current_caller
from .ledger_store import STALE_RESERVATION_SECONDS, Ledger, Limit, Scope  # noqa: F401 (re-exported)
from .settings import (
    ENV_BUDGET,
    ENV_INPUT_DIRS,
    ENV_MAX_IMAGE_MB,
    ENV_MAX_PER_CALL,
    ENV_MAX_VIDEO_MB,
    ENV_OUTPUT_DIR,
    Settings,
)

log = logging.getLogger("sora2_bridge.mcp")

URL_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# File names an agent may choose: room left for a numbered variant within the usual 255-byte limit.
MAX_FILENAME_CHARS = 120
MAX_FILENAME_BYTES = 200
# Unicode categories of characters a user cannot see or that steer how text is shown: control, format (zero-width,
# bidi overrides), surrogates, private use, unassigned, line and paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
MAX_REDIRECTS = 3


class GuardError(Sora2Error):
    """A request refused locally by the MCP server's own rules; nothing was sent and nothing was spent."""

    exit_code = 2


class BudgetExceeded(GuardError):
    pass


class PathRefused(GuardError):
    pass


class UrlRefused(GuardError):
    pass


# ---------------------------------------------------------------------------------------------- money
@dataclass(frozen=True)
class Reservation:
    id: int
    usd: float
    remaining_after: float


def start_of_local_day(now: float | None = None) -> float:
    moment = datetime.fromtimestamp(time.time() if now is None else now).astimezone()
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class SpendingGuard:
    """Per-call limit and budget in USD. ``reserve`` before a paid request; ``settle`` or ``release`` after."""

    def __init__(self, settings: Settings, ledger: Ledger, *, provider: str, base_url: str) -> None:
        self.settings = settings
        self.ledger = ledger
        self.provider = provider
        self.base_url = base_url
        self.server_id = uuid.uuid4().hex
        self._lock = asyncio.Lock()

    @property
    def simulated(self) -> bool:
        return self.provider == "local"

    def _scope(self) -> Scope:
        # Simulated spending (the local simulator is free) never eats into the real budget, nor the reverse.
        if self.settings.budget_period == "lifetime":
            return Scope(simulated=self.simulated, server_id=self.server_id)
        return Scope(simulated=self.simulated, since=start_of_local_day())

    @property
    def period_text(self) -> str:
        return "today" if self.settings.budget_period == "day" else "for this server run"

    def _caller_limit(self, caller: Caller) -> Limit:
        """A token's daily budget counts its own rows of today (real and simulated spending apart, as above)."""
        return Limit(caller.daily_usd, Scope(simulated=self.simulated, caller=caller.name, since=start_of_local_day()))

    def _limits(self, caller: Caller | None) -> list[Limit]:
        team = Limit(self.settings.budget_usd, self._scope())
        return [team] if caller is None else [team, self._caller_limit(caller)]

    def left(self) -> list[float]:
        """What is left of each budget that applies to the current caller: the team's, then its token's daily one."""
        return [limit.budget - self.ledger.spent(limit.scope) for limit in self._limits(current_caller())]

    def remaining(self) -> float:
        """What the current caller may still spend: the least of what is left of each budget that applies."""
        return min(self.left())

    def _left_text(self) -> str:
        return f"Budget left {self.period_text}: {_fmt(self.remaining())} of {_fmt(self.settings.budget_usd)}."

    def refusal(self, usd: float, what: str) -> str | None:
        """The sentence :meth:`reserve` would refuse ``usd`` with right now, or None; nothing is reserved.

        For ``estimate_cost``: an agent asking "may I?" gets the very answer (limit named, what is left) that the
        paid call would get, not a paraphrase that could drift from it.
        """
        per_call = self._per_call_refusal(usd, what)
        if per_call is not None:
            return per_call
        for failed, left in enumerate(self.left()):
            if usd > left + 1e-9:
                return self._budget_refusal(usd, what, failed, left)
        return None

    def _per_call_refusal(self, usd: float, what: str) -> str | None:
        limit = self.settings.max_usd_per_call
        caller = current_caller()
        if usd > limit + 1e-9:
            named = f"the per-call limit of {format_usd(limit)} ({ENV_MAX_PER_CALL})"
        elif caller is not None and usd > caller.per_call_usd + 1e-9:
            named = f"the per-call limit of {caller.label} ({format_usd(caller.per_call_usd)})"
        else:
            return None
        return (
            f"Refused before sending anything: {what} is estimated at {format_usd(usd)}, above {named}. "
            f"{self._left_text()} "
            "Choose a shorter clip, a smaller size or the cheaper sora-2 model, or ask the user to raise the limit."
        )

    def _budget_refusal(self, usd: float, what: str, failed: int, remaining: float) -> str:
        """Why ``usd`` does not fit the budget at index ``failed`` of :meth:`_limits` (0: the team's)."""
        if failed == 0:
            period = "daily budget (resets at local midnight)" if self.settings.budget_period == "day" else (
                "budget for this server run")
            return (
                f"Refused before sending anything: {what} is estimated at {format_usd(usd)}, but only "
                f"{_fmt(max(0.0, remaining))} is left of the {_fmt(self.settings.budget_usd)} {period} "
                f"({ENV_BUDGET}). Choose a cheaper clip or ask the user to raise the budget."
            )
        caller = current_caller()
        assert caller is not None
        spent = caller.daily_usd - remaining
        return (
            f"Refused before sending anything: {what} is estimated at {format_usd(usd)}, above what is left of the "
            f"daily budget of {caller.label} ({format_usd(caller.daily_usd)}): {format_usd(spent)} spent today, "
            f"{format_usd(max(0.0, remaining))} left (resets at local midnight). Choose a cheaper clip or ask the "
            "server's owner to raise this token's budget."
        )

    def check_per_call(self, usd: float, what: str) -> None:
        refusal = self._per_call_refusal(usd, what)
        if refusal is not None:
            raise BudgetExceeded(refusal)

    async def reserve(self, usd: float, what: str, kind: str) -> Reservation:
        """Refuse (BudgetExceeded, naming the limit hit and what is left) or hold ``usd`` until settle/release."""
        self.check_per_call(usd, what)
        caller = current_caller()
        async with self._lock:
            rid, failed, remaining = self.ledger.reserve_within(
                usd, self._limits(caller),
                {"server_id": self.server_id, "provider": self.provider, "base_url": self.base_url, "kind": kind},
            )
        if rid is None:
            raise BudgetExceeded(self._budget_refusal(usd, what, failed, remaining))
        return Reservation(rid, usd, self.remaining() if caller is not None else remaining - usd)

    def visible(self, video_id: str) -> bool:
        """Whether the current caller may see ``video_id``: everyone without a token, else only its creator."""
        caller = current_caller()
        return caller is None or self.ledger.owned_by(video_id, caller.name)

    def settle(self, reservation: Reservation, video_id: str) -> None:
        self.ledger.settle(reservation.id, video_id)

    def release(self, reservation: Reservation) -> None:
        self.ledger.release(reservation.id)


def _fmt(usd: float) -> str:
    return "unlimited" if usd == float("inf") else format_usd(usd)


# ---------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class InputKind:
    """What an input argument carries (an image, a video): the one word and size cap the refusals name.

    Images and character videos come through the same guards (allowed folders, public https URLs, data URLs,
    size caps); only the noun, the cap, its variable and the ``Accept`` header differ.
    """

    noun: str
    env: str  # the variable that sets the cap
    cap: str  # the Settings field holding it
    accept: str
    data_example: str

    def max_bytes(self, settings: Settings) -> int:
        return int(getattr(settings, self.cap))

    def too_large(self, what: str, max_bytes: int) -> str:
        return f"{what} is larger than {_mb(max_bytes)} ({self.env})."


IMAGE = InputKind("image", ENV_MAX_IMAGE_MB, "max_image_bytes", "image/*", "data:image/png;base64,<data>")
VIDEO = InputKind("video", ENV_MAX_VIDEO_MB, "max_video_bytes", "video/*", "data:video/mp4;base64,<data>")


def resolve_input_path(raw: str, settings: Settings, kind: InputKind = IMAGE) -> Path:
    """The real path of a local input file, if it lies inside one of the allowed input folders."""
    noun = kind.noun
    if not settings.input_dirs:
        raise PathRefused(
            f"Local {noun} paths are disabled: the user has not allowed any input folder ({ENV_INPUT_DIRS}). "
            "Pass an https:// URL or a data: URL instead."
        )
    allowed = ", ".join(str(d) for d in settings.input_dirs)
    if "\x00" in raw:
        raise PathRefused(f"The {noun} path contains a NUL byte.")
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = settings.input_dirs[0] / candidate
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise PathRefused(f"{noun.capitalize()} file not found: {raw}. Allowed input folders: {allowed}.") from None
    except (OSError, RuntimeError) as exc:
        raise PathRefused(f"Cannot read the {noun} path {raw}: {exc.__class__.__name__}.") from None
    if not any(real.is_relative_to(d) for d in settings.input_dirs):
        raise PathRefused(f"{raw} is outside the allowed input folders ({allowed}); only files there can be read.")
    if not real.is_file():
        raise PathRefused(f"{raw} is not a file.")
    if real.stat().st_size > kind.max_bytes(settings):
        raise PathRefused(kind.too_large(raw, kind.max_bytes(settings)))
    return real


def plain_file_name(filename: str, settings: Settings) -> str:
    """``filename`` if it is a plain visible name, else PathRefused saying what a name may hold.

    Refused: folders and separators, a leading dot (hidden files, ``..``), control, format (zero-width, bidi
    overrides) and other invisible characters, and names too long to number (``name-2.mp4``) within file-system
    limits.
    """
    name = filename.strip()
    problem = None
    if not name:
        problem = "it is empty"
    elif any(sep in name for sep in ("/", "\\", ":")):
        problem = "it contains a folder separator (/, \\ or :)"
    elif name.startswith("."):
        problem = "it starts with a dot (a hidden file)"
    elif any(unicodedata.category(c) in INVISIBLE_CATEGORIES for c in name):
        problem = "it contains control or invisible characters"
    elif len(name) > MAX_FILENAME_CHARS or len(name.encode()) > MAX_FILENAME_BYTES:
        problem = f"it is longer than {MAX_FILENAME_CHARS} characters"
    if problem:
        raise PathRefused(
            f"filename must be a plain file name without folders ({problem}; got {filename[:80]!r}). Use visible "
            f"characters only; files are always saved in the output folder {settings.output_dir}."
        )
    return name


def output_path(settings: Settings, filename: str, suffix: str) -> Path:
    """A file inside the output folder from a plain name (``suffix`` added when missing)."""
    name = plain_file_name(filename, settings)
    if not name.lower().endswith(suffix):
        name += suffix
    dest = (settings.output_dir / name).resolve()
    if dest.parent != settings.output_dir:
        raise PathRefused(f"{filename!r} would be written outside the output folder {settings.output_dir}.")
    return dest


def check_output_folder(settings: Settings) -> None:
    """Refuse (before anything is paid) when clips could not be saved in the output folder."""
    try:
        check_folder(settings.output_dir, param="output_dir")
    except InvalidInputError as exc:
        raise PathRefused(
            f"Refused before sending anything: {exc} The server saves clips in {settings.output_dir} "
            f"({ENV_OUTPUT_DIR}); ask the user to set a folder it can write to."
        ) from None


def inside_output(settings: Settings, path: str | Path | None) -> Path | None:
    """``path`` if it is an existing file inside the output folder, else None."""
    if not path:
        return None
    p = Path(path).resolve()
    return p if p.is_file() and p.is_relative_to(settings.output_dir) else None


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


# ---------------------------------------------------------------------------------------------- URLs
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None and not is_public_address(str(mapped)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


async def vet_url(url: str, resolver: Resolver, kind: InputKind = IMAGE) -> tuple[str, str, int, str]:
    """Check an https URL; return (host, vetted address, port, path with query)."""
    noun = kind.noun
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https":
        raise UrlRefused(f"Only https:// {noun} URLs are accepted (got {parts.scheme or 'no'} scheme).")
    if parts.username or parts.password:
        raise UrlRefused(f"{noun.capitalize()} URLs must not carry a user name or password.")
    host = parts.hostname
    if not host:
        raise UrlRefused(f"The {noun} URL has no host.")
    try:
        port = parts.port or 443
    except ValueError:
        raise UrlRefused(f"The {noun} URL has an invalid port.") from None
    try:
        addresses = await resolver(host, port)
    except (OSError, UnicodeError):
        raise UrlRefused(f"Cannot resolve the host {host!r} of the {noun} URL.") from None
    if not addresses:
        raise UrlRefused(f"Cannot resolve the host {host!r} of the {noun} URL.")
    bad = [a for a in addresses if not is_public_address(a)]
    if bad:
        raise UrlRefused(
            f"The {noun} URL's host {host!r} points to a private, loopback or otherwise non-public address; "
            f"the server only fetches {noun}s from the public internet."
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, addresses[0], port, path


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    kind: InputKind = IMAGE,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[bytes, str]:
    """Download a public https URL, pinned to the vetted address, at most ``max_bytes``; return (body, file name)."""
    resolver = resolver or system_resolver
    noun = kind.noun
    async with httpx.AsyncClient(transport=transport, timeout=URL_TIMEOUT, follow_redirects=False) as http:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            host, address, port, path = await vet_url(current, resolver, kind)
            netloc = f"[{address}]" if ":" in address else address
            request = http.build_request(
                "GET",
                f"https://{netloc}:{port}{path}",
                headers={"Host": host if port == 443 else f"{host}:{port}", "Accept": kind.accept},
                extensions={"sni_hostname": host},
            )
            try:
                response = await http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise UrlRefused(f"Could not download the {noun} URL ({exc.__class__.__name__}).") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise UrlRefused(f"The {noun} URL redirected without a location.")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise UrlRefused(f"The {noun} URL answered HTTP {response.status_code}.")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise UrlRefused(kind.too_large(f"The {noun} at the URL", max_bytes))
                data = bytearray()
                try:
                    async for chunk in response.aiter_bytes():
                        data.extend(chunk)
                        if len(data) > max_bytes:
                            raise UrlRefused(kind.too_large(f"The {noun} at the URL", max_bytes))
                except httpx.HTTPError as exc:
                    raise UrlRefused(f"The {noun} download broke off ({exc.__class__.__name__}).") from None
            finally:
                await response.aclose()
            return bytes(data), Path(urlsplit(current).path).name
        raise UrlRefused(f"The {noun} URL redirected more than {MAX_REDIRECTS} times.")


async def fetch_image_url(
    url: str,
    *,
    max_bytes: int,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ImageInput:
    """Download an image from a public https URL (see :func:`fetch_url`)."""
    data, name = await fetch_url(url, max_bytes=max_bytes, resolver=resolver, transport=transport)
    return _as_image(data, name)


def decode_data(url: str, *, max_bytes: int, kind: InputKind = IMAGE) -> bytes:
    """The bytes of a ``data:`` URL, size-capped."""
    header, sep, payload = url.partition(",")
    if not sep or not header.lower().startswith("data:"):
        raise UrlRefused(f"A data URL must look like {kind.data_example}.")
    if len(payload) > max_bytes * 4 // 3 + 16:
        raise UrlRefused(kind.too_large("The data URL", max_bytes))
    try:
        if header.lower().endswith(";base64"):
            data = base64.b64decode(payload, validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise UrlRefused("The data URL is not valid base64.") from None
    if len(data) > max_bytes:
        raise UrlRefused(kind.too_large("The data URL", max_bytes))
    return data


def decode_data_url(url: str, *, max_bytes: int) -> ImageInput:
    """``data:image/png;base64,...`` to an ImageInput, size-capped."""
    return _as_image(decode_data(url, max_bytes=max_bytes), None)


async def read_input(
    spec: str,
    settings: Settings,
    kind: InputKind,
    *,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[bytes, str, Path | None]:
    """An input argument (local path, https URL or data URL) to (bytes, file name, local path), every guard applied."""
    text = spec.strip()
    lowered = text.lower()
    max_bytes = kind.max_bytes(settings)
    if lowered.startswith("data:"):
        return decode_data(text, max_bytes=max_bytes, kind=kind), "", None
    if "://" in lowered[:12]:
        data, name = await fetch_url(text, max_bytes=max_bytes, kind=kind, resolver=resolver, transport=transport)
        return data, name, None
    path = resolve_input_path(text, settings, kind)
    return path.read_bytes(), path.name, path


async def load_image(
    spec: str,
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ImageInput:
    """An ``image`` argument (local path, https URL or data URL) to bytes, with every guard applied."""
    data, name, _ = await read_input(spec, settings, IMAGE, resolver=resolver, transport=transport)
    return _as_image(data, name)


def _as_image(data: bytes, name: str | None) -> ImageInput:
    """Bytes from any input as an ImageInput typed by what they are (the shared validators refuse a non-image)."""
    mime, _ = probe_image(data)
    return ImageInput(data=data, mime_type=mime or "application/octet-stream", filename=name or "reference")


async def load_video(
    spec: str,
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[CharacterVideo, Path | None]:
    """A ``video`` argument under the same guards as images (its own size cap), checked to be a readable video.

    Also returns the local path it came from, if any, so the job record can say which file a character was made of.
    """
    data, name, path = await read_input(spec, settings, VIDEO, resolver=resolver, transport=transport)
    return load_character_video(data, name or "character.mp4"), path
