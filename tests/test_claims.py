"""A create whose answer was lost never adopts a job another caller recorded, claimed or is still waiting for.

Scripted transports drive each rule on one shared record (a second JobRecord on it stands for another process), a
SQLite file and a PostgreSQL database alike; one test runs two real processes against one simulator over TCP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from sora2_bridge.shared import AsyncSoraClient, JobRecord, RetryPolicy, resolve_config
from sora2_bridge.shared.answers import AmbiguousJobError
from sora2_bridge.shared.record import JobEntry

PROMPT = "a fox in the snow"


def video(vid: str, prompt: str = PROMPT) -> dict:
    return {"id": vid, "object": "video", "model": "sora-2", "status": "queued", "progress": 0,
            "created_at": int(time.time()), "prompt": prompt, "size": "720x1280", "seconds": "4"}


def listing(*videos: dict) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": list(videos), "has_more": False})


def client(path: Path | str, handler) -> AsyncSoraClient:
    async def no_sleep(_: float) -> None:
        return None

    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    return AsyncSoraClient(cfg, transport=httpx.MockTransport(handler), record=JobRecord(path), sleep=no_sleep,
                           retry=RetryPolicy(max_attempts=2))


class OtherProcess:
    """Another caller on the same record file, creating the same prompt."""

    def __init__(self, path: Path | str, match_key: str, started_at: float | None = None) -> None:
        self.record = JobRecord(path)
        self.entry = JobEntry("custom", "https://sora.test/v1", "create", {"prompt": PROMPT}, request_key="other")
        self.intent = self.record.open_intent("create", request_key="other", match_key=match_key,
                                              started_at=time.time() if started_at is None else started_at)

    def answered(self, vid: str) -> bool:
        return self.record.record_answer(vid, video(vid), intent_id=self.intent, entry=self.entry)


def match_key(path: Path | str) -> str:
    return client(path, lambda r: httpx.Response(500)).derived_key("prompt", PROMPT)


async def test_a_job_claimed_while_our_request_was_in_flight_is_not_adopted(record_target):
    path = record_target
    other = OtherProcess(path, match_key(path))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            other.answered("video_theirs")  # the other caller's answer arrives while ours is lost
            raise httpx.ReadTimeout("lost")
        return listing(video("video_theirs"), video("video_ours"))

    async with client(path, handler) as c:
        got = await c.create(PROMPT)
        assert got.id == "video_ours"
        claims = c.record.claims()
        assert claims["video_ours"] != claims["video_theirs"]
        states = {i["id"]: i["state"] for i in c.record.intents()}
        assert states == {other.intent: "answered", claims["video_ours"]: "reconciled"}


async def test_two_free_candidates_while_another_caller_waits_are_ambiguous_and_recorded(record_target):
    path = record_target
    other = OtherProcess(path, match_key(path))  # its answer has not arrived yet

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("lost")
        return listing(video("video_b"), video("video_a"), video("video_x", "another prompt"))

    async with client(path, handler) as c:
        with pytest.raises(AmbiguousJobError) as exc:
            await c.create(PROMPT)
        message = str(exc.value)
        assert "video_a" in message and "video_b" in message and "sora2 download video_b" in message
        assert exc.value.video_ids == ["video_b", "video_a"]
        for vid in ("video_a", "video_b"):
            row = c.record.get(vid)
            assert row.status == "ambiguous" and "sora2 download" in row.note and row.request_key is None
            assert row.raw["id"] == vid
        assert c.record.get("video_x") is None
        assert c.record.claims() == {}
        assert c.record.find_by_key("other") is None  # nobody reuses an ambiguous job by its request
        # The other caller's answer then arrives: its job becomes its own, the other stays ambiguous.
        assert other.answered("video_b")
        assert c.record.get("video_b").status == "queued" and c.record.get("video_b").note is None
        assert c.record.get("video_a").status == "ambiguous"


async def test_a_single_candidate_while_another_caller_waits_is_ambiguous(record_target):
    path = record_target
    OtherProcess(path, match_key(path))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("lost")
        return listing(video("video_b"))

    async with client(path, handler) as c:
        with pytest.raises(AmbiguousJobError, match="video_b matches it"):
            await c.create(PROMPT)


async def test_an_intent_older_than_a_create_can_last_is_ignored(record_target):
    path = record_target
    OtherProcess(path, match_key(path), started_at=time.time() - 24 * 3600)  # a process that died long ago

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("lost")
        return listing(video("video_a"))

    async with client(path, handler) as c:
        assert (await c.create(PROMPT)).id == "video_a"


async def test_intents_are_closed_however_the_request_ends(record_target):
    path = record_target
    answers = iter([httpx.Response(200, json=video("video_ok")),
                    httpx.Response(400, json={"error": {"message": "bad size", "param": "size"}})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async with client(path, handler) as c:
        await c.create(PROMPT)
        with pytest.raises(Exception, match="bad size"):
            await c.create(PROMPT)
        assert [i["state"] for i in c.record.intents()] == ["answered", "failed"]
        assert c.record.claims() == {"video_ok": c.record.intents()[0]["id"]}


# ------------------------------------------------------------------------------------- two real processes

CALLER = textwrap.dedent("""
    import asyncio, json, sys, time
    from pathlib import Path
    from sora2_bridge.shared import AsyncSoraClient, JobRecord, Sora2Error, resolve_config

    base_url, folder, name, prompt = sys.argv[1:5]
    folder = Path(folder)

    async def main():
        cfg = resolve_config("custom", base_url, "test-key", env={})
        async with AsyncSoraClient(cfg, record=JobRecord(folder / "jobs.sqlite3")) as client:
            (folder / f"{name}.ready").touch()
            while not (folder / "go").exists():
                await asyncio.sleep(0.005)
            try:
                video = await client.create(prompt)
                return {"id": video.id}
            except Sora2Error as exc:
                return {"error": type(exc).__name__, "message": str(exc), "ids": getattr(exc, "video_ids", None)}

    print(json.dumps(asyncio.run(main())))
