"""One exception hierarchy for everything that can go wrong between a user and the Videos API.

Front ends catch :class:`Sora2Error` and show ``str(exc)``: every message says what happened and what to do.
Messages never contain the API key: we never put it in one, and text the service sends (which may repeat it) is
scrubbed when the exception is built, so no front end can forget to.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from .redact import redact, redact_value


class Sora2Error(Exception):
    """Base class. ``exit_code`` is what the CLI returns for it (2 = bad input, 1 = service/other).

    Every registered secret is removed from the arguments and from every attribute set on the exception, so
    ``str``, ``repr``, ``args`` and fields such as ``message`` or ``code`` are all safe to show or log.
    """

    exit_code = 1

    def __init__(self, *args: object) -> None:
        super().__init__(*redact_value(args))

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, redact_value(value))


class InvalidInputError(Sora2Error, ValueError):
    """The request was refused locally, before anything was sent (and before any money was spent)."""

    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ConfigurationError(Sora2Error):
    """Provider, base URL or key are missing or inconsistent (e.g. no API key in the environment)."""

    exit_code = 2


class APIError(Sora2Error):
    """The service answered with an HTTP error. Carries the service's own code, param and request id."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param
        self.type = type
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        details = []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        if self.code:
            details.append(f"code={self.code}")
        if self.param:
            details.append(f"param={self.param}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        hint = self.hint()
        if hint:
            parts.append(f"- {hint}")
        return " ".join(parts)

    def hint(self) -> str:
        """What the user can do about it; subclasses say more."""
        return ""


class AuthenticationError(APIError):
    def hint(self) -> str:
        return "check the API key in SORA2_API_KEY (or the provider's variable) and the provider/base URL."


class BadRequestError(APIError):
    """400/404/409/422: the service refused the request as sent."""


class NotFoundError(BadRequestError):
    """The service says the video does not exist (never created here, deleted or expired)."""

    def hint(self) -> str:
        return "check the video id; deleted or expired videos are gone from the service."


class EndpointNotFoundError(BadRequestError):
    """A 404 that is not about a video: the path itself does not exist, so the base URL is probably wrong.

    Not a :class:`NotFoundError`: nothing is known about the video, and treating it as gone (deleted, expired)
    would be wrong.
    """

    def __init__(self, message: str, *, base_url: str, **kwargs: Any) -> None:
        self.base_url = base_url
        super().__init__(message, **kwargs)

    def hint(self) -> str:
        if self.base_url.endswith("/v1"):
            return (
                f"the service has no such endpoint under the base URL {self.base_url} (check --base-url or "
                "SORA2_BASE_URL); this provider may also not offer this operation."
            )
        return (
            f"the service has no such endpoint: the base URL {self.base_url} is probably wrong "
            "(it usually ends in /v1, e.g. https://api.openai.com/v1); fix --base-url or SORA2_BASE_URL."
        )


class ContentPolicyError(BadRequestError):
    def hint(self) -> str:
        return "the prompt or image was blocked by moderation; rephrase it (no real people, no copyrighted characters)."


class RateLimitError(APIError):
    def hint(self) -> str:
        return "the provider is rate limiting; wait and retry, or run fewer jobs at once."


class ServerError(APIError):
    def hint(self) -> str:
        return "the service had a transient failure; retrying later usually works."


class ConnectionFailedError(Sora2Error):
    """The service could not be reached (DNS, refused, reset) after the retries."""


class JobFailedError(Sora2Error):
    """The job reached ``status: failed``. Content-policy failures are also :class:`ContentPolicyError`-like."""

    def __init__(self, video_id: str, code: str | None, message: str | None) -> None:
        self.video_id = video_id
        self.code = code
        self.message = message or "no message"
        super().__init__(f"Video {video_id} failed: {self.message}" + (f" (code={code})" if code else ""))

    @property
    def is_content_policy(self) -> bool:
        return bool(self.code) and any(w in self.code for w in ("moderation", "policy", "safety"))


class ExpiredError(Sora2Error):
    def __init__(self, video_id: str) -> None:
        self.video_id = video_id
        super().__init__(
            f"Video {video_id} has expired: the service keeps content about an hour after completion. "
            "Generate it again (remix or a new prompt)."
        )


class WaitTimeoutError(Sora2Error):
    """The total wait deadline passed; the job may still finish on the service."""

    def __init__(self, video_id: str, waited: float, status: str, progress: int) -> None:
        self.video_id = video_id
        super().__init__(
            f"Stopped waiting for {video_id} after {waited:.0f}s (status {status}, {progress}%). "
            f"It is kept in the local record: resume with `sora2 status {video_id}` or `sora2 download {video_id}`."
        )


class CancelledError(Sora2Error):
    """The caller cancelled the wait. The service has no cancel: the job keeps running and stays recorded."""

    def __init__(self, video_id: str | None) -> None:
        self.video_id = video_id
        where = f" Video {video_id} keeps running on the service; collect it later with `sora2 download {video_id}`." if video_id else ""
        super().__init__("Cancelled." + where)


class DownloadError(Sora2Error):
    """A download failed after its retries (truncated, reset, wrong type)."""


def _retry_after_seconds(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            from email.utils import parsedate_to_datetime
            import time

            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return None


_POLICY_WORDS = ("moderation", "content_policy", "safety", "policy")


# Paths under ``videos/`` that are endpoints, not video ids.
_COLLECTION_PATHS = frozenset({"extensions", "edits"})
# How routers (OpenAI's, the simulator's) answer a path that does not exist, in the service's own error envelope.
_ROUTER_MESSAGE = re.compile(r"^\s*(invalid url\b|not found\s*$)", re.IGNORECASE)


def _request_url(response: httpx.Response) -> httpx.URL | None:
    try:
        return response.request.url
    except RuntimeError:  # a response built without a request (tests, hand-made answers)
        return None


def _split_at_videos(path: str) -> tuple[str, list[str]] | None:
    """``/v1/videos/abc/content`` -> ``("/v1", ["abc", "content"])``; None when there is no ``videos`` segment."""
    segments = path.split("/")
    if "videos" not in segments:
        return None
    cut = len(segments) - 1 - segments[::-1].index("videos")
    return "/".join(segments[:cut]), [s for s in segments[cut + 1:] if s]


def _base_of(url: httpx.URL) -> str:
    """The base URL a request was sent under (what precedes ``videos``), without credentials, query or fragment."""
    split = _split_at_videos(url.path)
    path = split[0] if split is not None else url.path
    return str(url.copy_with(username=None, password=None, query=None, fragment=None, path=path or "/")).rstrip("/")


def _is_video_not_found(url: httpx.URL | None, err: Any) -> bool:
    """True when a 404 is the service saying a video does not exist, rather than the path not existing.

    That needs the service's error envelope, a request about one video (``videos/<id>`` or below it), and a
    message that is not a router's "no such path" (an HTML page, a bare "Not Found", "Invalid URL (GET ...)").
    """
    if not isinstance(err, dict) or _ROUTER_MESSAGE.match(str(err.get("message") or "not found")):
        return False
    if url is None:
        return True
    split = _split_at_videos(url.path)
    return split is not None and bool(split[1]) and split[1][0] not in _COLLECTION_PATHS


def error_from_response(response: httpx.Response, body: Any = None) -> APIError:
    """Map an HTTP error response to the matching exception. The one place status codes become classes.

    Service text is redacted before it is cut to an excerpt, so a key near the cut cannot survive in part.
    """
    if body is None:
        try:
            body = response.json()
        except ValueError:
            body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "")
        code, param, etype = err.get("code"), err.get("param"), err.get("type")
    else:
        text = redact(response.text)[:300] if response.content else ""
        message, code, param, etype = (text or response.reason_phrase or "error"), None, None, None
    status = response.status_code
    kwargs = dict(
        status_code=status,
        code=str(code) if code is not None else None,
        param=str(param) if param is not None else None,
        type=str(etype) if etype is not None else None,
        request_id=response.headers.get("x-request-id"),
        retry_after=_retry_after_seconds(response.headers),
    )
    lowered = f"{code} {etype} {message}".lower()
    if status in (401, 403):
        cls: type[APIError] = AuthenticationError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    elif status == 404:
        url = _request_url(response)
        if url is not None and not _is_video_not_found(url, err):
            base = _base_of(url)
            return EndpointNotFoundError(message or f"HTTP {status}", base_url=base, **kwargs)  # type: ignore[arg-type]
        cls = NotFoundError
    elif any(w in lowered for w in _POLICY_WORDS):
        cls = ContentPolicyError
    else:
        cls = BadRequestError
    return cls(message or f"HTTP {status}", **kwargs)  # type: ignore[arg-type]
