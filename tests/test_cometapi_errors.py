"""The classes of CometAPI's answers, as properties: what an error says decides its class and whether the request
is sent again; request ids come from the header or the message and are shown once; status words map per provider;
a status nobody knows ends the wait; a failing reconciliation never hides the error that caused it; the simulator
answers in CometAPI's dialect; the config file can add models to a provider's table."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2_bridge.shared import AsyncSoraClient, ConnectionFailedError, RetryPolicy, resolve_config
from sora2_bridge.shared.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentPolicyError,
    InsufficientBalanceError,
    InvalidRequestError,
    JobFailedError,
    ModelNotFoundError,
    ServerError,
    UnknownStatusError,
    error_from_response,
)
from sora2_bridge.shared.models import Video
from sora2_bridge.shared.polling import PollPolicy
from sora2_bridge.shared.providers import COMETAPI, OPENAI
from sora2_bridge.shared.simulator import SimulatorConfig, create_app

BASE_URL = "https://api.cometapi.com/v1"  # the documented base URL; every exchange here is served by a mock
words = st.text(st.characters(codec="utf-8", exclude_characters="()"), max_size=40)


def answer(status: int, body, headers=None, method="POST", path="videos") -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {},
                          request=httpx.Request(method, f"{BASE_URL}/{path}"))


def comet(code, message, rid="2026031206195123"):
    return {"error": {"code": code, "message": f"{message} (request id: {rid})", "type": "comet_api_error",
                      "param": ""}}


class Service:
    """A scripted service: ``answers`` for POST /videos in turn, ``list_answer`` for GET /videos."""

    def __init__(self, answers, list_answer=None, retrieve=None):
        self.answers, self.list_answer, self.retrieve = list(answers), list_answer, retrieve
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if request.url.path.endswith("/videos"):
            return self.list_answer or httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        return self.retrieve(request)


def run_create(service: Service, **kwargs) -> Exception | Video:
    async def go():
        async def no_sleep(s: float) -> None:
            return None

        cfg = resolve_config("cometapi", api_key="sk-test-comet-errors", env={})
        async with AsyncSoraClient(cfg, record=False, transport=httpx.MockTransport(service), sleep=no_sleep,
                                   retry=RetryPolicy(max_attempts=3)) as c:
            try:
                return await c.create("a fox", size="1280x720", **kwargs)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                return exc

    return asyncio.run(go())


@settings(max_examples=60, deadline=None)
@given(status=st.sampled_from([400, 404, 409, 429, 500, 502, 503, 504]), code=st.sampled_from(
    ["model_not_found", "invalid_request"]), message=words)
def test_refusals_are_one_post_whatever_their_status(status, code, message):
    service = Service([httpx.Response(status, json=comet(code, message))])
    exc = run_create(service)
    assert isinstance(exc, (ModelNotFoundError, InvalidRequestError)) and not exc.transient
    assert service.calls == ["POST /v1/videos"]  # no retry, no reconciling list


@settings(max_examples=60, deadline=None)
@given(status=st.sampled_from([400, 402, 403, 429, 500, 503]), phrase=st.sampled_from(
    ["user quota is not enough", "Insufficient balance", "insufficient credit on this account",
     "You exceeded your current quota"]), flat=st.booleans(), before=words)
def test_balance_errors_in_any_shape(status, phrase, flat, before):
    message = f"{before} {phrase}"
    body = {"code": None, "message": message} if flat else {"error": {"message": message, "code": None}}
    exc = error_from_response(answer(status, body), provider=COMETAPI)
    assert isinstance(exc, InsufficientBalanceError) and not isinstance(exc, AuthenticationError)
    assert not exc.transient and "top up your balance at the provider" in str(exc)


@settings(max_examples=60, deadline=None)
@given(rid=st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=30),
       header=st.one_of(st.none(), st.just("req_abc123")), message=words)
def test_request_id_from_header_or_message_shown_once(rid, header, message):
    headers = {"x-request-id": header} if header else {}
    exc = error_from_response(answer(503, comet("model_not_found", message, rid), headers), provider=COMETAPI)
    expected = header or rid
    assert exc.request_id == expected and str(exc).count(f"request id {expected}") == 1
    assert "(request id:" not in str(exc) and "(request id:" not in exc.message


@pytest.mark.parametrize("code,message", [
    (None, "Your request was blocked by our moderation system."),
    ("moderation_blocked", "blocked"),
    ("", "This content violates our content policy"),
])
def test_moderation_by_code_or_by_message(code, message):
    assert JobFailedError("video_x", code or None, message).is_content_policy
    assert "rephrase" in str(JobFailedError("video_x", code or None, message))
    exc = error_from_response(answer(400, {"error": {"code": code, "message": message}}))
    assert isinstance(exc, ContentPolicyError) and not exc.transient


def test_transient_server_errors_stay_transient():
    for status in (500, 502, 503, 504):
        exc = error_from_response(answer(status, comet("", "upstream error")), provider=COMETAPI)
        assert isinstance(exc, ServerError) and exc.transient


@settings(max_examples=80, deadline=None)
@given(word=st.sampled_from(["SUCCESS", "FAILED", "ERROR", "error", "SUBMITTED", "IN_PROGRESS", "completed"]),
       case=st.sampled_from([str.upper, str.lower, str.title, lambda w: w]))
def test_status_words_map_per_provider_case_insensitively(word, case):
    expected = {"success": "completed", "failed": "failed", "error": "failed", "submitted": "queued",
                "in_progress": "in_progress", "completed": "completed"}[word.lower()]
    data = {"id": "task_1", "status": case(word)}
    assert Video.model_validate(data, context={"status_words": COMETAPI.status_words}).status == expected
    # OpenAI has no such words: they stay as they are (and then end the wait through the unknown-status bound)
    if word.lower() not in ("completed", "failed", "in_progress"):
        assert Video.model_validate(data, context={"status_words": OPENAI.status_words}).status == case(word)


async def test_an_unknown_status_ends_the_wait_after_the_bound():
    now = [1_000.0]

    async def sleep(s: float) -> None:
        now[0] += s

    polls = []

    def retrieve(request):
        polls.append(now[0])
        return httpx.Response(200, json={"id": "task_9", "status": "PENDING_REVIEW", "progress": 0})

    cfg = resolve_config("cometapi", api_key="sk-test-comet-errors", env={})
    async with AsyncSoraClient(cfg, record=False, transport=httpx.MockTransport(Service([], retrieve=retrieve)),
                               clock=lambda: now[0], sleep=sleep,
                               poll_policy=PollPolicy(unknown_status_limit=600.0)) as c:
        with pytest.raises(UnknownStatusError) as exc:
            await c.poll("task_9")
    waited = polls[-1] - polls[0]
    assert 600.0 <= waited < 3600.0 and "'PENDING_REVIEW'" in str(exc.value) and "local record" in str(exc.value)


def test_a_failing_reconciliation_after_a_timeout_keeps_the_cause_and_sends_nothing_again():
    service = Service([httpx.ReadTimeout("read timed out")],
                      list_answer=httpx.Response(403, json={"code": None, "message": "user quota is not enough"}))
    exc = run_create(service)
    assert isinstance(exc, ConnectionFailedError)
    text = str(exc)
    assert text.startswith("The create request got no answer (ReadTimeout)")
    assert text.index("ReadTimeout") < text.index("also failed") < text.index("top up your balance")
    assert service.calls == ["POST /v1/videos", "GET /v1/videos"]  # a job may exist: not sent again


# ---------------------------------------------------------------------------------------------- the simulator
@pytest.fixture
async def comet_sim(sim_media_dir):
    config = SimulatorConfig(instant=True, media_dir=sim_media_dir, dialect="cometapi")
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim/v1",
                                 headers={"Authorization": "Bearer k"}) as http:
        yield app, http


async def test_simulator_answers_in_cometapis_shapes(comet_sim):
    app, http = comet_sim
    r = await http.post("/videos", json={"prompt": "a fox", "model": "sora-2-all"})
    assert r.status_code == 503 and "x-request-id" not in r.headers
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["type"] == "comet_api_error" and "(request id: " in err["message"]
    r = await http.post("/videos", json={"prompt": "a fox", "seconds": "7"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "invalid_request"
    app.state.sim.faults.config.quota_exhausted_next = 1
    r = await http.post("/videos", json={"prompt": "a fox"})
    assert (r.status_code, r.json()) == (403, {"code": None, "message": "user quota is not enough"})
    r = await http.post("/videos", json={"prompt": "a fox __policy__"})
    assert r.status_code == 200 and "x-request-id" not in r.headers
    failed = (await http.get(f"/videos/{r.json()['id']}")).json()
    assert failed["status"] == "failed" and failed["error"]["code"] is None


async def test_client_reads_the_simulators_cometapi_dialect(comet_sim):
    app, _ = comet_sim
    cfg = resolve_config("local", "http://sim/v1", env={})
    async with AsyncSoraClient(cfg, record=False, transport=httpx.ASGITransport(app=app)) as c:
        with pytest.raises(ModelNotFoundError) as exc:
            await c.create("a fox", model="sora-2-all")
    assert exc.value.model == "sora-2-all" and exc.value.request_id and app.state.sim.stats()["jobs_created"] == 0
    assert app.state.sim.requests["create"] == 1 and app.state.sim.requests["list"] == 0


# ---------------------------------------------------------------------------------------------- config overrides
def test_config_file_adds_a_model_to_the_providers_table(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[providers.cometapi.models."sora-2-all"]\nprice_per_second = 0.12\n'
                    'sizes = ["1280x720"]\nseconds = [4, 8]\n')
    cfg = resolve_config("cometapi", api_key="sk-test-comet-errors", env={"SORA2_CONFIG": str(path)})
    spec = cfg.provider_spec.model("sora-2-all")
    assert spec.sizes == ("1280x720",) and spec.seconds == ("4", "8") and spec.price_for("1280x720") == 0.12
    assert cfg.provider_spec.model("sora-2").price_for("1280x720") == 0.10  # the rest of the table stays


def test_a_bad_override_names_the_table_to_fix(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[providers.cometapi.models.x]\nprice_per_second = "cheap"\n')
    with pytest.raises(ConfigurationError, match=r"\[providers\.cometapi\.models\.x\]"):
        resolve_config("cometapi", api_key="sk-test-comet-errors", env={"SORA2_CONFIG": str(path)})


def test_a_key_the_service_repeats_is_redacted():
    resolve_config("cometapi", api_key="sk-test-comet-errors", env={})  # registers the key as a secret
    exc = error_from_response(answer(503, comet("model_not_found", "no channel for sk-test-comet-errors")),
                              provider=COMETAPI)
    assert "sk-test-comet-errors" not in json.dumps(exc.args)