""")


def test_two_processes_one_lost_answer_never_share_a_job(sim, tmp_path):
    folder = tmp_path / "shared-data"
    folder.mkdir()
    # One of the two creates loses its answer; a slow list lets the other answer arrive before reconciling.
    sim.faults.lose_create_next = 1
    sim.faults.endpoints = ["list"]
    sim.faults.latency_ms = 1500
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CALLER, sim.base_url, str(folder), name, PROMPT],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for name in ("one", "two")
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((folder / f"{n}.ready").exists() for n in ("one", "two")):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                pytest.fail(f"a caller did not get ready: {[p.communicate(timeout=10) for p in procs]}")
            time.sleep(0.01)
        (folder / "go").touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]

    paid = set(sim.state.jobs)
    assert len(paid) == 2  # two creates, two jobs: nothing was sent again
    adopted = [r["id"] for r in results if "id" in r]
    assert len(adopted) == len(set(adopted)), results  # never the same job for both
    for r in results:
        if "error" in r:
            assert r["error"] == "AmbiguousJobError" and "sora2 download" in r["message"], r
    record = JobRecord(folder / "jobs.sqlite3")
    assert paid <= record.known_ids()  # every paid job is in the record
    claims = record.claims()
    assert set(adopted) <= set(claims) and len(set(claims.values())) == len(claims)
    assert all(i["state"] != "pending" for i in record.intents())


# ---------------------------------------------------------------------------------------------- a sender that died
class Service:
    """A scripted service that remembers the jobs it made, so ``list`` shows them (one made before the test)."""

    def __init__(self, *already: dict) -> None:
        self.jobs = list(already)
        self.creates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            self.jobs.append(video(f"video_new{self.creates}"))
            return httpx.Response(200, json=self.jobs[-1])
        return listing(*reversed(self.jobs))


def same_request(c: AsyncSoraClient):
    return c.build_request(PROMPT, model="sora-2", size="720x1280", seconds=4)


def died_after_sending(path: Path | str, key: str, holder: str | None = "worker-2:4242:dead") -> str:
    """What a worker killed mid-create leaves: an open intent under its lease on ``key``, no answer recorded."""
    return JobRecord(path).open_intent("create", request_key=key, match_key=match_key(path),
                                       started_at=time.time() - 5, holder=holder)


async def test_the_job_of_a_request_whose_process_died_is_found_not_paid_again(record_target):
    path = record_target
    orphan = died_after_sending(path, "same-inputs")
    service = Service(video("video_made_by_the_dead"))  # its create reached the service
    async with client(path, service) as c:
        async with c.exclusive("same-inputs"):
            got = await c.create_from_request(same_request(c), key="same-inputs")
    assert got.id == "video_made_by_the_dead" and service.creates == 0
    record = JobRecord(path)
    assert record.get(got.id).request_key == "same-inputs"  # filed under the key: the next identical call reuses it
    assert {i["id"]: i["state"] for i in record.intents()} == {orphan: "reconciled"}


async def test_a_dead_request_that_never_reached_the_service_is_abandoned_then_sent(record_target):
    path = record_target
    orphan = died_after_sending(path, "same-inputs")
    service = Service()  # nothing was made
    async with client(path, service) as c:
        async with c.exclusive("same-inputs"):
            got = await c.create_from_request(same_request(c), key="same-inputs")
    assert got.id == "video_new1" and service.creates == 1
    states = {i["id"]: i["state"] for i in JobRecord(path).intents()}
    assert states[orphan] == "abandoned" and sorted(states.values()) == ["abandoned", "answered"]


@pytest.mark.parametrize("case", ["no lease held", "sent without a lease", "another key"])
async def test_only_a_lease_holder_takes_over_only_its_keys_orphans(record_target, case):
    """A request sent without a lease (the CLI) may still be waiting for its answer; a caller that does not hold the
    key's lease cannot know the sender is dead: neither adopts anything, and a new job is made."""
    path = record_target
    orphan = died_after_sending(path, "other-inputs" if case == "another key" else "same-inputs",
                                holder=None if case == "sent without a lease" else "worker-2:4242:dead")
    service = Service(video("video_made_by_the_dead"))
    async with client(path, service) as c:
        if case == "no lease held":
            got = await c.create_from_request(same_request(c), key="same-inputs")
        else:
            async with c.exclusive("same-inputs"):
                got = await c.create_from_request(same_request(c), key="same-inputs")
    assert got.id == "video_new1" and service.creates == 1
    assert {i["id"]: i["state"] for i in JobRecord(path).intents()}[orphan] == "pending"
