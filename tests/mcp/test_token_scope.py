"""What a token sees and is told: sequences only of its own, estimate_cost answering with the token's own limits
(the very refusal a paid call would get, nothing reserved), and a tokens file that concurrent ``token add`` and
``token revoke`` commands never lose a change of. Real HTTP on loopback against the simulator."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings as hsettings, strategies as st
from mcp import Client
from mcp.types import CallToolResult

from sora2_bridge.mcp_server.callers import Caller, acting_as
from sora2_bridge.mcp_server.guard import BudgetExceeded, Ledger, SpendingGuard
from sora2_bridge.mcp_server.sequences import sequence_not_found_text
from sora2_bridge.mcp_server.settings import Settings
from sora2_bridge.mcp_server.tokens import TokenStore

from .test_auth import PROMPTS, as_token, plan_for, serving, tokens_file  # noqa: F401 (a fixture)
from .test_sequences import ARGS, ok, wait_done

UNKNOWN_SEQUENCE = "sb_" + "0" * 24


# ---------------------------------------------------------------------------------------------- sequences
async def test_a_sequence_is_seen_only_by_the_token_that_started_it(make_server, tokens_file: Path) -> None:
    import httpx

    from mcp.types import ResourceLink

    store = TokenStore(tokens_file)
    alice, bob = store.add("alice"), store.add("bob")
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            sid = ok(await c.call_tool("generate_sequence", ARGS))["sequence_id"]
            done = await wait_done(c, sid)
        assert done.structured_content["status"] == "completed"
        assert [b for b in done.content if isinstance(b, ResourceLink) and str(b.uri).startswith("http")]
        async with as_token(srv.url, bob) as c:
            unknown = await c.call_tool("get_sequence_status", {"sequence_id": UNKNOWN_SEQUENCE})
            hidden = await c.call_tool("get_sequence_status", {"sequence_id": sid})
        async with httpx.AsyncClient(timeout=30) as http:
            # The signed links alice got stay hers to share: the signature is their authorization.
            [film] = [b for b in done.content if isinstance(b, ResourceLink) and str(b.uri).startswith("http")
                      and "film" in str(b.uri)]
            fetched = await http.get(str(film.uri))
    assert unknown.is_error and unknown.content[0].text.endswith(sequence_not_found_text(UNKNOWN_SEQUENCE))
    # Exactly the answer for an id nobody made: nothing says the sequence exists (no image, no links either).
    assert hidden.is_error
    assert [(b.type, getattr(b, "text", None)) for b in hidden.content] == [
        ("text", unknown.content[0].text.replace(UNKNOWN_SEQUENCE, sid))]

    # Ownership is kept in the ledger: a restarted server still shows alice her sequence and hides it from bob.
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            again = ok(await c.call_tool("get_sequence_status", {"sequence_id": sid}))
        async with as_token(srv.url, bob) as c:
            still_hidden = await c.call_tool("get_sequence_status", {"sequence_id": sid})
    assert again["status"] == "completed" and again["film_path"]
    assert fetched.status_code == 200 and fetched.content == Path(again["film_path"]).read_bytes()
    assert still_hidden.is_error and still_hidden.content[0].text == unknown.content[0].text.replace(
        UNKNOWN_SEQUENCE, sid)

    # The owner of the machine (no token: stdio) sees every sequence, as before tokens existed.
    async with Client(make_server()) as c:
        mine = ok(await c.call_tool("get_sequence_status", {"sequence_id": sid}))
    assert mine["status"] == "completed"


async def test_the_same_storyboard_from_another_token_is_its_own_paid_work(make_server, tokens_file: Path,
                                                                          sim) -> None:
    """As with videos: an identical request from another token never hands it someone else's clips."""
    store = TokenStore(tokens_file)
    alice, bob = store.add("alice"), store.add("bob")
    plan = plan_for()
    with serving(make_server(http=plan), plan) as srv:
        runs = {}
        for name, token in (("alice", alice), ("bob", bob)):
            async with as_token(srv.url, token) as c:
                started = ok(await c.call_tool("generate_sequence", ARGS))
                runs[name] = (started, (await wait_done(c, started["sequence_id"])).structured_content)
        async with as_token(srv.url, alice) as c:
            again = ok(await c.call_tool("generate_sequence", ARGS))
    (a_start, a_done), (b_start, b_done) = runs["alice"], runs["bob"]
    assert a_done["status"] == b_done["status"] == "completed"
    assert a_start["sequence_id"] != b_start["sequence_id"]
    assert b_start["to_pay_usd"] == a_start["to_pay_usd"] > 0  # bob paid for his shots
    a_ids, b_ids = ({s["video_id"] for s in d["shots"]} for d in (a_done, b_done))
    assert a_ids.isdisjoint(b_ids) and sim.state.requests["create"] == len(a_ids) + len(b_ids)
    # The same token asking again is still its own sequence: nothing new is paid.
    assert again["sequence_id"] == a_start["sequence_id"] and not again.get("to_pay_usd")


