"""A paid job reaches the record whatever its answer looks like.

Answers are generated with every field missing, null, of another JSON type or an unknown word, plus unknown extra
fields, and served to the real client for create, remix, extend and edit. The only exception allowed is a
Sora2Error with a readable one-line message; an answer with a usable id always ends in the record with its raw JSON.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora2_bridge.shared import AsyncSoraClient, JobRecord, Sora2Error, Video, resolve_config
from sora2_bridge.shared.answers import UnexpectedAnswerError
from sora2_bridge.shared.models import usable_id
from sora2_bridge.shared.pricing import format_usd

KEY = "sk-test-secret-key-123"
FIELDS = ("object", "model", "status", "progress", "created_at", "completed_at", "expires_at", "prompt", "size",
          "seconds", "remixed_from_video_id", "error")
SOURCE = "video_source1"


def good_answer(vid: str, prompt: str) -> dict[str, Any]:
    return {"id": vid, "object": "video", "model": "sora-2", "status": "queued", "progress": 0,
            "created_at": int(time.time()), "completed_at": None, "expires_at": None, "prompt": prompt,
            "size": "720x1280", "seconds": "4", "remixed_from_video_id": None, "error": None}


# Any JSON value, including the ones Python's json module lets through (NaN, infinities, huge integers) and text
# with lone surrogates (valid JSON escapes that cannot be encoded as UTF-8).
any_text = st.text(st.characters(codec=None), max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3), max_leaves=6
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[dict[str, Any] | Any, str]:
    """A job-creating answer with some fields missing, null, mistyped or unknown words, and extra fields."""
    vid = f"video_{uuid.UUID(int=draw(st.integers(0, 2**64))).hex}"
    prompt = "a fox"
    answer: dict[str, Any] = draw(st.dictionaries(any_text, json_values, max_size=3))
    for name, value in good_answer(vid, prompt).items():
        action = draw(st.sampled_from(("keep", "keep", "missing", "null", "other", "word")))
        if action == "keep":
            answer[name] = value
        elif action == "null":
            answer[name] = None
        elif action == "other":
            answer[name] = draw(json_values)
        elif action == "word":
            answer[name] = draw(any_text)
        else:
            answer.pop(name, None)
    if draw(st.integers(0, 9)) == 0:  # now and then an answer that is not an object at all
        return draw(json_values), prompt
    return answer, prompt


def serve(answer: Any, listed: list[dict[str, Any]]) -> httpx.MockTransport:
    body = json.dumps(answer).encode()  # ASCII escapes: lone surrogates travel as the service would send them

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        if request.method == "GET" and request.url.path == "/v1/videos":
            return httpx.Response(200, json={"object": "list", "data": listed, "has_more": False})
        return httpx.Response(404, json={"error": {"message": "not here"}})

    return httpx.MockTransport(handler)


async def start(kind: str, answer: Any, prompt: str, listed: list[dict[str, Any]] | None = None):
    record = JobRecord(":memory:")
    cfg = resolve_config("custom", "https://sora.test/v1", KEY, env={})
    async with AsyncSoraClient(cfg, transport=serve(answer, listed or []), record=record) as client:
        if kind == "create":
            video = await client.create(prompt)
        elif kind == "extend":
            video = await client.extend(SOURCE, prompt, 4)
        else:
            video = await getattr(client, kind)(SOURCE, prompt)
        # What front ends show next must not fail either.
        format_usd(client.cost_of(video)), video.width_height, video.is_terminal
    return video, record


def assert_readable(message: str) -> None:
    assert message and "\n" not in message and len(message) < 600 and message.isprintable()
    assert KEY not in message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(("create", "remix", "extend", "edit")), answer_prompt=answers())
def test_any_answer_is_recorded_or_refused_readably(kind, answer_prompt):
    answer, prompt = answer_prompt
    vid = usable_id(answer.get("id")) if isinstance(answer, dict) else None
    try:
        video, record = asyncio.run(start(kind, answer, prompt))
    except Sora2Error as exc:
        assert vid is None, f"an answer with id {vid} was refused: {exc}"
        assert isinstance(exc, UnexpectedAnswerError) and "no job id" in str(exc)
        assert_readable(str(exc))
        assert json.dumps(exc.answer) == json.dumps(answer)  # kept whole for whoever handles the error
        return
    assert vid is not None and video.id == vid
    row = record.get(vid)
    assert row is not None and row.kind == kind
    assert json.dumps(row.raw) == json.dumps(answer)  # the raw answer, as received
    assert isinstance(row.status, str) and row.status
    assert row.cost_usd is None or row.cost_usd >= 0
    assert record.claims() == {vid: record.intents()[0]["id"]}
    assert [i["state"] for i in record.intents()] == ["answered"]
    assert_readable(format_usd(row.cost_usd))


@pytest.mark.parametrize("kind", ["remix", "edit", "extend", "create"])
@pytest.mark.parametrize("seconds", ["4.5", 4.5, "four", None, [4], True, 10**400])
def test_odd_lengths_leave_the_cost_unknown_or_computed_never_a_crash(kind, seconds):
    answer = {**good_answer("video_odd", "a fox"), "seconds": seconds}
    video, record = asyncio.run(start(kind, answer, "a fox"))
    row = record.get("video_odd")
    assert row.raw == answer or seconds == 10**400  # an integer that large survives only as text
    if kind in ("remix", "edit"):
        expected_known = seconds in ("4.5", 4.5)
        assert (row.cost_usd is not None) == expected_known
        if row.cost_usd is None:
            assert format_usd(row.cost_usd) == "unknown"


def test_unknown_status_words_stay_and_unreadable_ones_say_unknown():
    assert Video.model_validate({"id": "v1", "status": "rendering_phase_2"}).status == "rendering_phase_2"
    assert Video.model_validate({"id": "v1", "status": 3}).status == "unknown"
    assert Video.model_validate({"id": "v1"}).status == "queued"


def test_answer_without_id_is_looked_up_in_the_list_and_adopted_when_unique():
    listed = [good_answer("video_found", "a fox")]
    video, record = asyncio.run(start("create", {"status": "queued", "prompt": "a fox"}, "a fox", listed))
    assert video.id == "video_found" and record.get("video_found").kind == "create"
    (intent,) = record.intents()
    assert intent["state"] == "unidentified" and intent["answer"] == {"status": "queued", "prompt": "a fox"}
    assert record.claims() == {"video_found": intent["id"]}


def test_answer_without_id_keeps_the_answer_and_quotes_it_without_the_key():
    record = JobRecord(":memory:")
    answer = {"message": f"ok, created for key {KEY}", "job": {"uuid": 7}}
    cfg = resolve_config("custom", "https://sora.test/v1", KEY, env={})

    async def run():
        async with AsyncSoraClient(cfg, transport=serve(answer, []), record=record) as client:
            await client.create("a fox")

    with pytest.raises(UnexpectedAnswerError) as exc:
        asyncio.run(run())
    assert "no job id" in str(exc.value) and "sora2 list" in str(exc.value) and "[redacted]" in str(exc.value)
    assert_readable(str(exc.value))
    assert record.intents()[0]["answer"] == answer and record.list() == []


def test_record_made_before_the_raw_column_opens_and_gains_it(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, provider TEXT NOT NULL, base_url TEXT NOT NULL, kind TEXT NOT NULL,
            source_id TEXT, model TEXT, size TEXT, seconds TEXT, prompt TEXT, request TEXT NOT NULL, request_key TEXT,
            cost_usd REAL, status TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0, error_code TEXT,
            error_message TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, completed_at INTEGER,
            expires_at INTEGER, files TEXT NOT NULL DEFAULT '{}');
        INSERT INTO jobs (id, provider, base_url, kind, request, status, created_at, updated_at)
            VALUES ('video_old', 'cometapi', 'https://x/v1', 'create', '{"prompt": "a fox"}', 'completed', 1, 1);
    """)
    old.commit()
    old.close()

    record = JobRecord(path)
    columns = {c["name"] for c in inspect(record.db.engine).get_columns("jobs")}
    assert {"raw", "note"} <= columns
    assert record.get("video_old").raw is None and record.get("video_old").status == "completed"
    assert record.known_ids() == {"video_old"}
    record.add(Video.model_validate(good_answer("video_new", "a cat")), provider="p", base_url="u", kind="create",
               request={}, cost_usd=None)
    assert record.get("video_new").raw["prompt"] == "a cat"
    record.close()
    JobRecord(path).close()  # opening again is a no-op


def serve_about(answer: Any) -> httpx.MockTransport:
    body = json.dumps(answer).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer_prompt=answers(), op=st.sampled_from(("retrieve", "delete")))
def test_any_answer_about_a_named_job_is_read_or_refused_readably(answer_prompt, op):
    """A status or delete answer is about the job we named: a missing or garbled id is not a crash."""
    answer, _ = answer_prompt

    async def run() -> Any:
        cfg = resolve_config("custom", "https://sora.test/v1", KEY, env={})
        async with AsyncSoraClient(cfg, transport=serve_about(answer), record=JobRecord(":memory:")) as client:
            return await getattr(client, op)(SOURCE)

    try:
        result = asyncio.run(run())
    except Sora2Error as exc:
        assert not isinstance(answer, dict), f"an object answer was refused: {exc}"
        assert_readable(str(exc))
        return
    assert isinstance(answer, dict)
    assert result.id == (usable_id(answer.get("id")) or SOURCE)
