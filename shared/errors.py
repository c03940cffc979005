"""One exception hierarchy for everything that can go wrong between a user and the Videos API.

Front ends catch :class:`Sora2Error` and show ``str(exc)``: every message says what happened and what to do.
Messages never contain the API key: we never put it in one, and text the service sends (which may repeat it) is
scrubbed when the exception is built, so no front end can forget to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from .redact import redact, redact_value


class Sora2Error(Exception):
    """Base class. ``exit_code`` is what the CLI returns for it (2 = bad input, 1 = service/other); ``kind`` is a
    stable word for the class of problem, for machine-readable output where the service gave no code of its own.

    Every registered secret is removed from the arguments and from every attribute set on the exception, so
    ``str``, ``repr``, ``args`` and fields such as ``message`` or ``code`` are all safe to show or log.
    """

    exit_code = 1
    kind = "error"

    def __init__(self, *args: object) -> None:
        super().__init__(*redact_value(args))

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, redact_value(value))


class InvalidInputError(Sora2Error, ValueError):
    """The request was refused locally, before anything was sent (and before any money was spent)."""

    kind = "invalid_input"

    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class ConfigurationError(Sora2Error):
    """Provider, base URL or key are missing or inconsistent (e.g. no API key in the environment)."""

    kind = "configuration"

    exit_code = 2


class APIError(Sora2Error):
    """The service answered with an HTTP error. Carries the service's own code, param and request id.

    ``transient`` says whether sending the same request again can help; :data:`ERROR_TABLE` decides it from what
    the service said, the class only gives the default for errors built in code.
    """

    kind = "bad_request"

    transient = False

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
        transient: bool | None = None,
    ) -> None:
        if transient is not None:
            self.transient = transient
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
    kind = "authentication"

    def hint(self) -> str:
        return "check the API key in SORA2_API_KEY (or the provider's variable) and the provider/base URL."


class InsufficientBalanceError(APIError):
    """The account has no balance or quota left. Not a key problem: the key was accepted, the money is missing."""

    kind = "insufficient_balance"

    def hint(self) -> str:
        return ("the account has no balance left for this: top up your balance at the provider (or raise its "
                "quota), then try again; the API key is fine.")


class BadRequestError(APIError):
    """400/404/409/422: the service refused the request as sent."""


class InvalidRequestError(BadRequestError):
    """The service says the request itself is invalid, whatever HTTP status it chose (CometAPI sends some as 500)."""

    kind = "invalid_request"

    def hint(self) -> str:
        return ("the service refused the request as sent; sending it again unchanged will not help: "
                "change what it names.")


class ModelNotFoundError(BadRequestError):
    """The provider has no model (or no route, "channel") by this name. Retrying cannot help.

    ``model`` is read from the service's message when it names one, else set by the client from the request;
    ``provider`` (a :class:`~.providers.Provider`, when known) supplies the documented model names for the hint.
    """

    kind = "model_not_found"

    def __init__(self, message: str, *, model: str | None = None, provider: Any = None, **kwargs: Any) -> None:
        self.model = model or _model_in(message)
        self.provider = provider
        super().__init__(message, **kwargs)

    def for_model(self, model: str) -> ModelNotFoundError:
        """The same error naming ``model`` (the client knows what it asked for when the message does not say)."""
        return ModelNotFoundError(
            self.message, model=model, provider=self.provider, status_code=self.status_code, code=self.code,
            param=self.param, type=self.type, request_id=self.request_id, retry_after=self.retry_after,
        )

    def hint(self) -> str:
        name = f"model {self.model!r}" if self.model else "the model"
        choose = ("choose another with --model (sora2), the node's model input (ComfyUI) or the model parameter "
                  "(MCP)")
        if self.provider is None:
            return f"the provider does not offer {name}; a retry cannot help: {choose}."
        known = ", ".join(self.provider.models)
        text = f"{self.provider.name} does not offer {name} (its documented models: {known}); {choose}."
        if self.model and self.provider.model(self.model) is not None:
            from .config import config_file_path  # config imports this module

            text += (f" Our table lists {self.model} for {self.provider.name}, so the table may be out of date: "
                     f"if the provider renamed it, add the new name to {config_file_path()} as "
                     f"[providers.{self.provider.name}.models.NAME] with price_per_second, sizes and seconds.")
        return text


class NotFoundError(BadRequestError):
    """The service says the video (or, for ``subject="character"``, the character) does not exist: never created
    here, deleted or expired."""

    kind = "not_found"

    def __init__(self, message: str, *, subject: str = "video", **kwargs: Any) -> None:
        self.subject = subject
        super().__init__(message, **kwargs)

    def hint(self) -> str:
        if self.subject == "character":
            return "check the character id (`sora2 character show ID`); make it again if the service lost it."
        return "check the video id; deleted or expired videos are gone from the service."


class EndpointNotFoundError(BadRequestError):
    """A 404 that is not about a video: the path itself does not exist, so the base URL is probably wrong.

    Not a :class:`NotFoundError`: nothing is known about the video, and treating it as gone (deleted, expired)
    would be wrong.
    """

    kind = "wrong_base_url"

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
    kind = "content_policy"

    HINT = "the prompt or image was blocked by moderation; rephrase it (no real people, no copyrighted characters)."
    LIKENESS_HINT = ("the character video shows what the service takes for a real person's likeness, which it "
                     "refuses: make the character from a video of an animal, an object or a stylised figure.")

    def hint(self) -> str:
        return self.LIKENESS_HINT if "likeness" in self.message.lower() else self.HINT


class RateLimitError(APIError):
    kind = "rate_limited"

    transient = True

    def hint(self) -> str:
        return "the provider is rate limiting; wait and retry, or run fewer jobs at once."


class ServerError(APIError):
    kind = "server_error"

    transient = True

    def hint(self) -> str:
        return "the service had a transient failure; retrying later usually works."


class ConnectionFailedError(Sora2Error):
    """The service could not be reached (DNS, refused, reset) after the retries."""

    kind = "connection"


class JobFailedError(Sora2Error):
    """The job reached ``status: failed``. Content-policy failures are also :class:`ContentPolicyError`-like."""

    kind = "job_failed"

    def __init__(self, video_id: str, code: str | None, message: str | None) -> None:
        self.video_id = video_id
        self.code = code
        self.message = message or "no message"
        text = f"Video {video_id} failed: {self.message}" + (f" (code={code})" if code else "")
        if self.is_content_policy:
            text += f" - {ContentPolicyError.HINT}"
        super().__init__(text)

    @property
    def is_content_policy(self) -> bool:
        return is_content_policy(self.code, self.message)


class ExpiredError(Sora2Error):
    kind = "expired"

    def __init__(self, video_id: str) -> None:
        self.video_id = video_id
        super().__init__(
            f"Video {video_id} has expired: the service keeps content about an hour after completion. "
            "Generate it again (remix or a new prompt)."
        )


class WaitTimeoutError(Sora2Error):
    """The total wait deadline passed; the job may still finish on the service."""

    kind = "timeout"

    def __init__(self, video_id: str, waited: float, status: str, progress: int) -> None:
        self.video_id = video_id
        super().__init__(
            f"Stopped waiting for {video_id} after {waited:.0f}s (status {status}, {progress}%). "
            f"It is kept in the local record: resume with `sora2 status {video_id}` or `sora2 download {video_id}`."
        )


class UnknownStatusError(Sora2Error):
    """The job kept reporting a status word nobody maps (another vendor's model on the same route, a new word).

    Waiting for it to become ``completed`` could last until the overall deadline for nothing, so the wait ends
    after a bounded time and quotes the word; the job stays in the local record.
    """

    kind = "unknown_status"

    def __init__(self, video_id: str, status: str, waited: float) -> None:
        self.video_id = video_id
        self.status = status
        super().__init__(
            f"Stopped waiting for {video_id}: the service has reported the status {status!r}, which this client does "
            f"not know, for {waited:.0f}s. The job is kept in the local record: check it with `sora2 status "
            f"{video_id}`; if the model is not a Sora model, choose one (e.g. --model sora-2)."
        )


class CancelledError(Sora2Error):
    """The caller cancelled the wait. The service has no cancel: the job keeps running and stays recorded."""

    kind = "cancelled"

    def __init__(self, video_id: str | None) -> None:
        self.video_id = video_id
        where = f" Video {video_id} keeps running on the service; collect it later with `sora2 download {video_id}`." if video_id else ""
        super().__init__("Cancelled." + where)


class DownloadError(Sora2Error):
    """A download failed after its retries (truncated, reset, wrong type)."""

    kind = "download_failed"


def with_reconcile_failure(original: Sora2Error, failure: BaseException) -> Sora2Error:
    """``original`` with a sentence saying that looking for the job it may have created failed too.

    The user must see the error that caused the look-up first (it names the real cause); the look-up's own failure
    comes after it, with what it means: a job may exist, so check before sending the request again.
    """
    original.args = (
        f"{original} Looking for a job this request may have created also failed ({failure}); a job may exist: "
        "check `sora2 list` before sending the request again.",
    )
    return original


_POLICY_WORDS = ("moderation", "content_policy", "content policy", "safety", "policy")


def is_content_policy(code: str | None, message: str | None) -> bool:
    """True when a failure is about moderation, by its code or by its message (CometAPI's code may be null)."""
    text = f"{code or ''} {message or ''}".lower()
    return any(w in text for w in _POLICY_WORDS)


_MODEL_NAMED = re.compile(r"\bmodel[\s:]+[`'\"]?([A-Za-z0-9][\w.\-:/]*)", re.IGNORECASE)


def _model_in(message: str) -> str | None:
    """The model a message names ("... for group default and model sora-2-all (distributor)", "The model `x`...")."""
    match = _MODEL_NAMED.search(message or "")
    return match.group(1).rstrip(".") if match else None


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


# Paths under ``videos/`` that are endpoints, not video ids.
_COLLECTION_PATHS = frozenset({"extensions", "edits", "characters"})
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


def _is_character_path(url: httpx.URL) -> bool:
    split = _split_at_videos(url.path)
    return split is not None and len(split[1]) >= 2 and split[1][0] == "characters"


def _is_video_not_found(url: httpx.URL | None, err: Any) -> bool:
    """True when a 404 is the service saying a video (or character) does not exist, rather than the path not existing.

    That needs the service's error envelope, a request about one object (``videos/<id>`` or below it,
    ``videos/characters/<id>``), and a message that is not a router's "no such path" (an HTML page, a bare
    "Not Found", "Invalid URL (GET ...)").
    """
    if not isinstance(err, dict) or _ROUTER_MESSAGE.match(str(err.get("message") or "not found")):
        return False
    if url is None:
        return True
    if _is_character_path(url):
        return True
    split = _split_at_videos(url.path)
    return split is not None and bool(split[1]) and split[1][0] not in _COLLECTION_PATHS


@dataclass(frozen=True)
class ErrorRule:
    """One row of :data:`ERROR_TABLE`: which answers it covers, the class they become, whether a retry can help.

    An empty ``statuses`` or ``providers`` covers every one. A row with ``codes``, ``types`` or ``words`` needs one
    of them to match: the ``error.code``, the ``error.type`` or a phrase of the message (all compared lower-case).
    """

    cls: type[APIError]
    transient: bool
    statuses: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    words: tuple[str, ...] = ()
    providers: frozenset[str] = frozenset()

    def matches(self, status: int, code: str, etype: str, message: str, provider: str | None) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        if self.providers and provider not in self.providers:
            return False
        if not (self.codes or self.types or self.words):
            return True
        text = f"{code} {etype} {message}"
        return code in self.codes or etype in self.types or any(w in text for w in self.words)


def _rule(cls: type[APIError], transient: bool, **kw: Any) -> ErrorRule:
    return ErrorRule(cls, transient, **{k: (v if k == "words" else frozenset(v)) for k, v in kw.items()})


_4XX_REQUEST = frozenset(range(400, 500)) - {401, 403, 404, 429}
# What the service says decides before what HTTP status it chose: CometAPI answers an unknown model with 503 and
# some validation errors with 500, neither of which a retry can fix. The first matching row wins.
ERROR_TABLE: tuple[ErrorRule, ...] = (
    _rule(ModelNotFoundError, False, codes={"model_not_found"}, words=("no available channel",)),
    _rule(InsufficientBalanceError, False,
          codes={"insufficient_quota", "insufficient_user_quota", "insufficient_balance", "quota_exceeded"},
          words=("quota is not enough", "insufficient balance", "insufficient credit", "insufficient quota",
                 "exceeded your current quota", "not enough balance", "balance is not enough")),
    _rule(ContentPolicyError, False, statuses=_4XX_REQUEST, codes=set(), words=_POLICY_WORDS),
    _rule(InvalidRequestError, False, codes={"invalid_request"}),
    _rule(InvalidRequestError, False, statuses=range(500, 600), types={"invalid_request_error"}),
    _rule(AuthenticationError, False, statuses={401, 403}),
    _rule(RateLimitError, True, statuses={429}),
    _rule(BadRequestError, True, statuses={408, 409}),
    _rule(ServerError, True, statuses={500, 502, 503, 504}),
    _rule(ServerError, False, statuses=range(505, 600)),
    _rule(ServerError, False, statuses={501}),
    _rule(NotFoundError, False, statuses={404}),
    _rule(BadRequestError, False),
)


def classify(status: int, code: str | None, etype: str | None, message: str,
             provider: str | None = None) -> ErrorRule:
    """The row of :data:`ERROR_TABLE` an error answer falls under (the last row matches everything)."""
    args = (status, (code or "").lower(), (etype or "").lower(), (message or "").lower(), provider)
    return next(rule for rule in ERROR_TABLE if rule.matches(*args))


_REQUEST_ID_IN_TEXT = re.compile(r"\s*\(request id: ?([^)]*)\)", re.IGNORECASE)


def _error_fields(body: Any) -> dict[str, Any] | None:
    """The error object of an answer: ``{"error": {...}}``, a flat ``{"code", "message"}`` body, or None."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        return err
    if isinstance(err, str) and err:
        return {"message": err, "code": body.get("code"), "type": body.get("type")}
    if "message" in body and ("code" in body or "type" in body or len(body) <= 3):
        return body  # CometAPI's flat answers, e.g. {"code": null, "message": "user quota is not enough"}
    return None


def split_request_id(message: str, header: str | None) -> tuple[str, str | None]:
    """The message without its "(request id: ...)" and the request id: from the header, else from that text."""
    found = _REQUEST_ID_IN_TEXT.search(message)
    if found is None:
        return message, header or None
    cleaned = (message[: found.start()] + message[found.end():]).strip()
    return cleaned, header or found.group(1).strip() or None


def error_from_response(response: httpx.Response, body: Any = None, *, provider: Any = None) -> APIError:
    """Map an HTTP error response to the matching exception, through :data:`ERROR_TABLE`.

    ``provider`` (a :class:`~.providers.Provider`) lets a row apply to one provider and lets a model error list
    that provider's models. Service text is redacted before it is cut to an excerpt, so a key near the cut cannot
    survive in part.
    """
    if body is None:
        try:
            body = response.json()
        except ValueError:
            body = None
    err = _error_fields(body)
    if err is not None:
        message = str(err.get("message") or "")
        code, param, etype = err.get("code"), err.get("param"), err.get("type")
    else:
        text = redact(response.text)[:300] if response.content else ""
        message, code, param, etype = (text or response.reason_phrase or "error"), None, None, None
    message, request_id = split_request_id(message, response.headers.get("x-request-id"))
    status = response.status_code
    code = str(code) if code not in (None, "") else None
    etype = str(etype) if etype not in (None, "") else None
    rule = classify(status, code, etype, message, getattr(provider, "name", None))
    kwargs: dict[str, Any] = dict(
        status_code=status,
        code=code,
        param=str(param) if param not in (None, "") else None,
        type=etype,
        request_id=request_id,
        retry_after=_retry_after_seconds(response.headers),
        transient=rule.transient,
    )
    message = message or f"HTTP {status}"
    if rule.cls is ModelNotFoundError:
        return ModelNotFoundError(message, provider=provider, **kwargs)
    if rule.cls is NotFoundError:
        url = _request_url(response)
        if url is not None and not _is_video_not_found(url, err):
            return EndpointNotFoundError(message, base_url=_base_of(url), **kwargs)
        if url is not None and _is_character_path(url):
            return NotFoundError(message, subject="character", **kwargs)
    return rule.cls(message, **kwargs)
