"""A server worker process's place among its siblings.

``mlnb server --workers N`` starts N processes that share one listening
socket. Each claims a slot number with a lock file in the server's run
folder (``MLNB_SERVER_RUN_DIR``, made by ``serve``): worker ``i`` keeps
loaded every version whose scaling asks for more than ``i`` nodes, so that
``manualScaling.nodes`` / ``autoScaling.minNodes`` decide how many worker
processes hold a version warm."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from mlnb.api import Engine

RUN_DIR_ENV = "MLNB_SERVER_RUN_DIR"
# How often a worker reads which versions it must keep loaded.
KEEP_LOADED_EVERY_S = 2.0
_MAX_SLOTS = 1024

log = logging.getLogger(__name__)


class WorkerSlot:
    """The slot number of this process, held while the lock file is open."""

    def __init__(self, index: int, lock: IO[bytes] | None = None) -> None:
        self.index = index
        self._lock = lock

    @classmethod
    def claim(cls) -> WorkerSlot:
        """The lowest free slot of the server's run folder; slot 0 for a
        server of one process (no run folder)."""
        folder = os.environ.get(RUN_DIR_ENV)
        if not folder:
            return cls(0)
        slots = Path(folder) / "slots"
        slots.mkdir(parents=True, exist_ok=True)
        for index in range(_MAX_SLOTS):
            handle = (slots / f"worker-{index}.lock").open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return cls(index, handle)
        raise RuntimeError(f"more than {_MAX_SLOTS} worker processes")

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases its lock
            self._lock = None


async def keep_versions_loaded(
    engine: Engine,
    slot: WorkerSlot,
    stop: asyncio.Event,
    after: Callable[[], None] | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Every few seconds, load and pin the versions this worker's slot must
    keep loaded, then call ``after``, until ``stop`` is set. The first time,
    every model's default is loaded too, and then ``ready`` is set (what
    ``/readyz`` answers)."""
    while not stop.is_set():
        try:
            await run_in_threadpool(engine.keep_loaded, slot.index)
            if ready is not None and not ready.is_set():
                await run_in_threadpool(engine.warm_defaults)
        except Exception as e:  # a database hiccup must not end the loop
            log.warning("Could not read which versions to keep loaded: %s", e)
        else:
            if ready is not None:
                ready.set()
        if after is not None:
            after()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), KEEP_LOADED_EVERY_S)
