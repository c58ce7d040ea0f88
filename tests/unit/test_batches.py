"""Rows sent to the store in batches: in order, a refused batch kept for
the next round, and a bound on what waits while the store is away."""

from __future__ import annotations

import pytest

from mlnb.errors import MlnbError, Unavailable
from mlnb.runtime.batches import BatchSender


class Store:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.away = False

    def send(self, rows: list[int]) -> None:
        if self.away:
            raise Unavailable("the database is away")
        self.batches.append(rows)


def test_a_refused_batch_is_sent_with_the_next_one_in_order() -> None:
    store = Store()
    errors: list[MlnbError] = []
    sender = BatchSender(store.send, flush_s=3600, on_error=errors.append)
    sender.add(1)
    sender.add(2)
    store.away = True
    with pytest.raises(Unavailable):
        sender.flush()
    sender.add(3)
    store.away = False
    sender.flush()
    sender.add(4)
    sender.close()  # sends what is left
    assert store.batches == [[1, 2, 3], [4]]


def test_at_most_max_pending_rows_wait_the_oldest_going_first() -> None:
    store = Store()
    store.away = True
    sender = BatchSender(store.send, flush_s=3600, max_pending=3)
    for row in range(5):
        sender.add(row)
    with pytest.raises(Unavailable):
        sender.flush()
    store.away = False
    sender.close()
    assert store.batches == [[2, 3, 4]] and sender.dropped == 2


def test_the_thread_sends_without_being_asked() -> None:
    import threading

    sent = threading.Event()
    rows: list[int] = []

    def send(batch: list[int]) -> None:
        rows.extend(batch)
        sent.set()

    sender = BatchSender(send, flush_s=0.01)
    sender.add(7)
    assert sent.wait(timeout=30)
    sender.close()
    assert rows == [7]
