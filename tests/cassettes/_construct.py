"""Writes the cassettes in this folder from the service's documented wire format.

OpenAI's own Sora 2 API shut down on 2026-09-24 and resellers bill per second, so the exchanges here are
constructed, not captured: bodies, headers and status codes follow ../shared/docs/videos-api.md and the example
bodies of sora-api-research.md section 5 (OpenAI's OpenAPI document, CometAPI's reference). The media bodies are
real files (an H.264+AAC MP4, a WebP) so downstream code can decode them. Re-record against a live provider with:

    SORA2_API_KEY=sk-... python -m pytest tests/test_cassettes.py --record-mode=rewrite

(the Authorization header is scrubbed by the vcr_config fixture). Re-run this script only to rebuild the
constructed set: python tests/cassettes/_construct.py
"""

from __future__ import annotations

import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import yaml
from PIL import Image

BASE = "https://api.cometapi.com/v1"
HERE = Path(__file__).parent
VID = "video_68f1c0a2b3d48190a1b2c3d4e5f60718"
VID2 = "video_68f1c3e9aa0c8190b0c1d2e3f4a5b6c7"
VID3 = "video_68f1c55d0a1b8190c2d3e4f5a6b7c8d9"
PROMPT = "A calico cat playing a piano on stage"
T0 = 1760000000


def video(vid=VID, status="queued", progress=0, **kw):
    body = {"id": vid, "object": "video", "model": "sora-2", "status": status, "progress": progress,
            "created_at": T0, "completed_at": None, "expires_at": None, "prompt": PROMPT, "size": "720x1280",
            "seconds": "4", "remixed_from_video_id": None, "error": None}
    body.update(kw)
    return body


