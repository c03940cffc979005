"""The local job record survives restarts and is shared by processes."""

from sora2_bridge.shared import JobRecord, Video


def v(**kw):
    base = dict(id="video_1", status="queued", progress=0, created_at=1760000000, prompt="a fox", size="720x1280",
                seconds="4", model="sora-2")
    base.update(kw)
    return Video.model_validate(base)


def test_add_update_file_and_reopen(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    rec = JobRecord(path)
    rec.add(v(), provider="cometapi", base_url="https://x/v1", kind="create", request={"prompt": "a fox"},
            cost_usd=0.4, request_key="k1")
    rec.update(v(status="completed", progress=100, completed_at=1760000100, expires_at=1760003700))
    rec.set_file("video_1", "video", tmp_path / "a.mp4")
    rec.close()

    again = JobRecord(path)  # a new process after a restart
    row = again.get("video_1")
    assert (row.status, row.progress, row.cost_usd, row.expires_at) == ("completed", 100, 0.4, 1760003700)
    assert row.video_file == str(tmp_path / "a.mp4") and row.request == {"prompt": "a fox"}
    assert again.find_by_key("k1").id == "video_1"
    assert again.find_by_key("k1", since=2e9) is None
    assert [r.id for r in again.list()] == ["video_1"]


def test_failure_is_recorded_and_add_is_idempotent(tmp_path):
    rec = JobRecord(tmp_path / "j.db")
    for _ in range(2):
        rec.add(v(), provider="p", base_url="u", kind="create", request={}, cost_usd=None)
    rec.update(v(status="failed", error={"code": "moderation_blocked", "message": "blocked"}))
    rows = rec.list()
    assert len(rows) == 1 and rows[0].error_code == "moderation_blocked" and rows[0].error_message == "blocked"
    assert rec.list(status="completed") == []

