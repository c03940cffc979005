"""Listing ends even when the service never says it is done."""

from __future__ import annotations

import logging

import httpx
import pytest

from sora2_bridge.shared import AsyncSoraClient, resolve_config
from sora2_bridge.shared import client as client_module


def vid(i: int) -> dict:
    return {"id": f"video_{i}", "object": "video", "status": "completed", "prompt": f"clip {i}"}


def client_for(handler) -> AsyncSoraClient:
    cfg = resolve_config("custom", "https://sora.test/v1", "k", env={})
    return AsyncSoraClient(cfg, transport=httpx.MockTransport(handler), record=False)


@pytest.mark.parametrize("max_items", [None, 150])
async def test_a_page_repeated_forever_is_listed_once(max_items, caplog):
    calls = []
    page = {"object": "list", "data": [vid(1), vid(2), vid(3)], "first_id": "video_1", "last_id": "video_3",
            "has_more": True}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("after"))
        return httpx.Response(200, json=page)

    with caplog.at_level(logging.WARNING, logger="sora2_bridge"):
        async with client_for(handler) as client:
            got = [v.id async for v in client.list(limit=100, max_items=max_items)]
    assert got == ["video_1", "video_2", "video_3"]
    assert calls == [None, "video_3"]
    assert "repeated itself" in caplog.text


async def test_cursor_that_comes_back_stops_the_listing():
    """Pages alternate between two cursors, each bringing one new id in turn, then only known ones."""
    pages = {None: ([vid(1), vid(2)], "video_2"), "video_2": ([vid(3)], "video_2")}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        calls.append(after)
        data, last = pages[after]
        return httpx.Response(200, json={"object": "list", "data": data, "last_id": last, "has_more": True})

    async with client_for(handler) as client:
        got = [v.id async for v in client.list()]
    assert got == ["video_1", "video_2", "video_3"] and calls == [None, "video_2"]


async def test_pages_are_capped_when_every_page_is_new(monkeypatch, caplog):
    monkeypatch.setattr(client_module, "MAX_LIST_PAGES", 7)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        n = len(calls)
        calls.append(n)
        return httpx.Response(200, json={"object": "list", "data": [vid(n)], "last_id": f"video_{n}",
                                         "has_more": True})

    with caplog.at_level(logging.WARNING, logger="sora2_bridge"):
        async with client_for(handler) as client:
            got = [v.id async for v in client.list()]
    assert len(calls) == 7 and got == [f"video_{i}" for i in range(7)]
    assert "stopped after 7 pages" in caplog.text


async def test_entries_without_an_id_are_left_out_of_a_page():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [vid(1), {"status": "queued"}, 7, vid(2)],
                                         "has_more": "maybe", "last_id": ["x"]})

    async with client_for(handler) as client:
        assert [v.id async for v in client.list()] == ["video_1", "video_2"]
