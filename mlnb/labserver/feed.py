"""The sidebar's feed: what it shows (models, jobs, the REST server,
TensorBoards) pushed to it when it changes, by long polling.

A sidebar asks with the tag of the state it shows; the answer comes at
once when the state is newer, else when it changes, else after ``wait_s``
with the same tag (the browser then asks again). However many sidebars are
open, one watcher reads the store, once per ``interval_s`` and only while
some sidebar waits: the store may be a database other machines write (team
mode), so the feed cannot learn of a change but by reading.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def state_tag(state: dict[str, Any]) -> str:
    """A digest of the state: equal states have equal tags."""
    text = json.dumps(state, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SidebarFeed:
    """Answers ``next(since)`` for every sidebar of one Jupyter server.

    Args:
        read: Reads the state (blocking: it runs in a thread).
        interval_s: Seconds between reads while a sidebar waits.
        wait_s: The longest a request waits for a change.
    """

    def __init__(
        self, read: Callable[[], dict[str, Any]], *, interval_s: float = 1.0, wait_s: float = 25.0
    ) -> None:
        self._read = read
        self.interval_s = interval_s
        self.wait_s = wait_s
        self._state: dict[str, Any] | None = None
        self._tag = ""
        self._changed = asyncio.Event()
        self._waiting = 0
        self._watcher: asyncio.Task[None] | None = None

    async def next(self, since: str | None) -> dict[str, Any]:
        """The state and its ``tag``: read now when ``since`` is not given
        (a first request, or the refresh button), at once when newer than
        ``since``, else when it changes or ``wait_s`` has passed."""
        if since is None or self._state is None:
            await self._refresh()
        if since != self._tag:
            return self._answer()
        changed = self._changed  # set when the state moves past this tag
        self._waiting += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch())
        try:
            await asyncio.wait_for(changed.wait(), self.wait_s)
        except TimeoutError:
            pass
        finally:
            self._waiting -= 1
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        return {**(self._state or {}), "tag": self._tag}

    async def _refresh(self) -> None:
        state = await asyncio.to_thread(self._read)
        tag = state_tag(state)
        if tag != self._tag:
            self._state, self._tag = state, tag
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def _watch(self) -> None:
        while self._waiting > 0:
            await asyncio.sleep(self.interval_s)
            try:
                await self._refresh()
            except Exception:  # a store that fails now may answer next time
                log.warning("mlnb: the sidebar's feed could not read the store", exc_info=True)
