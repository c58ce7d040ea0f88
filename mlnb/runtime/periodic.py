"""A task repeated from a thread while a block of work runs: the heartbeats
of a job's runner, the lease renewals of a version's creator."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

__all__ = ["repeating"]


@contextlib.contextmanager
def repeating(every_s: float, tick: Callable[[], bool], name: str) -> Iterator[None]:
    """Call ``tick`` every ``every_s`` seconds from a thread named ``name``
    while the block runs, until the block ends or ``tick`` returns False;
    the thread is gone when the block is left."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(every_s):
            if not tick():
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
