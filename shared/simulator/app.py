"""The simulator's HTTP surface: the Videos API under ``/v1`` and an admin API under ``/_sim``.

It answers like the service (same paths, bodies, status codes and error envelope; see docs/videos-api.md) so a
client, the official SDK or a user can run against it unchanged, offline and for free. Validation uses the
``local`` provider's model table. Admin endpoints (no auth, not counted): ``GET/PUT /_sim/faults``,
``POST /_sim/reset``, ``GET/POST /_sim/clock`` (``{"advance": seconds}``) and ``GET /_sim/stats``. A create may
choose how its job reports progress with the ``X-Sim-Progress`` header (a name from ``progress.PROFILES``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..characters import CHARACTER_NAME_MAX, MAX_CHARACTERS_PER_VIDEO as MAX_CHARACTERS
from ..errors import InvalidInputError
from ..media import probe_image
from ..models import IMAGE_MIME_TYPES, MAX_PROMPT_CHARS, VARIANTS, parse_size
from ..providers import COMETAPI, LOCAL
from .faults import FaultConfig
from .progress import check_profile
from .store import Job, SimulatorConfig, SimulatorState

CONTENT_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
MAX_DATA_URL_CHARS = 20 * 1024 * 1024
MAX_TOTAL_SECONDS = 120  # extensions stitch up to 120 s per video
CHUNK = 64 * 1024
_BRACKETS = re.compile(r"^(\w+)\[(\w+)\]$")  # one level is all the SDK produces here


class ApiError(Exception):
    """An HTTP error in the service's envelope: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def response(self, dialect: str = "openai") -> JSONResponse:
        """The error as the service answers it; ``dialect="cometapi"`` in CometAPI's own shapes (see
        :func:`_cometapi_error`)."""
        if dialect == "cometapi":
            status, body = _cometapi_error(self)
            return JSONResponse(body, status_code=status, headers=self.headers)
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


# Codes of a request the service refused as invalid; CometAPI can answer those with HTTP 500 "invalid_request".
_VALIDATION_CODES = frozenset(
    {"invalid_value", "invalid_type", "missing_required_parameter", "string_below_min_length",
     "string_above_max_length"}
)
COMETAPI_QUOTA_MESSAGE = "user quota is not enough"


def _cometapi_error(exc: ApiError) -> tuple[int, dict[str, Any]]:
    """Status and body in CometAPI's dialect (docs/videos-api.md, "CometAPI as it really answers").

    The request id sits inside the message (no x-request-id header), the type is ``comet_api_error``, empty
    param and code are "", validation errors come as HTTP 500 ``invalid_request`` and a balance error is a flat
    403 body without the ``error`` wrapper.
    """
    if exc.code == "insufficient_quota":
        return 403, {"code": None, "message": COMETAPI_QUOTA_MESSAGE}
    status, code = exc.status, exc.code or ""
    if status == 400 and code in _VALIDATION_CODES:
        status, code = 500, "invalid_request"
    request_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
    return status, {"error": {"code": code, "message": f"{exc.message} (request id: {request_id})",
                              "type": "comet_api_error", "param": exc.param or ""}}


class ConnectionAborted(httpx.RemoteProtocolError):
    """Raised by the app *after* ``http.response.start`` to cut the connection mid-response.

    The trick works in both places the simulator runs. Under uvicorn, an exception once the response has
    started makes the server close the socket, so the client sees a broken response (httpx.RemoteProtocolError
    or ReadError). Under ``httpx.ASGITransport`` the app's exception propagates into the client call, and because
    this class *is* an ``httpx.RemoteProtocolError`` (a TransportError), client code handles it exactly like the
    network failure it stands for.
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"simulated fault: connection dropped ({what})")


def _not_found(video_id: str) -> ApiError:
    return ApiError(404, f"Video with id '{video_id}' not found.")


def _enum_error(param: str, value: Any, allowed: tuple[str, ...]) -> ApiError:
    """The service's wording: "Invalid value: '10'. Supported values are: '4', '8', and '12'."."""
    quoted = [f"'{a}'" for a in allowed]
    listed = " and ".join(quoted) if len(quoted) <= 2 else ", ".join(quoted[:-1]) + ", and " + quoted[-1]
    return ApiError(
        400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=param, code="invalid_value"
    )


_JSON_KINDS = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a decimal",
    dict: "an object",
    list: "an array",
    type(None): "null",
}


def _type_error(param: str, expected: str, got: Any) -> ApiError:
    kind = _JSON_KINDS.get(type(got), type(got).__name__)
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {kind} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


