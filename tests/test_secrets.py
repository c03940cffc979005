"""The key never leaves in someone else's words: whatever a service answers, no error or log line repeats the key.

A provider may echo the key it received (a 401 "Incorrect API key provided: ..."). The key is registered when the
configuration is built and removed where service text becomes our errors and in the log filter every front end
installs; base URLs carrying credentials are refused before anything is sent.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora2_bridge.cli import main
from sora2_bridge.shared import ConfigurationError, resolve_config
from sora2_bridge.shared.config import LOCAL_PLACEHOLDER_KEY
from sora2_bridge.shared.errors import APIError, DownloadError, JobFailedError, error_from_response
from sora2_bridge.shared.redact import (
    MARKER,
    MIN_SECRET_LENGTH,
    RedactingFilter,
    forget_secrets,
    install_log_redaction,
    redact,
    register_secret,
)

KEY = "sk-proj-FakeEcho0123456789abcdefGHIJ"


@pytest.fixture(autouse=True)
def fresh_secrets() -> Iterator[None]:
    """Throwaway keys must not stay registered for later tests (they would redact ordinary text there)."""
    forget_secrets()
    yield
    forget_secrets()


# ---------------------------------------------------------------------------------------------- the property
# Keys as a header can carry them (the configuration refuses anything else), at least 8 characters.
keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=MIN_SECRET_LENGTH, max_size=60)
words = st.text(max_size=80)


@st.composite
def service_answers(draw: st.DrawFn, key: str) -> httpx.Response:
    """An HTTP error whose body repeats ``key`` anywhere: in any field of the error envelope, in a flat body,
    in raw text or HTML, as given or URL-encoded or spaced out by a line break."""
    echo = draw(st.sampled_from([key, quote(key, safe=""), f"{key[:4]}\n  {key[4:]}", key.upper()]))
    text = draw(words) + echo + draw(words)
    fields = {name: draw(st.sampled_from([text, None, draw(words)])) for name in ("code", "param", "type")}
    shape = draw(st.sampled_from(["envelope", "flat", "raw", "html"]))
    if shape == "envelope":
        field = draw(st.sampled_from(["message", "code", "param", "type"]))
        body = json.dumps({"error": {"message": draw(words), **fields, field: text}}).encode()
        ctype = "application/json"
    elif shape == "flat":
        body, ctype = json.dumps({"code": None, "message": text}).encode(), "application/json"
    elif shape == "raw":
        body, ctype = text.encode("utf-8", "surrogatepass"), "text/plain"
    else:
        body, ctype = f"<html><body><h1>{text}</h1></body></html>".encode("utf-8", "surrogatepass"), "text/html"
    status = draw(st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 503]))
    path = draw(st.sampled_from(["videos", "videos/video_1", "videos/video_1/content"]))
    request = httpx.Request("GET", f"https://sora.test/v1/{path}")
    return httpx.Response(status, content=body, headers={"content-type": ctype}, request=request)


def _leaks(key: str, *texts: object) -> list[str]:
    return [str(t) for t in texts if key.lower() in str(t).lower()]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), key=keys)
def test_no_service_answer_puts_the_key_in_an_error_or_a_log_line(data: st.DataObject, key: str) -> None:
    forget_secrets()
    resolve_config("custom", "https://sora.test/v1", key, env={})
    exc = error_from_response(data.draw(service_answers(key)))
    assert isinstance(exc, APIError)
    fields = [exc.message, exc.code, exc.param, exc.type]
    assert not _leaks(key, str(exc), repr(exc), *exc.args, *fields)
    # Errors built from service text elsewhere: a failed job's message, a download that failed with it.
    job = JobFailedError("video_1", data.draw(words) + key, key + data.draw(words))
    assert not _leaks(key, str(job), repr(job), job.message, job.code)
    wrapped = DownloadError(f"download failed: {exc} / {key}")
    assert not _leaks(key, str(wrapped), repr(wrapped))

    # Log lines: the key in the format string, in arguments, in an exception's traceback.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("sora2_bridge.test_secrets")
    log.addHandler(handler)
    try:
        log.warning("service said " + key.replace("%", "%%"))
        log.warning("service said %s (%r)", key, {"detail": key})
        log.warning("error: %s", exc)
        try:
            raise RuntimeError(f"inner {key}")
        except RuntimeError:
            log.exception("failed with %s", key)
    finally:
        log.removeHandler(handler)
    assert "inner" in stream.getvalue() and not _leaks(key, stream.getvalue())


# ---------------------------------------------------------------------------------------------- the mechanism
def test_marker_cannot_rebuild_a_key() -> None:
    """The marker begins and ends outside the key alphabet, and its runs of key characters are shorter than any
    registered key: no key can appear across a marker and the text beside it."""
    is_key_char = lambda c: "!" <= c <= "~"  # noqa: E731
    assert not is_key_char(MARKER[0]) and not is_key_char(MARKER[-1])
    runs = "".join(c if is_key_char(c) else " " for c in MARKER).split()
    assert max(map(len, runs)) < MIN_SECRET_LENGTH


@pytest.mark.parametrize("echo", [
    KEY, KEY.lower(), f"{KEY[:10]} \n {KEY[10:]}", quote(KEY, safe=""), json.dumps("a\"b" + KEY)[1:-1],
])
def test_echo_forms_are_removed(echo: str) -> None:
    register_secret(KEY)
    assert redact(f"Incorrect API key provided: {echo}.") .count(MARKER) == 1


def test_short_values_and_the_simulator_placeholder_are_not_secrets() -> None:
    register_secret("k")
    register_secret("short")
    resolve_config("local", env={})
    text = f"k is short; {LOCAL_PLACEHOLDER_KEY} is public"
    assert redact(text) == text


def test_masked_echo_is_left_alone() -> None:
    register_secret(KEY)
    assert redact("Incorrect API key provided: sk-proj-****GHIJ") == "Incorrect API key provided: sk-proj-****GHIJ"


def test_a_key_that_a_header_cannot_carry_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError, match="SORA2_API_KEY.*copy it again") as exc:
        resolve_config(env={"SORA2_API_KEY": "sk-two words-0123456789"})
    assert "two words" not in str(exc.value)
    # A pasted newline around the key is only whitespace: dropped, not refused.
    cfg = resolve_config(env={"SORA2_API_KEY": f"  {KEY}\n"})
    assert cfg.api_key.get_secret_value() == KEY


def test_install_is_idempotent_and_covers_our_loggers_and_handlers() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        install_log_redaction()
        install_log_redaction()
        for target in (handler, logging.getLogger("sora2_bridge"), logging.getLogger("httpx")):
            assert sum(isinstance(f, RedactingFilter) for f in target.filters) == 1
    finally:
        root.removeHandler(handler)


# ---------------------------------------------------------------------------------------------- credentials in URLs
@pytest.mark.parametrize("where", ["argument", "environment", "config file"])
def test_base_url_with_credentials_is_refused_from_any_source(where: str, tmp_path) -> None:
    url = "https://alice:hunter2-password@relay.example/v1"
    env = {"SORA2_API_KEY": KEY}
    args: dict = {"provider": "custom"}
    if where == "argument":
        args["base_url"] = url
    elif where == "environment":
        env["SORA2_BASE_URL"] = url
    else:
        conf = tmp_path / "config.toml"
        conf.write_text(f'base_url = "{url}"\n')
        env["SORA2_CONFIG"] = str(conf)
    with pytest.raises(ConfigurationError, match="carries credentials.*Remove them.*SORA2_API_KEY") as exc:
        resolve_config(**args, env=env)
    assert "hunter2" not in str(exc.value)


def test_cli_refuses_a_base_url_with_credentials_before_any_request(sim, capsys) -> None:
    netloc = sim.base_url.split("//", 1)[1]
    rc = main(["--provider", "local", "--base-url", f"http://bob:s3cret-pass@{netloc}", "status", "video_1"])
    out, err = capsys.readouterr()
    assert rc == 2 and "carries credentials" in err
    assert "s3cret" not in out + err
    assert sum(sim.state.stats()["requests"].values()) == 0


# ---------------------------------------------------------------------------------------------- end to end
class _EchoingProvider(BaseHTTPRequestHandler):
    """A provider that answers every request 401 and repeats the bearer token it was sent."""

    def _answer(self) -> None:
        token = self.headers.get("authorization", "").removeprefix("Bearer ")
        if "/content" in self.path:  # a non-JSON body this time
            body, ctype = f"Unauthorized: bad token {token}".encode(), "text/plain"
        else:
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {token}.", "code": token,
                                         "type": "invalid_request_error", "param": None}}).encode()
            ctype = "application/json"
        self.send_response(401)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("argv", [
    ["status", "video_1"], ["download", "video_1"], ["generate", "a fox", "--no-wait"], ["--json", "list"],
], ids=["status", "download", "generate", "list-json"])
def test_cli_never_prints_an_echoed_key(argv, echoing_provider, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SORA2_API_KEY", KEY)
    logging.getLogger("httpx").setLevel(logging.INFO)
    rc = main(["--provider", "custom", "--base-url", echoing_provider, *argv])
    out, err = capsys.readouterr()
    assert rc == 1, err
    shown = out + err  # with --json the error is the JSON object on stdout
    assert "HTTP 401" in shown and "SORA2_API_KEY" in shown
    assert KEY not in out + err and KEY.lower() not in (out + err).lower()



def test_a_token_our_server_issues_is_a_secret_by_its_shape() -> None:
    """The MCP server keeps only token hashes, so it cannot register a token: its shape is enough."""
    from sora2_bridge.mcp_server.tokens import TOKEN_PREFIX
    from sora2_bridge.shared.errors import Sora2Error
    from sora2_bridge.shared.redact import MARKER, RedactingFilter

    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert str(Sora2Error(f"the proxy said: bad token {token}.")) == f"the proxy said: bad token {MARKER}."
    record = logging.LogRecord("sora2_bridge", logging.INFO, __file__, 1, "Authorization: Bearer %s", (token,), None)
    RedactingFilter().filter(record)
    assert token not in record.getMessage() and MARKER in record.getMessage()
