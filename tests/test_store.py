"""The store under every front end: what any answer holds is recorded, leases, and one job per request across
processes, on a SQLite file and on PostgreSQL alike (``record_target`` runs each test on both)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sora2_bridge.shared import JobRecord, Video
from sora2_bridge.shared.record import open_record
from sora2_bridge.shared.store import ENV_DATABASE_URL, StoreUnavailable
from sora2_bridge.shared.store.engine import PING_IF_IDLE_S, SafeText

# Any text at all: NUL, lone surrogates (JSON can carry "\ud800"), controls, every plane.
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)


def stored(value: str) -> str:
    """What the store keeps of ``value``: the same text, with what no database can hold replaced by U+FFFD."""
    return SafeText().process_bind_param(value, None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=ANY_TEXT, message=ANY_TEXT, model=ANY_TEXT, prompt=ANY_TEXT, code=st.one_of(ANY_TEXT, st.integers()))
def test_any_text_in_an_answer_leaves_its_job_in_the_record(record_target, status, message, model, prompt, code):
    record = JobRecord(record_target)
    video_id = f"video_{uuid.uuid4().hex}"
    answer = {"id": video_id, "object": "video", "status": status, "model": model, "prompt": prompt,
              "error": {"code": code, "message": message}}
    video = Video.model_validate(answer)
    record.add(video, provider="p", base_url="u", kind="create", request={"prompt": prompt}, cost_usd=None,
               request_key=prompt)
    record.update(video)
    row = record.get(video_id)
    assert row is not None and row.raw == answer  # the answer itself is kept whole (as JSON)
    assert row.error_message == stored(video.error.message) and row.prompt == stored(video.prompt)
    assert record.find_by_key(prompt).id == video_id  # looked up by the same text it was written with
    record.close()


def test_text_no_database_can_hold_is_replaced_not_refused():
    assert stored("a\x00b") == "a\ufffdb"
    assert stored("x\ud800y") == "x\ufffdy"
    assert stored("\U0001f98a fox") == "\U0001f98a fox"  # a real pair is kept
    assert stored(8) == "8"


# ---------------------------------------------------------------------------------------------- leases
def test_a_lease_belongs_to_one_holder_until_released_or_lapsed(record_target):
    leases = JobRecord(record_target).leases
    assert leases.take("collect:v1", "a", ttl=60)
    assert leases.take("collect:v1", "a", ttl=60)  # renewing one's own
    assert not leases.take("collect:v1", "b", ttl=60)
    assert leases.holder("collect:v1") == "a"
    leases.release("collect:v1", "b")  # not b's to free
    assert leases.holder("collect:v1") == "a"
    leases.release("collect:v1", "a")
    assert leases.take("collect:v1", "b", ttl=0.2)
    time.sleep(0.3)
    assert leases.holder("collect:v1") is None  # b stopped renewing: lapsed
    assert leases.take("collect:v1", "c", ttl=60)


HOLD_AND_DIE = """
import asyncio, sys
from pathlib import Path
from sora2_bridge.shared import JobRecord
target = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])

