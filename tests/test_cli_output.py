"""What the `sora2` command prints: text from users and services shown literally, and one JSON object per outcome.

Prompts, model names, paths, ids, status words and service messages can hold anything: rich markup (`[/bold]`),
emoji codes, backslashes, terminal escapes. Every command that prints runs here with arbitrary text (hypothesis)
in the job record and in the service's answers, in human and --json modes. The service is an
``httpx.MockTransport`` behind every client the CLI builds, so no clip is rendered and each example is cheap.
"""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from sora2_bridge import cli
from sora2_bridge.shared.client import AsyncSoraClient
from sora2_bridge.shared.errors import ConfigurationError
from sora2_bridge.shared.models import Video
from sora2_bridge.shared.progress import ProgressEvent
from sora2_bridge.shared.record import RECORD_FILE, JobRecord
from sora2_bridge.shared.retry import RetryPolicy

BASE = ["--provider", "local", "--base-url", "http://service.test/v1"]
VID = "video_0123456789abcdef"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(200)
EXAMPLES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TRICKY = [
    "[/bold]", "[bold red]loud[/]", "[link=https://example.com]x[/link]", "\\[not markup]", "back\\", "\\",
    ":fox_face: :x:", "\x1b[2J\x1b[31mred", "\r", "a\tb", "🦊🎬", "👩\u200d👩\u200d👧", "[", "]", "[/]",
    "{task.description} %s {0}", "line\nbreak", "\u202eevil", "\x00", "\x85\x9b", "[@click=quit]",
]
text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(TRICKY),
    st.tuples(st.sampled_from(TRICKY), st.text(max_size=20), st.sampled_from(TRICKY)).map("".join),
)
# What validation accepts as a prompt or model name. A value of exactly "--" is argparse's own separator (Python
# 3.11 drops it even from --model=--), so it cannot reach the CLI's code as a value.
words = text.filter(lambda s: s.strip() and len(s) <= 200 and s != "--")
# Ids are the one field the client holds to a shape (letters, digits, '_' and '-'): an answer whose id has another
# shape is refused as unusable before anything prints it. A status that is missing or blank reads "unknown".
ids = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
statuses = words
file_name = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=40
).filter(lambda s: s not in (".", ".."))


def video(vid: str = VID, **fields: Any) -> dict[str, Any]:
    return {"id": vid, "object": "video", "status": "queued", "progress": 0, "model": "sora-2", "size": "720x1280",
            "seconds": "4", "created_at": 1_700_000_000, **fields}


