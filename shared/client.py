"""The one client of the Sora 2 Videos API: async at the core, with a thin sync facade.

Operation names follow the official SDK (``create``, ``retrieve``, ``list``, ``delete``, ``remix``,
``download_content``, ``poll``, ``create_and_poll``) plus ``extend``, ``edit`` and ``wait``. What the SDK leaves to
the caller is done here once for every front end: local validation before spending, a cost estimate, retries with
backoff, reconciliation of a create whose answer was lost (never pay twice), adaptive polling with a deadline and
cancellation, streaming downloads, and the local job record (never lose a paid job).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from .. import __version__
from .answers import AmbiguousJobError, UnexpectedAnswerError, safe_excerpt
from .characters import (
    Character,
    CharacterVideo,
    load_character_video,
    require_characters,
    validate_character_ids,
    validate_character_name,
)
from .config import ClientConfig, data_dir, resolve_config
from .download import VARIANT_MEDIA, IncompleteDownload, WrongContent, stream_to_file
from .errors import (
    APIError,
    CancelledError,
    ConnectionFailedError,
    DownloadError,
    ExpiredError,
    InvalidInputError,
    JobFailedError,
    ModelNotFoundError,
    NotFoundError,
    ServerError,
    Sora2Error,
    UnknownStatusError,
    error_from_response,
    with_reconcile_failure,
)
from .models import (
    KNOWN_STATUSES,
    STATUS_WORDS,
    VARIANT_SUFFIX,
    VARIANTS,
    CreateVideoRequest,
    DeletedVideo,
    ImageInput,
    Video,
    VideoList,
    build_create_request,
    usable_id,
    validate_prompt,
    validate_seconds,
    validate_video_id,
)
from .polling import PollPolicy, PollState
from .pricing import cost_if_known, estimate_cost
from .progress import ProgressCallback, ProgressEvent
from .record import JobEntry, JobRecord, open_record
from .retry import RetryPolicy, is_ambiguous, may_resend

log = logging.getLogger("sora2_bridge")
T = TypeVar("T")
P = TypeVar("P", Video, VideoList)
CancelCheck = Callable[[], bool]
# Clock skew allowed between us and the service when matching a reconciled job to our attempt.
RECONCILE_SKEW = 5.0
_DEFAULT = object()
MAX_LIST_PAGES = 1000
"""The most pages one listing fetches (100,000 videos at the largest page size). A service that keeps saying
``has_more`` with ever new cursors would otherwise be paged forever; no real account comes near this."""


def _may_have_acted(error: APIError) -> bool:
    """Whether a job-creating request answered with ``error`` may still have created a job: a transient server
    failure (the answer may have come after the job was made). A refusal (model not found, invalid request,
    balance, moderation) created nothing, so it is never looked for in ``list``."""
    return error.transient and (error.status_code or 0) >= 500


def request_key(provider: str, base_url: str, request: CreateVideoRequest) -> str:
    """A fingerprint of what a create would produce: identical requests share it (used to avoid paying twice)."""
    h = hashlib.sha256()
    fields: dict[str, Any] = request.form_fields()
    if request.characters:  # only when named, so the keys of requests without characters stay as they were
        fields["characters"] = list(request.characters)
    h.update(json.dumps([provider, base_url, fields], sort_keys=True).encode())
    if request.input_reference is not None:
        h.update(hashlib.sha256(request.input_reference.data).digest())
    return h.hexdigest()[:32]


def _about(video_id: str, data: Any, what: str) -> dict[str, Any]:
    """An answer about one job we named, as a dict that carries an id.

    Only the id is needed to parse it (every other field is read leniently), and we know which job we asked about:
    an answer that leaves the id out, or garbles it, is taken as being about that job. An answer that is not an
    object at all cannot be read, and says so with an excerpt instead of a parser's traceback.
    """
    if not isinstance(data, dict):
        raise ServerError(f"The service's answer to the {what} request for {video_id} is not a JSON object: "
                          f"{safe_excerpt(data)}")
    return data if usable_id(data.get("id")) is not None else {**data, "id": video_id}


class AsyncSoraClient:
    """Async client. Use as ``async with AsyncSoraClient() as client: ...``.

    ``record=None`` opens the default job record in the user's data folder; pass ``record=False`` to disable it
    (tests of pure wire behaviour) or a :class:`JobRecord` to share one.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        provider: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        record: JobRecord | None | bool = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = httpx.Timeout(60.0, connect=10.0),
        retry: RetryPolicy | None = None,
        poll_policy: PollPolicy | None = None,
        downloads_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        json_body: bool = False,
    ) -> None:
        self.config = config or resolve_config(provider, base_url, api_key)
        self.provider = self.config.provider_spec
        self.retry = retry or RetryPolicy()
        self.poll_policy = poll_policy or PollPolicy(initial_interval=self.provider.initial_poll_interval)
        self.downloads_dir = Path(downloads_dir) if downloads_dir else data_dir() / "videos"
        self._clock, self._sleep = clock, sleep
        self.json_body = json_body
        if record is None or record is True:
            record = open_record()
        self.record: JobRecord | None = record or None
        # Intents and claims need a record even when the caller keeps none: then they live in memory.
        self._ledger: JobRecord = self.record or JobRecord(":memory:")
        self._http = httpx.AsyncClient(
            base_url=self.config.base_url + "/",
            transport=transport,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {self.config.api_key.get_secret_value()}",
                "User-Agent": f"sora2-bridge/{__version__}",
            },
            follow_redirects=True,
        )
        # Local creation time of the jobs this client started: a fresh job is queued, so the first poll waits.
        self._started_at: dict[str, float] = {}
        # Jobs running at once through this client (the provider answers 429 "Too many running tasks" above it).
        self._job_slots = asyncio.Semaphore(max(1, self.config.max_concurrent_jobs))

    def __repr__(self) -> str:
        return f"AsyncSoraClient(provider={self.config.provider!r}, base_url={self.config.base_url!r})"

    async def __aenter__(self) -> AsyncSoraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def exclusive(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold ``key`` against identical requests in every process sharing the record (see
        :meth:`JobRecord.exclusive`): look for their job and create one only inside it, and they pay once."""
        return self._ledger.exclusive(key)

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._ledger is not self.record:
            self._ledger.close()

    # ------------------------------------------------------------------ transport with retries
    async def _send(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """Send with retries; return a 2xx response or raise the mapped error.

        Non-idempotent calls (create, remix, extend, edit) are retried here only when the service cannot have
        acted on them (connection refused, 429); ambiguous failures are raised for the caller to reconcile.
        """
        started = self._clock()
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if not idempotent and is_ambiguous(exc):
                    raise
                error: Exception = exc
                retry_after = None
            else:
                if response.is_success:
                    return response
                api_error = error_from_response(response, provider=self.provider)
                if not may_resend(api_error, idempotent=idempotent):
                    raise api_error
                error, retry_after = api_error, api_error.retry_after
            delay = self.retry.delay(attempt, retry_after)
            attempt += 1
            waited = self._clock() - started
            if attempt >= self.retry.max_attempts or waited + delay > self.retry.max_total_wait:
                if isinstance(error, httpx.TransportError):
                    raise ConnectionFailedError(
                        f"Cannot reach {self.config.base_url} after {attempt} attempts "
                        f"({type(error).__name__}). Check the network and the base URL."
                    ) from None
                raise error
            log.info("retrying %s %s in %.1fs after %s", method, path, delay, type(error).__name__)
            await self._sleep(delay)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ServerError(
                "The service sent a response that is not valid JSON",
                status_code=response.status_code,
                request_id=response.headers.get("x-request-id"),
            ) from None

    async def _get_json_retrying(self, path: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """GET that also retries a garbled (non-JSON) body, which proxies sometimes return."""
        attempt = 0
        while True:
            response = await self._send("GET", path, **kwargs)
            try:
                return response.json(), response
            except ValueError:
                attempt += 1
                if attempt >= self.retry.max_attempts:
                    raise ServerError(
                        "The service keeps sending responses that are not valid JSON",
                        status_code=response.status_code,
                        request_id=response.headers.get("x-request-id"),
                    ) from None
                await self._sleep(self.retry.delay(attempt - 1))

    # ------------------------------------------------------------------ requests that create jobs
    def build_request(
        self,
        prompt: str,
        *,
        model: str | None = None,
        size: str | None = None,
        seconds: str | int | None = None,
        input_reference: ImageInput | None = None,
        characters: Any = None,
    ) -> CreateVideoRequest:
        """Validate locally (no request is sent): raises InvalidInputError naming what to change."""
        return build_create_request(self.provider, prompt, model, size, seconds, input_reference, characters)

    def estimate(self, request: CreateVideoRequest) -> float:
        return estimate_cost(self.provider, request.model, request.size, request.seconds)

    def _create_body(self, req: CreateVideoRequest) -> dict[str, Any]:
        # Characters are a list of objects, which only the JSON body documents: a create naming them is sent as JSON.
        if self.json_body or req.characters:
            body: dict[str, Any] = req.form_fields()
            if req.input_reference is not None:
                b64 = base64.b64encode(req.input_reference.data).decode()
                body["input_reference"] = {"image_url": f"data:{req.input_reference.mime_type};base64,{b64}"}
            if req.characters:
                body["characters"] = [{"id": c} for c in req.characters]
            return {"json": body}
        # Every field as a form part (filename None) forces multipart/form-data, as the official SDK sends it.
        files: list[tuple[str, tuple[str | None, Any] | tuple[str, bytes, str]]] = [
            (k, (None, v)) for k, v in req.form_fields().items()
        ]
        if req.input_reference is not None:
            ref = req.input_reference
            files.append(("input_reference", (ref.filename, ref.data, ref.mime_type)))
        return {"files": files}

    async def create(
        self,
        prompt: str,
        *,
        model: str | None = None,
        size: str | None = None,
        seconds: str | int | None = None,
        input_reference: ImageInput | None = None,
        characters: Any = None,
    ) -> Video:
        """Start a job. Validated locally first; recorded locally before this returns."""
        req = self.build_request(prompt, model=model, size=size, seconds=seconds, input_reference=input_reference,
                                 characters=characters)
        return await self.create_from_request(req)

    async def create_from_request(self, req: CreateVideoRequest, *, key: str | None = None) -> Video:
        """Create from a validated request. ``key`` overrides the request fingerprint stored in the job record
        (front ends fold in what else makes a job distinct for them, e.g. ComfyUI's seed)."""

        def matches(v: Video) -> bool:
            return v.prompt == req.prompt and v.size in (None, req.size) and v.seconds in (None, req.seconds)

        return await self._start_job(
            "videos",
            self._create_body(req),
            matches=matches,
            kind="create",
            summary=req.summary(),
            cost=lambda v: self.estimate(req),
            key=key or request_key(self.config.provider, self.config.base_url, req),
        )

    async def remix(self, video_id: str, prompt: str, *, key: str | None = None) -> Video:
        """A new job from a finished one, changed as ``prompt`` says (same model, size and length)."""
        video_id, prompt = validate_video_id(video_id), validate_prompt(prompt)
        return await self._start_job(
            f"videos/{video_id}/remix",
            {"json": {"prompt": prompt}},
            matches=lambda v: v.prompt == prompt and v.remixed_from_video_id in (None, video_id),
            kind="remix",
            summary={"prompt": prompt, "video_id": video_id},
            cost=self.cost_of,
            source_id=video_id,
            key=key or self.derived_key("remix", video_id, prompt),
        )

    async def extend(self, video_id: str, prompt: str, seconds: str | int, *, key: str | None = None) -> Video:
        """Continue a finished clip by ``seconds``; the new job's ``seconds`` is the stitched total."""
        video_id, prompt = validate_video_id(video_id), validate_prompt(prompt)
        secs = validate_seconds(self.provider, self.provider.default_model, seconds)
        return await self._start_job(
            "videos/extensions",
            {"json": {"video": {"id": video_id}, "prompt": prompt, "seconds": secs}},
            matches=lambda v: v.prompt == prompt,
            kind="extend",
            summary={"prompt": prompt, "video_id": video_id, "seconds": secs},
            cost=lambda v: cost_if_known(self.provider, v.model, v.size, secs),
            source_id=video_id,
            key=key or self.derived_key("extend", video_id, prompt, secs),
        )

    async def edit(self, video_id: str, prompt: str, *, key: str | None = None) -> Video:
        """Change a finished clip as ``prompt`` says (the successor of remix on OpenAI's side)."""
        video_id, prompt = validate_video_id(video_id), validate_prompt(prompt)
        return await self._start_job(
            "videos/edits",
            {"json": {"video": {"id": video_id}, "prompt": prompt}},
            matches=lambda v: v.prompt == prompt,
            kind="edit",
            summary={"prompt": prompt, "video_id": video_id},
            cost=self.cost_of,
            source_id=video_id,
            key=key or self.derived_key("edit", video_id, prompt),
        )

    def derived_key(self, kind: str, *parts: str) -> str:
        """The record fingerprint of a job made from another one (remix/extend/edit of the same source and prompt)."""
        blob = json.dumps([kind, self.config.provider, self.config.base_url, *parts])
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def cost_of(self, v: Video) -> float | None:
        """What a job like ``v`` costs on this provider (its model, size and length), or None if unknown."""
        return cost_if_known(self.provider, v.model, v.size, v.seconds)

    def _intent_lifetime(self) -> float:
        """The longest one job-creating call keeps trying: an intent older than this has been given up."""
        read = self._http.timeout.read or 60.0
        return self.retry.max_total_wait + self.retry.max_attempts * (read + self.retry.max_delay)

    async def _start_job(
        self,
        path: str,
        body: dict[str, Any],
        *,
        matches: Callable[[Video], bool],
        kind: str,
        summary: dict[str, Any],
        cost: Callable[[Video], float | None],
        source_id: str | None = None,
        key: str | None = None,
    ) -> Video:
        """POST a job, reconciling through ``list`` after an ambiguous failure so a job is never paid twice.

        An intent is recorded before the POST and closed after it, and every job id is claimed in the record the
        moment it is known, so a caller in another process whose answer was lost never adopts this job.
        """
        ledger = self._ledger
        entry = JobEntry(self.config.provider, self.config.base_url, kind, summary, source_id, key)
        # Reconciliation matches on the prompt, so requests with the same prompt are the ones it could confuse.
        match_key = self.derived_key("prompt", str(summary.get("prompt")))
        holder = ledger.holder_of(key) if key is not None else None
        if key is not None and holder is not None:
            recovered = await self._recover(key, holder, matches, entry, match_key, cost)
            if recovered is not None:
                return self._started(recovered)
        intent = ledger.open_intent(kind, request_key=key, match_key=match_key, started_at=self._clock(),
                                    holder=holder)
        try:
            for attempt in range(self.retry.max_attempts):
                started = self._clock()
                try:
                    data = await self._json("POST", path, idempotent=False, **body)
                except ModelNotFoundError as exc:
                    if exc.model or not summary.get("model"):
                        raise
                    raise exc.for_model(str(summary["model"])) from None
                except (httpx.TransportError, APIError) as exc:
                    if isinstance(exc, APIError) and not _may_have_acted(exc):
                        raise  # the service refused the request: nothing was created, nothing to look for
                    log.warning("%s: no clear answer (%s); checking whether the job was created", kind,
                                type(exc).__name__)
                    found = await self._reconcile_after(exc, kind, intent, matches, started, entry, match_key, cost)
                    if found is not None:
                        return self._started(found)
                    if attempt + 1 >= self.retry.max_attempts:
                        if isinstance(exc, APIError):
                            raise
                        raise ConnectionFailedError(
                            f"The {kind} request got no answer after {attempt + 1} attempts and no job was found; "
                            "nothing was created. Check the network and try again."
                        ) from None
                    await self._sleep(self.retry.delay(attempt))
                    continue
                return self._started(await self._take_answer(data, intent, matches, started, entry, match_key, cost))
            raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
        finally:
            ledger.close_intent(intent, "failed")  # no-op unless the request ended without a job

    async def _recover(
        self,
        key: str,
        holder: str,
        matches: Callable[[Video], bool],
        entry: JobEntry,
        match_key: str,
        cost: Callable[[Video], float | None],
    ) -> Video | None:
        """The job an identical request made before its process died, if the service shows it: never paid twice.

        Such a request sent its create under the lease on ``key`` this caller now holds, and its process died before
        the answer was recorded (a killed ComfyUI worker, an MCP server gone mid-call): its intent is still open.
        Each is looked up in ``list`` like a lost answer; one not found there is closed as ``abandoned``.
        """
        for orphan in self._ledger.orphaned_intents(key, holder=holder, since=self._clock() - self._intent_lifetime()):
            log.warning("%s: an identical request sent at %.0f never got its answer recorded (its process stopped); "
                        "checking whether it created the job", entry.kind, orphan["started_at"])
            found = await self._reconcile(orphan["id"], matches, orphan["started_at"], entry, match_key, cost)
            if found is not None:
                return found
            self._ledger.close_intent(orphan["id"], "abandoned")
        return None

    async def _reconcile_after(
        self, cause: Exception, kind: str, intent: str, *args: Any
    ) -> Video | None:
        """:meth:`_reconcile` after ``cause``; if the look-up itself fails, ``cause`` is raised, never hidden.

        The look-up's failure is appended to the message of ``cause`` (the real reason the user must see first).
        A look-up that could not run leaves it unknown whether a job exists, so nothing is sent again.
        """
        try:
            return await self._reconcile(intent, *args)
        except AmbiguousJobError:
            raise  # a finding, not a failure: the candidates are recorded and named
        except Sora2Error as failure:
            original = cause if isinstance(cause, Sora2Error) else ConnectionFailedError(
                f"The {kind} request got no answer ({type(cause).__name__})."
            )
            raise with_reconcile_failure(original, failure) from None

    def _parse(self, model: type[P], data: Any) -> P:
        """Read an answer about jobs: the one place a provider's status words become the contract's."""
        return model.model_validate(data, context={STATUS_WORDS: self.provider.status_words})

    def _started(self, video: Video) -> Video:
        self._started_at[video.id] = self._clock()
        return video

    async def _take_answer(
        self,
        data: Any,
        intent: str,
        matches: Callable[[Video], bool],
        started: float,
        entry: JobEntry,
        match_key: str,
        cost: Callable[[Video], float | None],
    ) -> Video:
        """Record the answer to a job-creating call before reading anything more from it than its id.

        An answer without a usable id is kept on the intent row and looked up in ``list`` like a lost answer (the
        job may exist); if no job is found it becomes an :class:`UnexpectedAnswerError` quoting the answer.
        It is not sent again: the service did answer, so the first request may well have been paid for.
        """
        video_id = usable_id(data.get("id")) if isinstance(data, dict) else None
        if video_id is None:
            log.warning("%s: the answer has no usable job id; checking whether the job was created", entry.kind)
            self._ledger.close_intent(intent, "unidentified", answer=data)
            unexpected = UnexpectedAnswerError(entry.kind, data, secret=self.config.api_key.get_secret_value())
            found = await self._reconcile_after(unexpected, entry.kind, intent, matches, started, entry, match_key,
                                                cost)
            if found is None:
                raise unexpected
            return found
        if not self._ledger.record_answer(video_id, data, intent_id=intent, entry=entry):
            log.warning("%s was already claimed by a request whose answer was lost; it is flagged in the record",
                        video_id)
        video = self._parse(Video, data)  # never raises once the id is usable
        self._ledger.set_derived(video, cost(video))
        return video

    async def _reconcile(
        self,
        intent: str,
        matches: Callable[[Video], bool],
        started: float,
        entry: JobEntry,
        match_key: str,
        cost: Callable[[Video], float | None],
    ) -> Video | None:
        """The job a request without a clear answer created, if ``list`` shows exactly one nobody else claims.

        Raises :class:`AmbiguousJobError` (after recording the candidates) when it cannot be told.
        """
        page = await self.list_page(limit=20, order="desc")
        candidates = [
            v for v in page.data
            if matches(v) and (v.created_at is None or v.created_at >= started - RECONCILE_SKEW)
        ]
        settled = self._ledger.settle_lost_answer(
            intent, candidates, match_key=match_key, live_since=self._clock() - self._intent_lifetime(),
            entry=entry, cost=cost,
        )
        if settled.ambiguous:
            raise AmbiguousJobError(entry.kind, settled.ambiguous)
        if settled.claimed is not None:
            log.warning("found job %s created by the unanswered request; not sending it again", settled.claimed.id)
        return settled.claimed

    # ------------------------------------------------------------------ characters
    async def create_character(self, name: str, video: CharacterVideo | str | Path | bytes) -> Character:
        """Make a character from a short video (``POST /videos/characters``), or reuse the one the record holds.

        Checked before sending: the provider offers characters, the name (1 to 80 characters) and a video PyAV can
        read. The same video (by hash) and name on the same service is made once: later calls answer from the
        record with ``reused=True`` and send nothing. Characters are not jobs: there is no list to look a lost
        answer up in, so an answer that never arrived is an error and a second call makes it again.
        """
        require_characters(self.provider)
        name = validate_character_name(name)
        clip = video if isinstance(video, CharacterVideo) else load_character_video(video)
        source = video if isinstance(video, (str, Path)) else None
        # Two identical calls at once (an agent firing a tool twice, two workers sharing the record) make one
        # character: the second waits, then finds the first in the record.
        async with self.exclusive(f"character:{self.config.provider}|{self.config.base_url}|{name}|{clip.sha256}"):
            return await self._make_character(name, clip, source)

    async def _make_character(self, name: str, clip: CharacterVideo, source: Any) -> Character:
        if self.record is not None:
            row = self.record.find_character(self.config.provider, self.config.base_url, name, clip.sha256)
            if row is not None:
                return Character(id=row.id, name=row.name, created_at=int(row.created_at), reused=True)
        files = [("name", (None, name)), ("video", (clip.filename, clip.data, clip.mime_type))]
        data = await self._json("POST", "videos/characters", idempotent=False, files=files)
        character = Character.model_validate(data) if isinstance(data, dict) else Character()
        if character.id is None:
            raise ServerError(
                "The service's answer to the character request has no usable character id: "
                f"{safe_excerpt(data, secret=self.config.api_key.get_secret_value())}. Run the request again."
            )
        if self.record is not None:
            self.record.add_character(character.id, provider=self.config.provider, base_url=self.config.base_url,
                                      name=name, video_sha256=clip.sha256,
                                      video_file=str(Path(source).expanduser().absolute()) if source else None,
                                      raw=data)
        log.info("character %s made: %s", character.id, name)
        return character

    async def retrieve_character(self, character_id: str) -> Character:
        """``GET /videos/characters/{id}``: the character as the service describes it now."""
        require_characters(self.provider)
        cid = validate_character_ids(self.provider, [character_id])[0]
        data, _ = await self._get_json_retrying(f"videos/characters/{cid}")
        if not isinstance(data, dict):
            raise ServerError(f"The service's answer about character {cid} is not a JSON object: "
                              f"{safe_excerpt(data)}")
        return Character.model_validate(data if usable_id(data.get("id")) else {**data, "id": cid})

    # ------------------------------------------------------------------ reading and deleting
    async def retrieve(self, video_id: str) -> Video:
        video, _ = await self._retrieve_with_hint(video_id)
        return video

    async def _retrieve_with_hint(self, video_id: str) -> tuple[Video, float | None]:
        video_id = validate_video_id(video_id)
        data, response = await self._get_json_retrying(f"videos/{video_id}")
        video = self._parse(Video, _about(video_id, data, "status"))
        if self.record is not None:
            self.record.update(video)
        hint = response.headers.get("openai-poll-after-ms")
        return video, (int(hint) / 1000.0 if hint and hint.isdigit() else None)

    async def list_page(self, *, limit: int | None = None, order: str = "desc", after: str | None = None) -> VideoList:
        params: dict[str, Any] = {"order": order}
        if limit is not None:
            if not 0 <= limit <= 100:
                raise InvalidInputError("limit must be between 0 and 100.", param="limit")
            params["limit"] = limit
        if after:
            params["after"] = validate_video_id(after)
        if order not in ("asc", "desc"):
            raise InvalidInputError("order must be 'asc' or 'desc'.", param="order")
        data, _ = await self._get_json_retrying("videos", params=params)
        return self._parse(VideoList, data)

    async def list(
        self, *, limit: int | None = None, order: str = "desc", max_items: int | None = None
    ) -> AsyncIterator[Video]:
        """Every video of the account, page after page (``limit`` is the page size), each id yielded once.

        The service is not trusted to end the loop: paging stops when a cursor comes back again, when a page
        brings no id not already seen, or after :data:`MAX_LIST_PAGES` pages, with a warning in the log.
        """
        after: str | None = None
        seen: set[str] = set()
        cursors: set[str] = set()
        yielded = 0
        for _ in range(MAX_LIST_PAGES):
            page = await self.list_page(limit=limit, order=order, after=after)
            fresh = [v for v in page.data if v.id not in seen]
            for v in fresh:
                seen.add(v.id)
                yield v
                yielded += 1
                if max_items is not None and yielded >= max_items:
                    return
            if not page.has_more or not page.data:
                return
            after = page.last_id or page.data[-1].id
            if not fresh or after in cursors:
                log.warning("list: the service offered more pages but repeated itself (cursor %s); stopped", after)
                return
            cursors.add(after)
        log.warning("list: stopped after %d pages although the service offered more", MAX_LIST_PAGES)

    async def delete(self, video_id: str) -> DeletedVideo:
        video_id = validate_video_id(video_id)
        data = await self._json("DELETE", f"videos/{video_id}")
        if self.record is not None:
            self.record.set_status(video_id, "deleted")
        return DeletedVideo.model_validate(_about(video_id, data, "delete"))

    # ------------------------------------------------------------------ waiting
    async def poll(
        self,
        video_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
        deadline: float | None | object = _DEFAULT,
    ) -> Video:
        """Wait until the job is ``completed`` or ``failed`` and return it (the caller checks ``status``).

        Raises :class:`WaitTimeoutError` after ``deadline`` seconds and :class:`CancelledError` as soon as
        ``should_cancel()`` is true; in both cases the job keeps running on the service and stays recorded.
        """
        from .errors import WaitTimeoutError

        limit = self.poll_policy.deadline if deadline is _DEFAULT else deadline
        start = self._clock()
        fresh = self._started_at.pop(video_id, None)
        row = self.record.get(video_id) if self.record is not None else None
        # How long similar jobs took: where to look when progress says nothing.
        history = self.record.durations(row.provider, row.model, row.size, row.seconds) if row else ()
        state = PollState(self.poll_policy, started=fresh, history=history)
        if fresh is not None and (first := state.first_wait(start)) > 0:
            # Nothing to learn from a job created a moment ago: it is queued.
            await self._sleep_cancellable(first, should_cancel, video_id)
        unknown: tuple[str, float] | None = None  # a status word nobody knows, and when it was first seen
        while True:
            self._check_cancel(should_cancel, video_id)
            video, hint = await self._retrieve_with_hint(video_id)
            now = self._clock()
            state.observe(now, video.progress, video.status, video.created_at)
            if on_progress is not None:
                on_progress(ProgressEvent(video_id, video.status, video.progress, now - start, state.eta()))
            if video.is_terminal:
                return video
            unknown = self._unknown_status(video_id, unknown, video.status, now)
            interval = state.next_interval(hint)
            if limit is not None and now - start + interval > limit:  # type: ignore[operator]
                remaining = max(0.0, limit - (now - start))  # type: ignore[operator]
                if remaining <= 0:
                    raise WaitTimeoutError(video_id, now - start, video.status, video.progress)
                interval = remaining
            await self._sleep_cancellable(interval, should_cancel, video_id)

    def _unknown_status(
        self, video_id: str, seen: tuple[str, float] | None, status: str, now: float
    ) -> tuple[str, float] | None:
        """Track a status word that is not the contract's; raise once the same one has lasted too long."""
        if status in KNOWN_STATUSES:
            return None
        if seen is None or seen[0] != status:
            log.warning("job reports the unknown status %r; waiting at most %ss for a known one", status,
                        self.poll_policy.unknown_status_limit)
            return status, now
        limit = self.poll_policy.unknown_status_limit
        if limit is not None and now - seen[1] >= limit:
            raise UnknownStatusError(video_id, status, now - seen[1])
        return seen

    async def wait(self, video_id: str, **kwargs: Any) -> Video:
        """Like :meth:`poll`, but a failed job raises :class:`JobFailedError` with the service's code and message."""
        video = await self.poll(video_id, **kwargs)
        if video.status == "failed":
            err = video.error
            raise JobFailedError(video.id, err.code if err else None, err.message if err else None)
        return video

    @contextlib.asynccontextmanager
    async def job_slot(self) -> AsyncIterator[None]:
        """Hold one of this client's running-job slots (``config.max_concurrent_jobs``) while a job is created and
        awaited: the provider answers 429 "Too many running tasks" above its cap, so every caller that runs jobs
        side by side (``create_and_poll``, a storyboard's shots) shares these slots instead of keeping its own."""
        async with self._job_slots:
            yield

    async def create_and_poll(self, prompt: str, **kwargs: Any) -> Video:
        """Create and wait, holding one of the provider's job slots so concurrent callers do not trip its cap."""
        wait_kwargs = {k: kwargs.pop(k) for k in ("on_progress", "should_cancel", "deadline") if k in kwargs}
        async with self.job_slot():
            video = await self.create(prompt, **kwargs)
            return await self.poll(video.id, **wait_kwargs)

    def _check_cancel(self, should_cancel: CancelCheck | None, video_id: str | None) -> None:
        if should_cancel is not None and should_cancel():
            raise CancelledError(video_id)

    async def _sleep_cancellable(self, seconds: float, should_cancel: CancelCheck | None, video_id: str) -> None:
        """Sleep in short slices so a cancel request is honoured within a quarter of a second."""
        if should_cancel is None:
            await self._sleep(seconds)
            return
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0:
            self._check_cancel(should_cancel, video_id)
            await self._sleep(min(0.25, left))
        self._check_cancel(should_cancel, video_id)

    # ------------------------------------------------------------------ downloading
    def default_path(self, video_id: str, variant: str = "video") -> Path:
        return self.downloads_dir / f"{video_id}{VARIANT_SUFFIX[variant]}"

    async def download_content(
        self,
        video_id: str,
        output: str | Path | None = None,
        *,
        variant: str = "video",
        on_progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream one variant to ``output`` (a file or a folder; default: the downloads folder). Returns the path.

        Writes where it is told, replacing a file already there: front ends decide beforehand whether that is
        wanted (``outputs.check_output``, ``outputs.next_free_path``). A body that is not the variant's media is
        retried like a truncated one, then refused with what arrived instead; nothing is saved in that case.
        """
        video_id = validate_video_id(video_id)
        if variant not in VARIANTS:
            raise InvalidInputError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}.", param="variant")
        dest = Path(output) if output else self.default_path(video_id, variant)
        if dest.is_dir():
            dest = dest / f"{video_id}{VARIANT_SUFFIX[variant]}"
        start = self._clock()

        def report(done: int, total: int | None) -> None:
            if on_progress is not None:
                on_progress(
                    ProgressEvent(video_id, "downloading", 100, self._clock() - start, None, done, total)
                )

        last_error: Exception | None = None
        for attempt in range(self.retry.max_attempts):
            try:
                async with self._http.stream(
                    "GET", f"videos/{video_id}/content", params={"variant": variant}
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        raise error_from_response(response, provider=self.provider)
                    size = await stream_to_file(response, dest, report, media=VARIANT_MEDIA[variant])
                    log.info("downloaded %s (%d bytes in %.1fs) to %s", video_id, size, self._clock() - start, dest)
                break
            except NotFoundError as exc:
                if (exc.code or "").endswith("expired") or "expired" in exc.message.lower():
                    if self.record is not None:
                        self.record.set_status(video_id, "expired")
                    raise ExpiredError(video_id) from None
                raise
            except (IncompleteDownload, WrongContent, httpx.TransportError, ServerError) as exc:
                last_error = exc
                retry_after = exc.retry_after if isinstance(exc, ServerError) else None
                if attempt + 1 < self.retry.max_attempts:
                    await self._sleep(self.retry.delay(attempt, retry_after))
            except APIError as exc:
                if exc.status_code == 429 and attempt + 1 < self.retry.max_attempts:
                    last_error = exc
                    await self._sleep(self.retry.delay(attempt, exc.retry_after))
                    continue
                raise
        else:
            raise DownloadError(
                f"Download of {video_id} ({variant}) failed after {self.retry.max_attempts} attempts: {last_error}. "
                f"Nothing was saved to {dest}. The job is safe on the service until it expires: "
                f"retry with `sora2 download {video_id}`."
            )
        if self.record is not None:
            self.record.set_file(video_id, variant, dest.resolve())
        if on_progress is not None:
            on_progress(ProgressEvent(video_id, "downloaded", 100, self._clock() - start))
        return dest


class SoraClient:
    """Blocking facade over :class:`AsyncSoraClient` for scripts and notebooks.

    The async client runs on a private event loop in a worker thread (an anyio blocking portal), so connection
    pooling works across calls and the calling thread needs no event loop of its own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

        async def make() -> AsyncSoraClient:
            return AsyncSoraClient(*args, **kwargs)

        try:
            self._async = self._portal.call(make)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @property
    def config(self) -> ClientConfig:
        return self._async.config

    @property
    def record(self) -> JobRecord | None:
        return self._async.record

    def __repr__(self) -> str:
        return f"SoraClient(provider={self.config.provider!r}, base_url={self.config.base_url!r})"

    def __enter__(self) -> SoraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._portal_cm is not None:
            self._portal.call(self._async.aclose)
            self._portal_cm.__exit__(None, None, None)
            self._portal_cm = None  # type: ignore[assignment]

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return await fn(*args, **kwargs)

        return self._portal.call(run)

    def build_request(self, *args: Any, **kwargs: Any) -> CreateVideoRequest:
        return self._async.build_request(*args, **kwargs)

    def estimate(self, request: CreateVideoRequest) -> float:
        return self._async.estimate(request)

    def create(self, prompt: str, **kwargs: Any) -> Video:
        return self._call(self._async.create, prompt, **kwargs)

    def retrieve(self, video_id: str) -> Video:
        return self._call(self._async.retrieve, video_id)

    def list(self, **kwargs: Any) -> list[Video]:
        async def collect() -> list[Video]:
            return [v async for v in self._async.list(**kwargs)]

        return self._portal.call(collect)

    def delete(self, video_id: str) -> DeletedVideo:
        return self._call(self._async.delete, video_id)

    def create_character(self, name: str, video: Any) -> Character:
        return self._call(self._async.create_character, name, video)

    def retrieve_character(self, character_id: str) -> Character:
        return self._call(self._async.retrieve_character, character_id)

    def remix(self, video_id: str, prompt: str) -> Video:
        return self._call(self._async.remix, video_id, prompt)

    def extend(self, video_id: str, prompt: str, seconds: str | int) -> Video:
        return self._call(self._async.extend, video_id, prompt, seconds)

    def edit(self, video_id: str, prompt: str) -> Video:
        return self._call(self._async.edit, video_id, prompt)

    def poll(self, video_id: str, **kwargs: Any) -> Video:
        return self._call(self._async.poll, video_id, **kwargs)

    def wait(self, video_id: str, **kwargs: Any) -> Video:
        return self._call(self._async.wait, video_id, **kwargs)

    def create_and_poll(self, prompt: str, **kwargs: Any) -> Video:
        return self._call(self._async.create_and_poll, prompt, **kwargs)

    def download_content(self, video_id: str, output: str | Path | None = None, **kwargs: Any) -> Path:
        return self._call(self._async.download_content, video_id, output, **kwargs)
