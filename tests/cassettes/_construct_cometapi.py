"""Writes the ``cometapi_*.yaml`` cassettes: CometAPI's exchanges in its own shapes, not OpenAI's.

Sources (../shared/docs/videos-api.md, "CometAPI as it really answers", and sora-api-research.md section 3.1):
the create answer is CometAPI's documented sample (a short Video without the nullable fields); retrieve, content
and remix keep OpenAI's Video object; errors use CometAPI's envelope, ``{"error": {"code", "message": "...
(request id: ...)", "type": "comet_api_error", "param": ""}}``, and no ``x-request-id`` header was ever seen, so
these responses carry none. Bodies marked "constructed" below follow the documented shape with an illustrative
message. Run: python tests/cassettes/_construct_cometapi.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _construct import req, resp, tiny_mp4, write  # noqa: E402

VID = "video_69b25d5f467c81908733a56bc236b4df"  # CometAPI's documented sample id (32 hex)
VID_REMIX = "video_699f0c2e5d1a8190a1b2c3d4e5f60718293a4b5c6d7e8f90"  # 48 hex, as seen in real traffic
TASK = "task_01k777hjrbfrgs2060q5zvf2a5"
PROMPT = "A calico cat playing a piano on stage"
T0 = 1773296991
RID = "20260312061951234567890abcdef"


def comet_resp(status, body, **kw):
    """A response as CometAPI sends it: no x-request-id header (its id is inside error messages)."""
    out = resp(status, body, **kw)
    del out["headers"]["x-request-id"]
    return out


def comet_error(code, message, n=1):
    return {"error": {"code": code, "message": f"{message} (request id: {RID}{n})", "type": "comet_api_error",
                      "param": ""}}


def video(vid=VID, status="queued", progress=0, **kw):
    body = {"id": vid, "object": "video", "model": "sora-2", "status": status, "progress": progress,
            "created_at": T0, "completed_at": None, "expires_at": None, "prompt": PROMPT, "size": "1280x720",
            "seconds": "4", "remixed_from_video_id": None, "error": None}
    body.update(kw)
    return body


# CometAPI's documented create answer, field for field.
CREATED = {"created_at": T0, "id": VID, "model": "sora-2", "object": "video", "progress": 0, "seconds": "4",
           "size": "1280x720", "status": "queued"}


def main() -> None:
    done = dict(status="completed", progress=100, completed_at=T0 + 95, expires_at=T0 + 95 + 3600)
    write("cometapi_lifecycle.yaml", [
        (req("POST", "videos"), comet_resp(200, CREATED)),
        (req("GET", f"videos/{VID}"), comet_resp(200, video(status="in_progress", progress=35))),
        (req("GET", f"videos/{VID}"), comet_resp(200, video(**done))),
        (req("GET", f"videos/{VID}/content", query="?variant=video"),
         comet_resp(200, tiny_mp4(), content_type="video/mp4")),
    ])
    remix_prompt = "The cat takes a bow"
    write("cometapi_remix.yaml", [
        (req("POST", f"videos/{VID}/remix", {"prompt": remix_prompt}),
         comet_resp(200, video(VID_REMIX, prompt=remix_prompt, remixed_from_video_id=VID))),
    ])
    # The documented message, for the model the seed names (whether /v1/videos serves it today is unknown).
    write("cometapi_model_not_found.yaml", [
        (req("POST", "videos"), comet_resp(503, comet_error(
            "model_not_found", "no available channel for group default and model sora-2-hd (distributor)"))),
    ])
    # Constructed message; the status and code are CometAPI's for validation errors.
    write("cometapi_invalid_request.yaml", [
        (req("POST", "videos"), comet_resp(500, comet_error(
            "invalid_request", "Invalid value: '20'. Supported values are: '4', '8', and '12'."))),
    ])
    write("cometapi_quota.yaml", [
        (req("POST", "videos"), comet_resp(403, {"code": None, "message": "user quota is not enough"})),
    ])
    failed = dict(status="failed", progress=0, completed_at=T0 + 21,
                  error={"code": None, "message": "Your request was blocked by our moderation system."})
    write("cometapi_moderation_failed.yaml", [
        (req("POST", "videos"), comet_resp(200, CREATED)),
        (req("GET", f"videos/{VID}"), comet_resp(200, video(**failed))),
    ])
    # Constructed: a transient create failure, then the reconciling list itself refused.
    write("cometapi_reconcile_list_fails.yaml", [
        (req("POST", "videos"), comet_resp(502, comet_error("", "upstream error: bad gateway", 1))),
        (req("GET", "videos", query="?order=desc&limit=20"),
         comet_resp(404, comet_error("", "not found", 2))),
    ])
    # Another vendor's model on the same route: task ids, upper-case status words, a video_url.
    task = {"id": TASK, "object": "video", "model": "veo3-fast", "status": "SUBMITTED", "progress": 0,
            "created_at": T0, "prompt": PROMPT}
    write("cometapi_other_vendor_statuses.yaml", [
        (req("POST", "videos"), comet_resp(200, task)),
        (req("GET", f"videos/{TASK}"), comet_resp(200, {**task, "status": "IN_PROGRESS", "progress": 50})),
        (req("GET", f"videos/{TASK}"), comet_resp(200, {**task, "status": "SUCCESS", "progress": 100,
                                                        "video_url": "https://example.invalid/task.mp4"})),
    ])


if __name__ == "__main__":
    main()
