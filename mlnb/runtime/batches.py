"""Rows sent to the metadata store in batches, from a thread: a job's log
lines from its host, sampled predictions from a server. One write
transaction per batch instead of one per row keeps a busy writer from
taking the database's write slot hundreds of times a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from mlnb.errors import MlnbError

Row = TypeVar("Row")


class BatchSender(Generic[Row]):
    """Collects rows and hands them to ``send`` every ``flush_s`` (and on
    ``flush``/``close``), in the order they were added; safe from several
    threads.

    A batch that ``send`` refuses with an :class:`MlnbError` (the database
    busy or away) is kept and sent with the next one, and ``on_error`` is
    told why; at most ``max_pending`` rows wait, the oldest going first, so
    that a store away for long does not grow a server's memory without end.
    """

    def __init__(
        self,
        send: Callable[[list[Row]], None],
        *,
        flush_s: float = 0.5,
        on_error: Callable[[MlnbError], None] | None = None,
        max_pending: int = 100_000,
        name: str = "batch-flush",
    ) -> None:
        self._send = send
        self._on_error = on_error
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._pending: list[Row] = []
        self.dropped = 0
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_every, args=(flush_s,), name=name, daemon=True)
        self._flusher.start()

    def add(self, row: Row) -> None:
        with self._lock:
            self._pending.append(row)
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest rows past the bound (the caller holds the lock)."""
        extra = len(self._pending) - self._max_pending
        if extra > 0:
            del self._pending[:extra]
            self.dropped += extra

    def flush(self) -> None:
        """Send what is pending now.

        Raises:
            MlnbError: ``send`` refused it (it stays pending).
        """
        with self._sending:  # batches leave in order
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._send(batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                    self._trim()
                raise

    def _flush_every(self, interval_s: float) -> None:
        while not self._closed.wait(interval_s):
            try:
                self.flush()
            except MlnbError as e:  # the next round retries
                if self._on_error is not None:
                    self._on_error(e)

    def close(self) -> None:
        """Stop the thread and send what is pending (a last try).

        Raises:
            MlnbError: The last batch was refused.
        """
        self._closed.set()
        self._flusher.join()
        self.flush()