def error(message, type_="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def req(method, path, body=None, query=""):
    headers = {"Authorization": ["Bearer REDACTED"], "User-Agent": ["sora2-bridge/0.1.0"]}
    if body is not None:
        headers["Content-Type"] = ["application/json"]
    return {"method": method, "uri": f"{BASE}/{path}{query}", "body": json.dumps(body) if body else None,
            "headers": headers}


_req_counter = [0]


def resp(status, body, *, content_type="application/json", headers=None, content_length=None):
    _req_counter[0] += 1
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    # JSON stays readable text in the YAML; media stays binary.
    stored = raw.decode() if not isinstance(body, bytes) or content_type.startswith("text/") else raw
    h = {"content-type": [content_type], "x-request-id": [f"req_{_req_counter[0]:032x}"],
         "content-length": [str(content_length if content_length is not None else len(raw))]}
    for k, v in (headers or {}).items():
        h[k] = [v]
    phrase = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return {"status": {"code": status, "message": phrase}, "headers": h, "body": {"string": stored}}


def tiny_mp4() -> bytes:
    """A real 4 s 720x1280 H.264 + AAC clip; flat colours keep it a few kilobytes."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=30, options={"preset": "veryslow", "crf": "51"})
        vs.width, vs.height, vs.pix_fmt = 720, 1280, "yuv420p"
        aus = out.add_stream("aac", rate=48000)
        aus.layout = "stereo"
        for i in range(120):
            arr = np.full((1280, 720, 3), (60 * (i // 30), 80, 200), dtype=np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(p)
        for i in range(0, 48000 * 4, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), dtype=np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, i, Fraction(1, 48000)
            for p in aus.encode(frame):
                out.mux(p)
        for s in (vs, aus):
            for p in s.encode():
                out.mux(p)
    return buf.getvalue()


def webp() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (720, 1280), (40, 80, 200)).save(buf, "WEBP")
    return buf.getvalue()


def write(name, interactions):
    doc = {"interactions": [{"request": r, "response": s} for r, s in interactions], "version": 1}
    (HERE / name).write_text(yaml.safe_dump(doc, sort_keys=False, width=120))


def main() -> None:
    mp4 = tiny_mp4()
    done = dict(status="completed", progress=100, completed_at=T0 + 185, expires_at=T0 + 3785)
    write("lifecycle.yaml", [
        (req("POST", "videos"), resp(200, video())),
        (req("GET", f"videos/{VID}"), resp(200, video(status="in_progress", progress=42),
                                          headers={"openai-poll-after-ms": "2000"})),
        (req("GET", f"videos/{VID}"), resp(200, video(status="in_progress", progress=88))),
        (req("GET", f"videos/{VID}"), resp(200, video(**done))),
        (req("GET", f"videos/{VID}/content", query="?variant=video"), resp(200, mp4, content_type="video/mp4")),
        (req("GET", f"videos/{VID}/content", query="?variant=thumbnail"), resp(200, webp(), content_type="image/webp")),
        (req("DELETE", f"videos/{VID}"), resp(200, {"id": VID, "object": "video.deleted", "deleted": True})),
    ])
    write("list_paging.yaml", [
        (req("GET", "videos", query="?order=desc&limit=2"),
         resp(200, {"object": "list", "data": [video(VID3, **done), video(VID2, **done)], "first_id": VID3,
                    "last_id": VID2, "has_more": True})),
        (req("GET", "videos", query=f"?order=desc&limit=2&after={VID2}"),
         resp(200, {"object": "list", "data": [video(VID, **done, quality="standard")], "first_id": VID,
                    "last_id": VID, "has_more": False})),
    ])
    remix_prompt = "Extend the scene with the cat taking a bow to the cheering audience"
    write("remix_extend_edit.yaml", [
        (req("POST", f"videos/{VID}/remix", {"prompt": remix_prompt}),
         resp(200, video(VID2, prompt=remix_prompt, remixed_from_video_id=VID))),
        (req("POST", "videos/extensions", {"video": {"id": VID}, "prompt": "The cat walks off stage", "seconds": "8"}),
         resp(200, video(VID3, prompt="The cat walks off stage", seconds="12"))),
        (req("POST", "videos/edits", {"video": {"id": VID}, "prompt": "Make it night"}),
         resp(200, video("video_68f1c77a0b1c8190d3e4f5a6b7c8d9e0", prompt="Make it night"))),
    ])
    write("auth_error.yaml", [
        (req("GET", f"videos/{VID}"), resp(401, error("Incorrect API key provided: sk-****. You can find your API key "
                                                     "in your dashboard.", code="invalid_api_key"))),
    ])
    write("rate_limited_then_ok.yaml", [
        (req("GET", f"videos/{VID}"), resp(429, error(
            "Rate limit reached for sora-2 in organization org-xxx on requests per min (RPM): Limit 25, Used 25, "
            "Requested 1.", type_="requests", code="rate_limit_exceeded"), headers={"retry-after-ms": "1500",
                                                                                   "retry-after": "2"})),
        (req("GET", f"videos/{VID}"), resp(200, video(status="in_progress", progress=10))),
    ])
    write("server_errors_then_ok.yaml", [
        (req("GET", f"videos/{VID}"), resp(500, error("The server had an error while processing your request.",
                                                     type_="server_error"))),
        (req("GET", f"videos/{VID}"), resp(502, b"<html>502 Bad Gateway</html>", content_type="text/html")),
        (req("GET", f"videos/{VID}"), resp(200, video(**done))),
    ])
    write("server_error_exhausted.yaml", [
        (req("GET", f"videos/{VID}"), resp(503, error("The engine is currently overloaded, please try again later.",
                                                     type_="server_error"))) for _ in range(3)
    ])
    write("moderation_at_create.yaml", [
        (req("POST", "videos"), resp(400, error("Your request was blocked by our moderation system.",
                                               code="moderation_blocked"))),
    ])
    failed = dict(status="failed", progress=0, completed_at=T0 + 21,
                  error={"code": "moderation_blocked", "message": "Your request was blocked by our moderation system."})
    write("job_failed.yaml", [
        (req("POST", "videos"), resp(200, video())),
        (req("GET", f"videos/{VID}"), resp(200, video(**failed))),
    ])
    write("not_found.yaml", [
        (req("GET", "videos/video_missing"), resp(404, error("Video with id 'video_missing' not found."))),
    ])
    write("content_not_ready.yaml", [
        (req("GET", f"videos/{VID}/content", query="?variant=video"),
         resp(400, error("Video is not ready yet, use GET /v1/videos/{video_id} to check status."))),
    ])
    write("content_expired.yaml", [
        (req("GET", f"videos/{VID}/content", query="?variant=video"),
         resp(404, error("The video content has expired and is no longer available.", code="video_expired"))),
    ])
    write("seconds_refused_by_service.yaml", [
        (req("POST", "videos"), resp(400, error("Invalid value: '20'. Supported values are: '4', '8', and '12'.",
                                               param="seconds", code="invalid_value"))),
    ])
    write("download_truncated_then_ok.yaml", [
        (req("GET", f"videos/{VID}/content", query="?variant=video"),
         resp(200, mp4[: len(mp4) // 2], content_type="video/mp4", content_length=len(mp4))),
        (req("GET", f"videos/{VID}/content", query="?variant=video"), resp(200, mp4, content_type="video/mp4")),
    ])


if __name__ == "__main__":
    main()