# -- request bodies ----------------------------------------------------------------------------------------------
async def _read_body(request: Request) -> tuple[dict[str, Any], bool]:
    """JSON or multipart into one dict; multipart ``video[id]`` keys (how the SDK flattens objects) become nested."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        body: dict[str, Any] = {}
        for key, value in form.multi_items():
            match = _BRACKETS.match(key)
            if match:
                node = body.setdefault(match.group(1), {})
                if isinstance(node, dict):
                    node[match.group(2)] = value
            else:
                body[key] = value
        return body, True
    raw = await request.body()
    if not raw.strip():
        return {}, False
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(
            400, "We could not parse the JSON body of your request. Send valid JSON or multipart/form-data."
        ) from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data, False


def _prompt(body: dict[str, Any]) -> str:
    if "prompt" not in body:
        raise _missing("prompt")
    prompt = body["prompt"]
    if not isinstance(prompt, str):
        raise _type_error("prompt", "a string", prompt)
    if not prompt:
        raise ApiError(
            400,
            "Invalid 'prompt': string too short. "
            "Expected a string with minimum length 1, but got an empty string instead.",
            param="prompt",
            code="string_below_min_length",
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(
            400,
            f"Invalid 'prompt': string too long. Expected a string with maximum length {MAX_PROMPT_CHARS}, "
            f"but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def _choice(body: dict[str, Any], param: str, default: str, allowed: tuple[str, ...]) -> str:
    value = body.get(param, default)
    if not isinstance(value, str):
        raise _type_error(param, "a string", value)
    if value not in allowed:
        raise _enum_error(param, value, allowed)
    return value


def _model(body: dict[str, Any], dialect: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The model and its sizes/seconds. An unknown name passes with the union of all known models' values, except
    in CometAPI's dialect, which has no channel for a model outside its table (503 ``model_not_found``)."""
    table = COMETAPI if dialect == "cometapi" else LOCAL
    model = body.get("model", LOCAL.default_model)
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)
    if not model.strip():
        raise ApiError(400, "Invalid 'model': the model name must not be empty.", param="model", code="invalid_value")
    spec = table.model(model)
    if spec is None and dialect == "cometapi":
        raise ApiError(
            503,
            f"no available channel for group default and model {model} (distributor)",
            type="comet_api_error",
            code="model_not_found",
        )
    return model, (spec.sizes if spec else table.all_sizes), (spec.seconds if spec else table.all_seconds)


async def _reference(value: Any, multipart: bool, size: str) -> bytes:
    """The input_reference image bytes: a file part, or ``{"image_url": "data:..."}``; must match ``size``."""
    if isinstance(value, UploadFile):
        data = await value.read()
    elif isinstance(value, dict):
        data = _reference_from_object(value)
    else:
        raise _type_error("input_reference", "a file" if multipart else "an object", value)
    try:
        mime, dims = probe_image(data)
    except InvalidInputError:
        mime, dims = None, (0, 0)
    if mime not in IMAGE_MIME_TYPES:
        raise ApiError(
            400,
            "Invalid file format for 'input_reference'. "
            "Supported formats are: 'image/jpeg', 'image/png', and 'image/webp'.",
            param="input_reference",
            code="invalid_value",
        )
    if dims != parse_size(size):
        raise ApiError(400, "Inpaint image must match the requested width and height")
    return data


def _reference_from_object(value: dict[str, Any]) -> bytes:
    if ("image_url" in value) == ("file_id" in value):
        raise ApiError(
            400,
            "Provide exactly one of 'input_reference.image_url' or 'input_reference.file_id'.",
            param="input_reference",
            code="invalid_value",
        )
    if "file_id" in value:
        raise ApiError(
            400,
            "The simulator has no Files API: send the image as a file part or a data: URL.",
            param="input_reference.file_id",
            code="invalid_value",
        )
    url = value["image_url"]
    if not isinstance(url, str):
        raise _type_error("input_reference.image_url", "a string", url)
    if not url.startswith("data:"):
        raise ApiError(
            400,
            "The simulator runs offline and cannot fetch image URLs: send a data: URL or a file part instead.",
            param="input_reference.image_url",
            code="invalid_value",
        )
    if len(url) > MAX_DATA_URL_CHARS:
        raise ApiError(
            400,
            "input_reference.image_url is larger than 20 MiB.",
            param="input_reference.image_url",
            code="string_above_max_length",
        )
    header, _, payload = url.partition(",")
    try:
        return base64.b64decode(payload, validate=True) if header.endswith(";base64") else payload.encode()
    except binascii.Error:
        raise ApiError(
            400,
            "input_reference.image_url is not valid base64.",
            param="input_reference.image_url",
            code="invalid_value",
        ) from None


