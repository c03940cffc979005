"""Keyed locks: identical requests in one process wait for one job."""

import asyncio

from sora2_bridge.shared.locks import KeyedLocks


async def test_keyed_locks_serialise_one_key_and_forget_idle_keys():
    locks, order = KeyedLocks(), []

    async def work(key, tag):
        async with locks.hold(key):
            order.append(f"{tag} in")
            await asyncio.sleep(0.01)
            order.append(f"{tag} out")

    await asyncio.gather(work("a", 1), work("a", 2), work("b", 3))
    assert order.index("1 out") < order.index("2 in")  # same key: one after the other
    assert order.index("3 in") < order.index("1 out")  # other key: not blocked
    assert locks._locks == {}  # nothing kept once idle