class Service:
    """A Videos API answering from ``routes``: (method, path after /v1/) -> (status, JSON body or bytes)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.requests: list[httpx.Request] = []

    def reset(self, routes: dict[tuple[str, str], tuple[int, Any]]) -> None:
        self.routes, self.requests = routes, []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path.removeprefix("/v1/"))
        if key not in self.routes:
            return httpx.Response(404, json={"error": {"message": f"no route {key}", "code": "not_found"}})
        status, body = self.routes[key]
        if isinstance(body, BaseException):
            raise body
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers={"content-type": "video/mp4"})
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def service(monkeypatch) -> Service:
    """Every client the CLI builds talks to one in-memory service, with no waiting between retries or polls."""
    svc = Service()
    factory = functools.partial(AsyncSoraClient, transport=httpx.MockTransport(svc.handle),
                                retry=RetryPolicy(base_delay=0, max_delay=0), sleep=_no_sleep)
    monkeypatch.setattr(cli, "AsyncSoraClient", factory)
    return svc


@pytest.fixture
def fresh_data(monkeypatch, tmp_path) -> Callable[[], Path]:
    """A new, empty data folder (job record) per hypothesis example."""

    def make() -> Path:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        monkeypatch.setenv("SORA2_DATA_DIR", str(folder))
        return folder

    return make


def run(*argv: str, width: int = 100_000) -> tuple[int, str, str]:
    """``sora2 ARGV`` in-process with consoles of ``width`` (by default so wide that table cells are never cut):
    (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = cli.out, cli.err
    cli.out = Console(file=stdout, width=width, soft_wrap=True)
    cli.err = Console(file=stderr, width=width, soft_wrap=True)
    try:
        rc = cli.main(list(argv))
    finally:
        cli.out, cli.err = saved
    return rc, stdout.getvalue(), stderr.getvalue()


def one_json(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON object (json.loads refuses trailing data)."""
    data = json.loads(stdout)
    assert isinstance(data, dict), stdout
    return data


def shown(value: Any, *, one_line: bool = False) -> str:
    return cli.visible("" if value is None else value, one_line=one_line)


# ---------------------------------------------------------------------------------------------- the escaping itself
@given(text)
@EXAMPLES
def test_visible_keeps_printable_text_and_escapes_only_control_characters(value):
    out = cli.visible(value)
    assert not any(c != "\n" and (c < " " or "\x7f" <= c <= "\x9f" or c in "\u2028\u2029") for c in out)
    if value.isprintable():
        assert out == value  # brackets, backslashes, emoji codes and all other printable text stay as they are


@given(text)
@EXAMPLES
def test_say_prints_markup_emoji_codes_and_backslashes_as_they_are(value):
    buf = io.StringIO()
    cli.say(Console(file=buf, width=100_000, soft_wrap=True), value)
    assert buf.getvalue() == cli.visible(value) + "\n"


# ---------------------------------------------------------------------------------------------- every command
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(prompt=words, model=words, answer_id=ids, status=statuses)
@EXAMPLES
def test_generate_no_wait(service, fresh_data, as_json, prompt, model, answer_id, status):
    fresh_data()
    service.reset({("POST", "videos"): (200, video(answer_id, status=status, model=model, prompt=prompt))})
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "generate", "--no-wait", f"--model={model}",
                             "--", prompt)
    assert rc == 0, stderr
    assert len(service.requests) == 1
    if as_json:
        data = one_json(stdout)
        assert (data["id"], data["status"], data["prompt"]) == (answer_id, status, prompt)
    else:
        assert shown(model.strip()) in stderr and shown(f"Created {answer_id}") in stderr
        assert shown(f"Started {answer_id} ({status}). Collect it with: sora2 download {answer_id}") in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(prompt=words, code=text, message=text, status_word=statuses)
@EXAMPLES
def test_generate_whose_job_fails(service, fresh_data, as_json, prompt, code, message, status_word):
    fresh_data()
    service.reset({
        ("POST", "videos"): (200, video(status=status_word, prompt=prompt)),
        ("GET", f"videos/{VID}"): (200, video(status="failed", error={"code": code, "message": message})),
    })
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "generate", "--", prompt)
    assert rc == 1, stderr
    if as_json:
        error = one_json(stdout)["error"]
        assert error["video_id"] == VID and error["code"] == (code or "job_failed")
        assert (message or "no message") in error["message"]
    else:
        assert stdout == "" and shown(message or "no message") in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(status=statuses, progress=st.integers(0, 100), code=text, message=text, path=text)
@EXAMPLES
def test_status(service, fresh_data, as_json, status, progress, code, message, path):
    record = JobRecord(fresh_data() / RECORD_FILE)
    record.add(Video(id=VID), provider="local", base_url="http://service.test/v1", kind="create", request={},
               cost_usd=None)
    record.set_file(VID, "video", path)
    record.close()
    answer = video(status=status, progress=progress, error={"code": code, "message": message})
    service.reset({("GET", f"videos/{VID}"): (200, answer)})
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "status", VID)
    assert rc == (1 if status == "failed" else 0), stderr
    if as_json:
        data = one_json(stdout)
        assert (data["status"], data["error"]["message"], data["local_files"]["video"]) == (status, message, path)
    else:
        assert shown(f"{VID}: {status} {progress}% - {code}: {message}") in stdout
        assert (not path or shown(f"saved at {path}") in stdout)


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(name=file_name, model=text, size=text, seconds=text)
@EXAMPLES
def test_download_to_any_file_name(service, fresh_data, tmp_path, as_json, name, model, size, seconds):
    fresh_data()
    dest = Path(tempfile.mkdtemp(dir=tmp_path)) / name
    service.reset({
        ("GET", f"videos/{VID}"): (200, video(status="completed", progress=100, model=model, size=size,
                                              seconds=seconds)),
        ("GET", f"videos/{VID}/content"): (200, MP4),
    })
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "download", VID, f"--output={dest}")
    assert rc == 0, stderr
    assert dest.read_bytes() == MP4
    if as_json:
        data = one_json(stdout)
        assert (data["file"], data["model"], data["size"]) == (str(dest), model, size)
    else:
        assert shown(f"Saved {dest} ({VID}, {seconds}s {size})") in stdout


@pytest.mark.parametrize("command", ["remix", "extend", "edit"])
@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(prompt=words, answer_id=ids, status=statuses, model=text)
@EXAMPLES
def test_remix_extend_edit_no_wait(service, fresh_data, command, as_json, prompt, answer_id, status, model):
    fresh_data()
    path = {"remix": f"videos/{VID}/remix", "extend": "videos/extensions", "edit": "videos/edits"}[command]
    service.reset({("POST", path): (200, video(answer_id, status=status, model=model, prompt=prompt))})
    extra = ["--seconds=4"] if command == "extend" else []
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), command, "--no-wait", *extra, "--", VID,
                             prompt)
    assert rc == 0, stderr
    if as_json:
        data = one_json(stdout)
        assert (data["id"], data["status"], data["model"]) == (answer_id, status, model)
    else:
        assert shown(f"Started {answer_id} ({status}). Collect it with: sora2 download {answer_id}") in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(st.lists(st.tuples(ids, statuses, text, text, text, text), min_size=1, max_size=4, unique_by=lambda r: r[0]))
@EXAMPLES
def test_list_from_the_service(service, fresh_data, as_json, rows):
    fresh_data()
    answers = [video(vid, status=status, model=model, size=size, seconds=secs, prompt=prompt)
               for vid, status, model, size, secs, prompt in rows]
    service.reset({("GET", "videos"): (200, {"object": "list", "data": answers, "has_more": False})})
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "list")
    assert rc == 0, stderr
    if as_json:
        assert [v["id"] for v in one_json(stdout)["data"]] == [r[0] for r in rows]
    else:
        for vid, status, model, size, secs, prompt in rows:
            for value in (vid, status, model, size, secs, prompt[:50]):
                assert shown(value, one_line=True) in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(st.lists(st.tuples(text, text, text, text, text, text, text), min_size=1, max_size=4,
                unique_by=lambda r: r[0]))
@EXAMPLES
def test_list_local_record(fresh_data, as_json, rows):
    record = JobRecord(fresh_data() / RECORD_FILE)
    for vid, provider, status, model, size, prompt, path in rows:
        record.add(Video(id=vid, status=status, model=model, size=size, seconds="4", prompt=prompt),
                   provider=provider, base_url="http://service.test/v1", kind="create", request={}, cost_usd=0.4)
        record.set_file(vid, "video", path)
    stored = record.list(100)
    record.close()
    rc, stdout, stderr = run(*(["--json"] if as_json else []), "list", "--local")
    assert rc == 0, stderr
    if as_json:
        # the ids as the record keeps them (blanks around an id are not part of it: "0 " is job "0")
        assert {r["id"] for r in one_json(stdout)["data"]} == {row.id for row in stored}
    else:
        for row in stored:
            cells = (row.id, row.provider, row.status, row.model, row.size, row.video_file, (row.prompt or "")[:40])
            for value in cells:
                assert shown(value, one_line=True) in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(answer_id=text)
@EXAMPLES
def test_delete(service, fresh_data, as_json, answer_id):
    fresh_data()
    service.reset({("DELETE", f"videos/{VID}"): (200, {"id": answer_id, "object": "video.deleted", "deleted": True})})
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "delete", VID)
    assert rc == 0, stderr
    deleted = answer_id.strip() if re.fullmatch(r"[A-Za-z0-9_-]{1,200}", answer_id.strip()) else VID
    if as_json:
        assert one_json(stdout)["id"] == deleted
    else:
        assert shown(f"Deleted {deleted}") in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(model=words)
@EXAMPLES
def test_cost_of_any_model_name(as_json, model):
    rc, stdout, stderr = run("--provider", "local", *(["--json"] if as_json else []), "cost", f"--model={model}")
    assert rc == 0, stderr
    if as_json:
        assert one_json(stdout)["model"] == model.strip()
    else:
        assert shown(model.strip()) in stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@given(http=st.sampled_from([400, 401, 403, 404, 422]), code=text, message=text, param=text)
@EXAMPLES
def test_service_errors(service, fresh_data, as_json, http, code, message, param):
    fresh_data()
    service.reset({("GET", f"videos/{VID}"): (http, {"error": {"code": code, "message": message, "param": param}})})
    rc, stdout, stderr = run(*BASE, *(["--json"] if as_json else []), "status", VID)
    assert rc == 1, stderr
    if as_json:
        error = one_json(stdout)["error"]
        assert error["video_id"] == VID and message in error["message"]
        assert error["code"] == code if code else error["code"]
        if http in (401, 403, 404):
            assert error["hint"]  # what the user can do, as its own field
    else:
        assert stdout == "" and shown(message) in stderr and "Traceback" not in stderr


@given(video_id=text, status=text, progress=st.integers(0, 100))
@EXAMPLES
def test_progress_bar_shows_the_services_words_as_text(monkeypatch, video_id, status, progress):
    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, width=100_000, force_terminal=True, color_system=None))
    with cli.progress_bar(True) as update:
        update(ProgressEvent(video_id, status, progress, 1.0))
    assert shown(f"{video_id}: {status}", one_line=True) in buf.getvalue()


# ---------------------------------------------------------------------------------------------- --json: one object
def _failed_job(svc: Service) -> None:
    svc.reset({("POST", "videos"): (200, video()),
               ("GET", f"videos/{VID}"): (200, video(status="failed", error={"code": "moderation_blocked"}))})


def _rendering_forever(svc: Service) -> None:
    svc.reset({("POST", "videos"): (200, video()), ("GET", f"videos/{VID}"): (200, video(status="in_progress"))})


def _interrupted_while_waiting(svc: Service) -> None:
    svc.reset({("POST", "videos"): (200, video()), ("GET", f"videos/{VID}"): (200, KeyboardInterrupt())})


def _unreachable(svc: Service) -> None:
    svc.reset({("GET", f"videos/{VID}"): (200, httpx.ConnectError("refused"))})


def _not_found(svc: Service) -> None:
    svc.reset({("GET", f"videos/{VID}"): (404, {"error": {"message": "gone"}})})


def _completed(svc: Service) -> None:
    svc.reset({("POST", "videos"): (200, video()),
               ("GET", f"videos/{VID}"): (200, video(status="completed", progress=100)),
               ("GET", f"videos/{VID}/content"): (200, MP4)})


# (outcome, service setup, argv after --json, exit code, error code or None for success, video_id in the error)
OUTCOMES = [
    ("success", _completed, [*BASE, "generate", "a fox", "-o", "fox.mp4"], 0, None, None),
    ("started", _completed, [*BASE, "generate", "a fox", "--no-wait"], 0, None, None),
    ("list", _completed, [*BASE, "list", "--local"], 0, None, None),
    ("bad input", None, [*BASE, "generate", " "], 2, "invalid_input", None),
    ("output exists", None, [*BASE, "download", VID, "-o", "{existing}"], 2, "invalid_input", VID),
    ("configuration", None, ["--provider", "openai", "status", VID], 2, "configuration", VID),
    ("usage: missing argument", None, ["generate"], 2, "usage", None),
    ("usage: unknown command", None, ["render", "x"], 2, "usage", None),
    ("usage: bad choice", None, ["download", VID, "--variant", "gif"], 2, "usage", None),
    ("usage: timeout not positive", None, ["generate", "x", "--timeout", "-5"], 2, "usage", None),
    ("service error", _not_found, [*BASE, "status", VID], 1, "not_found", VID),
    ("connection", _unreachable, [*BASE, "status", VID], 1, "connection", VID),
    ("job failed", _failed_job, [*BASE, "generate", "a fox"], 1, "moderation_blocked", VID),
    ("timeout", _rendering_forever, [*BASE, "generate", "a fox", "--timeout", "0.01"], 1, "timeout", VID),
    ("interrupted", _interrupted_while_waiting, [*BASE, "generate", "a fox"], 130, "interrupted", VID),
]


@pytest.mark.parametrize("setup,argv,exit_code,code,video_id", [o[1:] for o in OUTCOMES], ids=[o[0] for o in OUTCOMES])
def test_every_outcome_is_one_json_object(service, tmp_path, setup, argv, exit_code, code, video_id):
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    if setup:
        setup(service)
    rc, stdout, stderr = run("--json", *[a.format(existing=existing) for a in argv])
    assert rc == exit_code, stderr
    data = one_json(stdout)
    if code is None:  # a result: a video may carry the service's "error": null, never our error object alone
        assert set(data) != {"error"}
        return
    assert set(data) == {"error"}
    error = data["error"]
    assert set(error) == {"code", "message", "hint", "param", "video_id"}
    assert error["code"] == code and error["message"] and error["video_id"] == video_id
    assert existing.read_bytes() == b"keep me"


def test_json_after_the_command_and_abbreviated_also_answers_usage_errors_in_json():
    for argv in (["list", "--limit", "0", "--json"], ["--js", "list", "--limit", "x"]):
        rc, stdout, _ = run(*argv)
        assert rc == 2 and one_json(stdout)["error"]["code"] == "usage"


def test_the_services_hint_reaches_the_user(service):
    _not_found(service)
    rc, stdout, stderr = run(*BASE, "status", VID)
    assert rc == 1 and stdout == "" and "check the video id" in stderr


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_hint_kept_apart_from_the_message_is_shown_too(monkeypatch, as_json):
    error = ConfigurationError("SORA2_CONFIG names a folder [/bold]")
    error.hint = "point SORA2_CONFIG at a file"

    async def failing(args):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "cost", failing)
    rc, stdout, stderr = run(*(["--json"] if as_json else []), "cost")
    assert rc == 2
    if as_json:
        assert one_json(stdout)["error"]["hint"] == "point SORA2_CONFIG at a file"
    else:
        assert "error: SORA2_CONFIG names a folder [/bold]\nhint: point SORA2_CONFIG at a file" in stderr


def test_interrupted_while_waiting_tells_how_to_collect(service):
    _interrupted_while_waiting(service)
    rc, _, stderr = run(*BASE, "generate", "a fox")
    assert rc == 130 and f"sora2 download {VID}" in stderr and "keeps rendering" in stderr