def _source_id(body: dict[str, Any]) -> str:
    """The ``video`` of an extension or edit: ``{"id": ...}`` (an uploaded file is not supported offline)."""
    if "video" not in body:
        raise _missing("video")
    video = body["video"]
    if isinstance(video, UploadFile):
        raise ApiError(
            400,
            "The simulator cannot take an uploaded video file; reference one by id (video[id]).",
            param="video",
            code="invalid_type",
        )
    if not isinstance(video, dict) or not isinstance(video.get("id"), str):
        raise _type_error("video", "an object with an 'id'", video)
    return video["id"]


# -- responses ---------------------------------------------------------------------------------------------------
class _FileStream(Response):
    """Streams a file with its full Content-Length; ``cut`` sends half of it and then drops or ends the response.

    ``truncate`` ends the response normally after half the body: under ``httpx.ASGITransport`` the client gets a
    short body with the full Content-Length (it must check); over TCP, uvicorn closes the connection instead, so
    there it looks like ``drop``.
    """

    def __init__(self, path: Path, media_type: str, cut: str | None = None) -> None:
        super().__init__(media_type=media_type)
        self.path, self.cut = path, cut
        self.size = path.stat().st_size
        self.headers["content-length"] = str(self.size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        limit = self.size // 2 if self.cut else self.size
        sent = 0
        async with await anyio.open_file(self.path, "rb") as f:
            while sent < limit:
                chunk = await f.read(min(CHUNK, limit - sent))
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
        if self.cut == "drop":
            raise ConnectionAborted("mid-download")
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:  # a real server refuses to end short of Content-Length and closes instead
            raise ConnectionAborted("truncated body") from exc


class _LostResponse(Response):
    """Starts a 200 response and aborts before the body: the job exists, the client never learns its id."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise ConnectionAborted("create response lost")


class _RequestId:
    """Pure ASGI middleware: every response carries ``x-request-id: req_<hex>``, like OpenAI's (CometAPI sends
    none: in its dialect the id is inside error messages)."""

    def __init__(self, app: ASGIApp, config: SimulatorConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.config.dialect == "cometapi":
            await self.app(scope, receive, send)
            return
        request_id = ("req_" + secrets.token_hex(16)).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


# -- the API -----------------------------------------------------------------------------------------------------
Handler = Callable[[Request], Awaitable[Response]]


class _Api:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self._background: set[asyncio.Future[Any]] = set()

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    def endpoint(self, name: str, handler: Handler) -> Handler:
        """Wrap a handler with what every API call goes through: counting, auth, then the injected faults."""

        async def wrapped(request: Request) -> Response:
            self.state.requests[name] += 1
            try:
                self._authenticate(request)
                faults = self.state.faults
                if faults.config.latency_ms and faults.applies_to(name):
                    await asyncio.sleep(faults.config.latency_ms / 1000)
                if faults.rate_limited(name):
                    wait = faults.config.retry_after_seconds
                    raise ApiError(
                        429,
                        "Rate limit reached for requests (simulated). Please try again later.",
                        type="requests",
                        code="rate_limit_exceeded",
                        headers=_retry_headers(wait),
                    )
                if faults.server_error(name):
                    raise ApiError(
                        faults.config.server_error_status,
                        "The server had an error while processing your request. Sorry about that! (simulated)",
                        type="server_error",
                    )
                if faults.take("quota_exhausted_next"):
                    raise ApiError(
                        429,
                        "You exceeded your current quota, please check your plan and billing details. (simulated)",
                        type="insufficient_quota",
                        code="insufficient_quota",
                    )
                response = await handler(request)
                if faults.config.answer_latency_ms and faults.applies_to(name):
                    await asyncio.sleep(faults.config.answer_latency_ms / 1000)  # done; the answer is slow
                return response
            except ApiError as exc:
                return exc.response(self.config.dialect)

        return wrapped

    @staticmethod
    def _authenticate(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'; "
                "the simulator accepts any key.",
                code="missing_api_key",
            )

    def _job(self, video_id: str) -> Job:
        job = self.state.jobs.get(video_id)
        if job is None:
            raise _not_found(video_id)
        return job

    def _video(self, job: Job) -> dict[str, Any]:
        video = job.to_api(self.state.now(), self.config.ttl)
        if self.config.dialect == "cometapi" and video["error"]:
            video["error"]["code"] = None  # CometAPI's moderation failures may carry no code
        return video

    def _completed_source(self, video_id: str, action: str) -> Job:
        job = self._job(video_id)
        status, _ = job.status(self.state.now())
        if status != "completed":
            raise ApiError(
                400,
                f"Video '{video_id}' is {status}; only a completed video can be {action}.",
                param="video_id" if action == "remixed" else "video",
            )
        return job

    def _check_capacity(self) -> None:
        cap = self.config.max_running_jobs
        running = self.state.running_jobs()
        if cap is not None and len(running) >= cap:
            now = self.state.now()
            wait = max(1.0, min(j.finished_at for j in running) - now)
            raise ApiError(
                429,
                "Too many running tasks",
                type="rate_limit_error",
                code="too_many_running_tasks",
                headers=_retry_headers(wait),
            )

    def _created(self, job: Job) -> Response:
        body = self._video(job)
        if self.config.prerender and job.error is None:
            self._prerender(job)
        if self.state.faults.take("lose_create_next"):
            return _LostResponse(content=JSONResponse(body).body, media_type="application/json")
        return JSONResponse(body)

    def _prerender(self, job: Job) -> None:
        """Encode the clip while the job 'renders', so its download is ready the moment it completes."""
        task = asyncio.get_running_loop().create_task(
            anyio.to_thread.run_sync(self.state.media.ensure, job.render_spec())
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- endpoints ---------------------------------------------------------------------------------------------
    async def create(self, request: Request) -> Response:
        body, multipart = await _read_body(request)
        prompt = _prompt(body)
        model, sizes, seconds_allowed = _model(body, self.config.dialect)
        size = _choice(body, "size", "720x1280", sizes)
        seconds = _choice(body, "seconds", "4", seconds_allowed)
        reference = None
        if body.get("input_reference") not in (None, ""):
            reference = await _reference(body["input_reference"], multipart, size)
        characters = self._characters(body.get("characters"))
        progress = _progress_profile(request)
        self._check_capacity()
        job = self.state.add_job(
            model=model, prompt=prompt, size=size, seconds=int(seconds), reference=reference, progress=progress,
            characters=characters,
        )
        return self._created(job)

    def _characters(self, value: Any) -> list[str]:
        """The names of the characters a create names: ``[{"id": ...}]``, at most two, each one made here."""
        if value in (None, ""):
            return []
        if not isinstance(value, list):
            raise _type_error("characters", "an array", value)
        if len(value) > MAX_CHARACTERS:
            raise ApiError(
                400,
                f"Invalid 'characters': array too long. Expected an array with maximum length {MAX_CHARACTERS}, "
                f"but got an array with length {len(value)} instead.",
                param="characters",
                code="array_above_max_length",
            )
        names = []
        for n, item in enumerate(value):
            cid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(cid, str):
                raise _type_error(f"characters[{n}].id", "a string", cid)
            character = self.state.characters.get(cid)
            if character is None:
                raise ApiError(400, f"Character '{cid}' not found.", param=f"characters[{n}].id", code="invalid_value")
            names.append(character.name)
        return names

    async def create_character(self, request: Request) -> Response:
        """``POST /v1/videos/characters``: multipart ``name`` (1..80) and ``video`` (a file PyAV can read)."""
        body, multipart = await _read_body(request)
        if "name" not in body:
            raise _missing("name")
        name = body["name"]
        if not isinstance(name, str):
            raise _type_error("name", "a string", name)
        if not 1 <= len(name) <= CHARACTER_NAME_MAX:
            raise ApiError(
                400,
                f"Invalid 'name': expected a string of 1 to {CHARACTER_NAME_MAX} characters, got {len(name)}.",
                param="name",
                code="string_above_max_length" if name else "string_below_min_length",
            )
        video = body.get("video")
        if video is None:
            raise _missing("video")
        if not multipart or not isinstance(video, UploadFile):
            raise _type_error("video", "a file upload (multipart/form-data)", video)
        data = await video.read()
        if not await anyio.to_thread.run_sync(_is_video, data):
            raise ApiError(400, "The uploaded video could not be decoded. Upload an MP4 file.", param="video",
                           code="invalid_value")
        if self.state.faults.take("likeness_next"):
            raise ApiError(
                400,
                "The character video appears to show a real person's likeness, which is not allowed "
                "(moderation).",
                param="video",
                code="moderation_blocked",
            )
        return JSONResponse(self.state.add_character(name).to_api())

    async def retrieve_character(self, request: Request) -> Response:
        cid = request.path_params["character_id"]
        character = self.state.characters.get(cid)
        if character is None:
            raise ApiError(404, f"Character with id '{cid}' not found.")
        return JSONResponse(character.to_api())

    async def retrieve(self, request: Request) -> Response:
        job = self._job(request.path_params["video_id"])
        video = self._video(job)
        if self.state.faults.take("malformed_json_next"):
            text = JSONResponse(video).body
            return Response(text[: len(text) // 2], media_type="application/json")
        headers = {}
        if self.config.poll_after_ms is not None and video["status"] in ("queued", "in_progress"):
            headers["openai-poll-after-ms"] = str(self.config.poll_after_ms)
        return JSONResponse(video, headers=headers)

    async def list_videos(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            limit = -1
        if not 0 <= limit <= 100:
            raise ApiError(
                400,
                f"Invalid 'limit': expected an integer from 0 to 100, got '{q.get('limit')}'.",
                param="limit",
                code="invalid_value",
            )
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise _enum_error("order", order, ("asc", "desc"))
        jobs = list(self.state.ordered(order))
        after = q.get("after")
        if after:
            ids = [j.id for j in jobs]
            if after not in ids:
                raise ApiError(
                    400, f"Invalid 'after': no video with id '{after}'.", param="after", code="invalid_value"
                )
            jobs = jobs[ids.index(after) + 1 :]
        page = jobs[:limit]
        data = [self._video(j) for j in page]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(jobs) > len(page),
            }
        )

    async def delete(self, request: Request) -> Response:
        video_id = request.path_params["video_id"]
        job = self._job(video_id)
        if job.is_running(self.state.now()):
            raise ApiError(
                400,
                f"Video '{video_id}' is still being generated; only a completed or failed video can be deleted.",
                param="video_id",
            )
        self.state.delete_job(video_id)
        return JSONResponse({"id": video_id, "object": "video.deleted", "deleted": True})

    async def content(self, request: Request) -> Response:
        """Content of a completed job. Expired content answers 404 code ``video_expired`` (assumed shape: the
        service's exact body is undocumented)."""
        job = self._job(request.path_params["video_id"])
        variant = request.query_params.get("variant", "video")
        if variant not in VARIANTS:
            raise _enum_error("variant", variant, VARIANTS)
        now = self.state.now()
        status, _ = job.status(now)
        if status == "failed":
            raise ApiError(400, f"Video '{job.id}' failed to generate; it has no content.")
        if status != "completed":
            raise ApiError(400, f"Video is not ready yet, use GET /v1/videos/{job.id} to check status.")
        if now >= job.expires(self.config.ttl):
            raise ApiError(
                404,
                "The video content has expired and is no longer available. Generate it again.",
                code="video_expired",
            )
        paths = await anyio.to_thread.run_sync(self.state.media.ensure, job.render_spec())
        faults = self.state.faults
        cut = None
        if faults.take("drop_download_next"):
            cut = "drop"
        elif faults.take("truncate_download_next"):
            cut = "truncate"
        return _FileStream(paths.for_variant(variant), CONTENT_TYPES[variant], cut)

    async def remix(self, request: Request) -> Response:
        source = self._completed_source(request.path_params["video_id"], "remixed")
        body, _ = await _read_body(request)
        prompt = _prompt(body)
        self._check_capacity()
        job = self.state.add_job(
            model=source.model,
            prompt=prompt,
            size=source.size,
            seconds=source.seconds,
            kind="remix",
            remixed_from_video_id=source.id,
        )
        return self._created(job)

    async def extend(self, request: Request) -> Response:
        body, _ = await _read_body(request)
        source = self._completed_source(_source_id(body), "extended")
        prompt = _prompt(body)
        if body.get("characters") not in (None, "", []):
            raise ApiError(400, "Extensions cannot use characters.", param="characters", code="invalid_value")
        spec = LOCAL.model(source.model)
        if "seconds" not in body:
            raise _missing("seconds")
        extra = int(_choice(body, "seconds", "", spec.seconds if spec else LOCAL.all_seconds))
        total = source.seconds + extra
        if total > MAX_TOTAL_SECONDS:
            raise ApiError(
                400,
                f"An extended video can be at most {MAX_TOTAL_SECONDS} seconds long; "
                f"{source.seconds} + {extra} = {total}.",
                param="seconds",
                code="invalid_value",
            )
        self._check_capacity()
        job = self.state.add_job(model=source.model, prompt=prompt, size=source.size, seconds=total, kind="extend")
        return self._created(job)

    async def edit(self, request: Request) -> Response:
        body, _ = await _read_body(request)
        source = self._completed_source(_source_id(body), "edited")
        prompt = _prompt(body)
        self._check_capacity()
        job = self.state.add_job(
            model=source.model, prompt=prompt, size=source.size, seconds=source.seconds, kind="edit"
        )
        return self._created(job)


def _is_video(data: bytes) -> bool:
    """True when ``data`` is a container with a video stream PyAV can open."""
    from ..video import VideoError, probe

    try:
        return probe(io.BytesIO(data)).width > 0
    except VideoError:
        return False


def _progress_profile(request: Request) -> str | None:
    """The job's own progress profile from ``X-Sim-Progress``, refused before a job exists if unknown."""
    name = request.headers.get("x-sim-progress")
    try:
        return check_profile(name) if name is not None else None
    except ValueError as exc:
        raise ApiError(400, str(exc), param="X-Sim-Progress", code="invalid_value") from None


def _retry_headers(seconds: float) -> dict[str, str]:
    return {"retry-after": str(math.ceil(seconds)), "retry-after-ms": str(int(seconds * 1000))}


# -- admin -------------------------------------------------------------------------------------------------------
class _Admin:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(self.state.faults.config.model_dump())

    async def put_faults(self, request: Request) -> Response:
        """Replace the whole fault config (missing fields take their defaults) and reseed the RNG."""
        try:
            config = FaultConfig.model_validate_json(await request.body())
        except ValidationError as exc:
            return ApiError(400, f"Invalid fault config: {exc}").response()
        self.state.faults.replace(config)
        return JSONResponse(config.model_dump())

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})

    async def clock(self, request: Request) -> Response:
        """GET reads the simulated time; POST ``{"advance": seconds}`` moves it (e.g. past ``expires_at``)."""
        if request.method == "POST":
            try:
                advance = float((await request.json())["advance"])
            except (ValueError, KeyError, TypeError):
                return ApiError(400, 'Send {"advance": seconds}.', param="advance").response()
            self.state.advance_clock(advance)
        return JSONResponse({"now": self.state.now(), "offset": self.state.clock_offset})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.state.stats())


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the service's error envelope rather than Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error = ApiError(status, f"Invalid URL ({request.method} {request.url.path})")
    return error.response(request.app.state.sim.config.dialect)