# ---------------------------------------------------------------------------------------------- estimate_cost
async def test_estimate_cost_reports_the_tokens_limits_and_its_refusal(make_server, settings,
                                                                       tokens_file: Path) -> None:
    store = TokenStore(tokens_file)
    alice = store.add("alice", per_call_usd=0.5, daily_usd=1.0)
    plan = plan_for()
    team = dataclasses.replace(settings, budget_usd=1.5, max_usd_per_call=1.0)
    with serving(make_server(team, http=plan), plan) as srv:
        async with as_token(srv.url, alice) as c:
            fresh = ok(await c.call_tool("estimate_cost", {"seconds": 4}))
            dear = ok(await c.call_tool("estimate_cost", {"seconds": 8}))
            dear_paid = await c.call_tool("generate_video", {"prompt": PROMPTS[0], "seconds": 8})
            for prompt in PROMPTS[:2]:
                assert not (await c.call_tool("generate_video", {"prompt": prompt, "seconds": 4})).is_error
            over = ok(await c.call_tool("estimate_cost", {"seconds": 4}))
            asked_twice = ok(await c.call_tool("estimate_cost", {"seconds": 4}))
            over_paid = await c.call_tool("generate_video", {"prompt": PROMPTS[2], "seconds": 4})
    assert fresh["allowed"] and fresh["reason"] is None
    assert fresh["max_usd_per_call"] == 1.0 and fresh["budget_remaining_usd"] == 1.5  # the team's
    assert fresh["token"] == {"name": "alice", "max_usd_per_call": 0.5, "daily_usd": 1.0, "daily_remaining_usd": 1.0}
    # Refused by the token's per-call limit, in the words the paid call uses.
    assert not dear["allowed"] and dear_paid.is_error and dear["reason"] == refusal(dear_paid)
    assert "per-call limit of token 'alice' ($0.50)" in dear["reason"]
    # $0.80 spent: the token's daily budget refuses what the team's would still allow.
    assert over["budget_remaining_usd"] == 0.7 and over["token"]["daily_remaining_usd"] == 0.2
    assert not over["allowed"] and over_paid.is_error and over["reason"] == refusal(over_paid)
    assert "daily budget of token 'alice' ($1.00): $0.80 spent today" in over["reason"]
    assert asked_twice == over  # an estimate reserves nothing


def refusal(result: CallToolResult) -> str:
    """A paid tool's refusal as the guard worded it (the SDK puts the tool's name before it)."""
    text = result.content[0].text  # type: ignore[union-attr]
    return text.removeprefix("Error executing tool generate_video: ")


async def test_estimate_cost_without_a_token_has_no_token_part(server) -> None:
    async with Client(server) as c:
        price = ok(await c.call_tool("estimate_cost", {}))
    assert price["token"] is None and price["allowed"]


@hsettings(max_examples=60, deadline=None)
@given(
    usd=st.sampled_from([0.1, 0.4, 0.8, 1.2, 2.0, 6.0]),
    team_per_call=st.sampled_from([0.5, 1.0, 5.0, float("inf")]),
    team_budget=st.sampled_from([0.0, 1.0, 3.0, float("inf")]),
    token_per_call=st.sampled_from([0.3, 1.0, float("inf")]),
    token_daily=st.sampled_from([0.0, 0.5, 2.0, float("inf")]),
    spent_by_token=st.sampled_from([0.0, 0.4, 1.0]),
    spent_by_others=st.sampled_from([0.0, 0.8, 2.5]),
    with_token=st.booleans(),
)
async def test_the_estimate_refusal_is_the_reserve_refusal(
    usd: float, team_per_call: float, team_budget: float, token_per_call: float, token_daily: float,
    spent_by_token: float, spent_by_others: float, with_token: bool,
) -> None:
    """Whatever the limits and what was spent: the guard refuses an estimate exactly when it would refuse the
    reservation, with the same sentence, and answering leaves the ledger as it was."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(output_dir=Path(folder) / "out", max_usd_per_call=team_per_call,
                            budget_usd=team_budget, state_dir=Path(folder))
        ledger = Ledger(Path(folder) / "ledger.sqlite3")
        try:
            guard = SpendingGuard(settings, ledger, provider="openai", base_url="https://api.example")
            caller = Caller("alice", token_per_call, token_daily) if with_token else None
            for who, amount in (("alice", spent_by_token), ("bob", spent_by_others)):
                if amount:
                    with acting_as(Caller(who)):
                        ledger.settle(ledger.reserve(amount, float("inf"), guard._scope(), {
                            "server_id": guard.server_id, "provider": "openai", "base_url": "x", "kind": "create"})[0],
                            f"video_{who}")
            with acting_as(caller):
                before = guard.left()
                refusal = guard.refusal(usd, "a clip")
                assert guard.left() == before
                try:
                    reservation = await guard.reserve(usd, "a clip", "create")
                except BudgetExceeded as exc:
                    assert refusal == str(exc)
                else:
                    assert refusal is None
                    guard.release(reservation)
        finally:
            ledger.close()


# ---------------------------------------------------------------------------------------------- tokens file
# Each process imports everything, then waits for the word to go, so they all change the file at once; a pause
# between reading the file and writing it back makes every process read before any writes, unless they queue.
CHANGE = """
import sys, time
from pathlib import Path
from sora2_bridge.mcp_server.tokens import TokenStore

read = TokenStore._read
def slow_read(self):
    entries = read(self)
    time.sleep(0.3)
    return entries
TokenStore._read = slow_read
action, name = sys.argv[1], sys.argv[2]
store = TokenStore(Path(sys.argv[3]))
sys.stdin.readline()
store.add(name) if action == "add" else store.revoke(name)
"""


def test_concurrent_token_commands_lose_no_change(tmp_path: Path) -> None:
    path = tmp_path / "config" / "tokens.json"
    store = TokenStore(path)
    kept, revoked = store.add("kept"), [store.add(f"old{i}") for i in range(3)]
    assert len(revoked) == 3
    changes = [("add", f"new{i}") for i in range(5)] + [("revoke", f"old{i}") for i in range(3)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", CHANGE, action, name, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for action, name in changes]
    for proc in procs:  # all are started before any is told to go
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    names = sorted(e.name for e in TokenStore(path).entries())
    assert names == ["kept", *(f"new{i}" for i in range(5))]
    assert TokenStore(path).find(kept) is not None
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.json", "tokens.json.lock"]  # no temp left
