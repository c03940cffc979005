"""A 404 names its real cause: a missing video keeps "check the video id"; a path that does not exist (a base URL
without /v1, a router's page) says the base URL is probably wrong and shows it, without credentials or query."""

from __future__ import annotations

import json

import httpx
import pytest

from sora2_bridge.shared import AsyncSoraClient, NotFoundError, resolve_config
from sora2_bridge.shared.errors import EndpointNotFoundError, error_from_response

VIDEO_MISSING = json.dumps({"error": {"message": "Video with id 'video_1' not found.", "type": "invalid_request_error",
                                      "param": None, "code": None}})
ROUTER = json.dumps({"error": {"message": "Invalid URL (GET /videos/video_1)", "type": "invalid_request_error",
                               "param": None, "code": None}})
AZURE = json.dumps({"error": {"message": "The API deployment 'sora-2' for this resource does not exist.",
                              "type": "video_generation_user_error", "param": None, "code": None}})

CASES = [
    # (name, method, url, body, content type, class, base URL shown or None)
    ("missing video", "GET", "https://h.example/v1/videos/video_1", VIDEO_MISSING, "application/json",
     NotFoundError, None),
    ("missing video's content", "GET", "https://h.example/v1/videos/video_1/content?variant=video", VIDEO_MISSING,
     "application/json", NotFoundError, None),
    ("HTML page", "GET", "https://h.example/videos/video_1", "<html><h1>Not Found</h1></html>", "text/html",
     EndpointNotFoundError, "https://h.example"),
    ("plain text", "DELETE", "https://h.example/api/videos/video_1", "404 page not found", "text/plain",
     EndpointNotFoundError, "https://h.example/api"),
    ("router in the service's envelope", "GET", "https://h.example/videos/video_1", ROUTER, "application/json",
     EndpointNotFoundError, "https://h.example"),
    ("bare Not Found envelope", "GET", "https://h.example/videos/video_1",
     json.dumps({"error": {"message": "Not Found"}}), "application/json", EndpointNotFoundError, "https://h.example"),
    ("create endpoint", "POST", "https://h.example/v1/videos", AZURE, "application/json",
     EndpointNotFoundError, "https://h.example/v1"),
    ("list endpoint", "GET", "https://h.example/videos?limit=20&after=video_1", "", None,
     EndpointNotFoundError, "https://h.example"),
    ("extensions endpoint", "POST", "https://h.example/v1/videos/extensions", VIDEO_MISSING, "application/json",
     EndpointNotFoundError, "https://h.example/v1"),
    ("credentials and query never shown", "GET", "https://u:pw-secret@h.example:8443/x/videos/video_1?token=abc",
     "nope", "text/plain", EndpointNotFoundError, "https://h.example:8443/x"),
]


@pytest.mark.parametrize("method,url,body,ctype,cls,base", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_404_hint_names_the_real_cause(method, url, body, ctype, cls, base):
    response = httpx.Response(404, content=body.encode(), headers={"content-type": ctype} if ctype else {},
                              request=httpx.Request(method, url))
    exc = error_from_response(response)
    assert type(exc) is cls
    msg = str(exc)
    if base is None:
        assert "check the video id" in msg and "base URL" not in msg
    else:
        assert f" {base} " in msg and "base URL" in msg and "check the video id" not in msg
        assert "pw-secret" not in msg and "token=abc" not in msg


@pytest.mark.parametrize("suffix,cls", [("", NotFoundError), ("-no-v1", EndpointNotFoundError)])
async def test_against_the_simulator(suffix, cls, sim_app):
    base = "http://simulator/v1" if not suffix else "http://simulator"
    cfg = resolve_config("local", base, env={})
    async with AsyncSoraClient(cfg, transport=httpx.ASGITransport(app=sim_app), record=False) as client:
        with pytest.raises(cls) as exc:
            await client.retrieve("video_nope")
    assert ("check the video id" in str(exc.value)) == (cls is NotFoundError)
    if cls is EndpointNotFoundError:
        assert "the base URL http://simulator is probably wrong" in str(exc.value)