def create_app(config: SimulatorConfig | None = None) -> Starlette:
    """The simulator as an ASGI app (for uvicorn or ``httpx.ASGITransport``); its state is ``app.state.sim``."""
    state = SimulatorState(config or SimulatorConfig())
    api, admin = _Api(state), _Admin(state)
    routes = [
        Route("/v1/videos", api.endpoint("create", api.create), methods=["POST"]),
        Route("/v1/videos", api.endpoint("list", api.list_videos), methods=["GET"]),
        Route("/v1/videos/extensions", api.endpoint("extend", api.extend), methods=["POST"]),
        Route("/v1/videos/characters", api.endpoint("character_create", api.create_character), methods=["POST"]),
        Route("/v1/videos/characters/{character_id}", api.endpoint("character_retrieve", api.retrieve_character),
              methods=["GET"]),
        Route("/v1/videos/edits", api.endpoint("edit", api.edit), methods=["POST"]),
        Route("/v1/videos/{video_id}", api.endpoint("retrieve", api.retrieve), methods=["GET"]),
        Route("/v1/videos/{video_id}", api.endpoint("delete", api.delete), methods=["DELETE"]),
        Route("/v1/videos/{video_id}/content", api.endpoint("content", api.content), methods=["GET"]),
        Route("/v1/videos/{video_id}/remix", api.endpoint("remix", api.remix), methods=["POST"]),
        Route("/_sim/faults", admin.get_faults, methods=["GET"]),
        Route("/_sim/faults", admin.put_faults, methods=["PUT"]),
        Route("/_sim/reset", admin.reset, methods=["POST"]),
        Route("/_sim/clock", admin.clock, methods=["GET", "POST"]),
        Route("/_sim/stats", admin.stats, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_RequestId, config=state.config)],
        exception_handlers={404: _http_error, 405: _http_error},
    )
    app.state.sim = state
    return app
