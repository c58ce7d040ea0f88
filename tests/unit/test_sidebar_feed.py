"""The sidebar's feed (long polling): an answer at once for a sidebar that
is behind, when the state changes for one that is not, the same tag after
the wait; one read of the store per interval however many sidebars wait."""

from __future__ import annotations

import asyncio
from typing import Any

from mlnb.labserver.feed import SidebarFeed, state_tag


class Store:
    def __init__(self) -> None:
        self.models: list[str] = []
        self.reads = 0

    def read(self) -> dict[str, Any]:
        self.reads += 1
        return {"models": list(self.models)}


def test_a_sidebar_gets_the_state_then_each_change() -> None:
    async def scenario() -> None:
        store = Store()
        feed = SidebarFeed(store.read, interval_s=0.01, wait_s=30)
        first = await feed.next(None)
        assert first == {"models": [], "tag": state_tag({"models": []})}
        waiting = [asyncio.create_task(feed.next(first["tag"])) for _ in range(20)]
        await asyncio.sleep(0)  # every sidebar is waiting now
        assert not any(task.done() for task in waiting)
        store.models.append("iris")
        answers = await asyncio.gather(*waiting)
        assert all(a == {"models": ["iris"], "tag": state_tag({"models": ["iris"]})} for a in answers)
        # One watcher reads for all twenty sidebars (a read per interval),
        # not a read per sidebar.
        assert store.reads < 10
        # A sidebar that is behind gets the state at once, without a read.
        reads = store.reads
        assert (await feed.next(first["tag"]))["models"] == ["iris"] and store.reads == reads

    asyncio.run(scenario())


def test_an_unchanged_state_answers_the_same_tag_after_the_wait() -> None:
    async def scenario() -> None:
        store = Store()
        # The watcher sleeps through this test: every read counted is a request's.
        feed = SidebarFeed(store.read, interval_s=60, wait_s=0.05)
        first = await feed.next(None)
        assert await feed.next(first["tag"]) == first
        assert store.reads == 1
        # The refresh button (no tag) reads now.
        store.models.append("new")
        assert (await feed.next(None))["models"] == ["new"]
        assert store.reads == 2

    asyncio.run(scenario())


def test_a_failing_read_does_not_stop_the_watcher() -> None:
    async def scenario() -> None:
        store = Store()
        failures = [RuntimeError("database restarting")] * 3

        def flaky() -> dict[str, Any]:
            if store.reads and failures:
                store.reads += 1
                raise failures.pop()
            return store.read()

        feed = SidebarFeed(flaky, interval_s=0.01, wait_s=30)
        first = await feed.next(None)
        store.models.append("after")
        answer = await feed.next(first["tag"])
        assert answer["models"] == ["after"] and not failures

    asyncio.run(scenario())