async def main():
    async with JobRecord(target).leases.hold("request:k", ttl=1.0):
        print("holding", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_lease_whose_holder_was_killed_lapses(record_target):
    """A ComfyUI worker killed in the middle of a create must not stop every other worker for good."""
    target = str(record_target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", HOLD_AND_DIE, target], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert child.stdout.readline().strip() == "holding"
        leases = JobRecord(record_target).leases
        assert not leases.take("request:k", "me", ttl=60)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not leases.take("request:k", "me", ttl=60):
            assert time.monotonic() < deadline, "the dead holder's lease never lapsed"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait(timeout=30)


# ---------------------------------------------------------------------------------------------- one job per request
PRODUCE = """
import asyncio, sys, time, uuid
from pathlib import Path
from sora2_bridge.shared import JobRecord, Video
target = sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1])
go = Path(sys.argv[2])
record = JobRecord(target)
while not go.exists():  # every process has opened the record: now all ask at once
    time.sleep(0.001)

async def produce():
    async with record.exclusive("same-inputs-and-seed"):
        row = record.find_by_key("same-inputs-and-seed")
        if row is not None:
            return "reused " + row.id
        await asyncio.sleep(0.3)  # the create request in flight
        video = Video(id="video_" + uuid.uuid4().hex, status="queued")
        record.add(video, provider="p", base_url="u", kind="create", request={}, cost_usd=0.4,
                   request_key="same-inputs-and-seed")
        return "created " + video.id

print(asyncio.run(produce()))
"""


def test_identical_requests_from_many_processes_pay_once(tmp_path, record_target):
    """Four ComfyUI workers (or MCP servers, or the CLI) given the same inputs and seed at the same moment."""
    JobRecord(record_target).close()  # the schema exists; what is raced here is the request, not the migration
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", PRODUCE, str(record_target), str(go)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    time.sleep(1.5)
    go.touch()
    try:
        results = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            p.kill()
    outcomes = [out.strip() for out, _ in results]
    created = [o for o in outcomes if o.startswith("created ")]
    assert len(created) == 1, [err[-400:] for _, err in results]
    video_id = created[0].split()[1]
    assert sorted(outcomes) == sorted([f"created {video_id}"] + [f"reused {video_id}"] * 3)
    assert [r.id for r in JobRecord(record_target).list()] == [video_id]


# ---------------------------------------------------------------------------------------------- where it lives
def test_the_record_follows_the_database_url(monkeypatch, postgres_url, tmp_path):
    """Every front end opens the record through open_record: with the URL set, they all share one database."""
    monkeypatch.setenv(ENV_DATABASE_URL, postgres_url)
    first = open_record()
    first.add(Video(id="video_shared", status="queued"), provider="p", base_url="u", kind="create", request={},
              cost_usd=None)
    assert open_record().get("video_shared") is not None
    assert not (Path(os.environ["SORA2_DATA_DIR"]) / "jobs.sqlite3").exists()
    monkeypatch.delenv(ENV_DATABASE_URL)
    assert open_record().get("video_shared") is None  # the data folder's own file


def test_a_database_that_cannot_be_reached_is_said_without_its_password(tmp_path):
    url = f"postgresql://sora:s3cret-fake@/sora2?host={tmp_path}&port=5999"
    with pytest.raises(StoreUnavailable) as caught:
        JobRecord(url)
    message = str(caught.value)
    assert "s3cret-fake" not in message and "sora2" in message and ENV_DATABASE_URL in message


def test_a_database_restarted_or_gone_is_survived_or_said(postgres_server, postgres_url):
    """PostgreSQL restarted under a running front end: the next call reconnects. Refusing connections: the next call
    says which database and why, instead of a traceback."""
    record = JobRecord(postgres_url)
    record.add(Video(id="video_1", status="queued"), provider="p", base_url="u", kind="create", request={},
               cost_usd=None)
    name = make_url(postgres_url).database
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    kill = text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name")
    with admin.connect() as conn:
        conn.execute(kill, {"name": name})
    time.sleep(PING_IF_IDLE_S + 0.1)  # a restart takes longer than this: the idle connection is checked first
    assert record.get("video_1") is not None  # every pooled connection was dropped: reconnected, unseen
    with admin.connect() as conn:
        conn.execute(kill, {"name": name})  # dropped while in use: that call says so, the next one reconnects
    with pytest.raises(StoreUnavailable, match="cannot be used right now"):
        record.get("video_1")
    assert record.get("video_1") is not None
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(kill, {"name": name})
    time.sleep(PING_IF_IDLE_S + 0.1)
    try:
        with pytest.raises(StoreUnavailable, match=name) as caught:
            record.get("video_1")
        assert "not currently accepting connections" in str(caught.value)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_a_storyboard_run_is_running_while_some_process_holds_it(record_target):
    """Another MCP server or ComfyUI worker asking about a run sees it running while its process works on it, and
    interrupted once that process is gone (nobody renews its lease)."""
    record = JobRecord(record_target)
    record.start_storyboard_run("run_1", "sb_1", {"shots": []})
    assert record.storyboard_runs("sb_1")[0]["status"] == "interrupted"  # no process holds it
    assert record.leases.take("storyboard-run:run_1", "a worker elsewhere", ttl=0.3)
    assert record.storyboard_runs("sb_1")[0]["status"] == "running"
    time.sleep(0.4)  # that worker died: its lease lapsed
    assert record.storyboard_runs("sb_1")[0]["status"] == "interrupted"
    record.finish_storyboard_run("run_1", "completed", {})
    assert record.storyboard_runs("sb_1")[0]["status"] == "completed"


async def test_a_run_holds_its_lease_until_it_ends(record_target, tmp_path):
    record = JobRecord(record_target)
    seen: list[str] = []

    async with record.running_storyboard("run_2"):
        record.start_storyboard_run("run_2", "sb_2", {"shots": []})
        seen.append(record.storyboard_runs("sb_2")[0]["status"])
    seen.append(record.storyboard_runs("sb_2")[0]["status"])
    assert seen == ["running", "interrupted"]


def test_a_locked_write_is_one_transaction(record_target):
    """Claims and reservations read, decide and write as one: a failure half-way leaves nothing behind."""
    from sora2_bridge.shared.record import RECORD_LOCK_KEY, jobs

    record = JobRecord(record_target)
    with pytest.raises(RuntimeError), record.db.write(RECORD_LOCK_KEY) as conn:
        conn.execute(jobs.insert().values(id="video_half", provider="p", base_url="u", kind="create", request="{}",
                                          status="queued", created_at=0.0, updated_at=0.0))
        assert record.get("video_half") is None  # not visible to anyone else before it commits
        raise RuntimeError("the decision failed")
    assert record.get("video_half") is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.one_of(st.sampled_from("#?%&=+;:@[] ,'\"\\~"),  # what a URL would read
                                        st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))),
                    min_size=1, max_size=30).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200))
def test_a_data_folder_may_be_named_anything(tmp_path_factory, name):
    """A folder called "what?", "100%" or "AI #1": the record is where it was asked, not where a URL would put it."""
    folder = tmp_path_factory.mktemp("data") / name
    record = JobRecord(folder / "jobs.sqlite3")
    record.add(Video(id="video_1", status="queued"), provider="p", base_url="u", kind="create", request={},
               cost_usd=None)
    record.close()
    assert sorted(p.name for p in folder.iterdir())[0] == "jobs.sqlite3"
    assert JobRecord(folder / "jobs.sqlite3").get("video_1") is not None


def test_a_job_is_claimed_once_and_its_first_claim_is_no_warning(record_target):
    """The answer's own request claims its job without a "lost answer" note; a second claimant is refused."""
    from sora2_bridge.shared.record import JobEntry

    record = JobRecord(record_target)
    entry = JobEntry("p", "u", "create", {"prompt": "a fox"}, request_key="k")
    first = record.open_intent("create", request_key="k", match_key="m", started_at=time.time())
    answer = {"id": "video_1", "object": "video", "status": "queued"}
    assert record.record_answer("video_1", answer, intent_id=first, entry=entry) is True
    assert record.get("video_1").note is None and record.claims() == {"video_1": first}
    second = record.open_intent("create", request_key="k", match_key="m", started_at=time.time())
    assert record.record_answer("video_1", answer, intent_id=second, entry=entry) is False
    assert record.claims() == {"video_1": first} and "Also claimed" in record.get("video_1").note
