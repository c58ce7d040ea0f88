"""Shadow predictions: a copy of a share of a model's requests goes to its
shadow version after the serving version answered, on a thread of its own;
what the shadow answers (or the error it raises) is logged beside what was
served, and never reaches the caller. When the shadow falls behind, copies
beyond ``MAX_PENDING`` are dropped (and counted), never queued without bound."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["MAX_PENDING", "ShadowSender"]

MAX_PENDING = 64
log = logging.getLogger("mlnb.predictions")


class ShadowSender:
    """Runs shadow predictions off the request's path."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending = threading.BoundedSemaphore(MAX_PENDING)
        self._started = threading.Lock()
        self.dropped = 0

    @staticmethod
    def chosen(percent: int) -> bool:
        """Whether this request is one of the shadow's share."""
        return percent >= 100 or random.random() * 100 < percent  # noqa: S311 - a share, not a secret

    def send(self, work: Callable[[], Any]) -> bool:
        """Run ``work`` on the shadow's thread; ``False`` when too many wait."""
        if not self._pending.acquire(blocking=False):
            self.dropped += 1
            return False
        with self._started:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlnb-shadow")
        future = self._pool.submit(work)
        future.add_done_callback(self._done)
        return True

    def _done(self, future: Any) -> None:
        self._pending.release()
        error = future.exception()
        if error is not None:  # the work logs what the model raised; this is a bug of ours
            log.warning("A shadow prediction failed: %s", error)

    def close(self) -> None:
        """Finish the copies already sent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
