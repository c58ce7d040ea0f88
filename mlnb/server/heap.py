"""Keeping a server's long-lived objects out of the garbage collector's
full passes.

A server process holds a few hundred thousand objects that live as long as
it does: the modules it imported (Starlette, SQLAlchemy, pandas,
scikit-learn, MLflow...) and the versions it loaded. Every request makes
container objects (a 100-instance request parses into a hundred lists);
under load that triggers a full collection about once a second, and each
one walks every long-lived object: measured at 75 to 200 ms here, every
request waiting behind it (the p99 of 100-instance requests jumped to
100 ms and beyond). ``gc.freeze`` moves what exists to a generation the
collector never walks. Frozen garbage would never be freed, so the heap is
collected before each freeze, which happens at start and whenever the
loaded versions change (a load or a drop: rare, and already slow).

Requests' own objects are kept out of the young generation's passes. A
100-instance body parses into a hundred lists of twenty numbers, alive
while its request waits for a batch; at the default threshold (a pass each
700 container objects made and not yet freed), 16 concurrent such
requests set off a pass every six requests, each walking every list in
flight and their numbers: 65 to 85 µs a request measured with
``gc.callbacks``, the bare endpoint's throughput at 0.5 to 0.65. While
the freezer holds the heap, the threshold is 50,000: what requests make is
freed before a pass comes (the count stays under 6,000 at that load), and
garbage in cycles is still collected, later (some tens of MB at most).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

__all__ = ["HeapFreezer"]

# Container objects made and not freed before a young pass, while serving.
YOUNG_THRESHOLD = 50_000


class HeapFreezer:
    """Freezes the heap when ``changes()`` (the count of versions loaded
    or dropped so far) moved since the last freeze."""

    def __init__(self, changes: Callable[[], int]) -> None:
        self._changes = changes
        self._frozen_at: int | None = None
        self.freezes = 0
        # Counted once a freeze: gc.get_freeze_count() walks every frozen
        # object (17 ms for 160,000 here) with the GIL held. The figure is the
        # count at the freeze: frozen objects that die later leave the
        # permanent generation, so the live count can only be lower.
        self.frozen_objects = 0
        self._thresholds: tuple[int, int, int] | None = None  # the collector's own, to give back

    def after_loads(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, *older = self._thresholds
            gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
        count = self._changes()
        if count == self._frozen_at:
            return
        gc.unfreeze()  # what a dropped version left is collected, not kept frozen
        gc.collect()
        gc.freeze()
        self.frozen_objects = gc.get_freeze_count()
        self._frozen_at = count
        self.freezes += 1

    def release(self) -> None:
        """Hand the frozen objects, and its thresholds, back to the
        collector (the app stops)."""
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
        gc.unfreeze()
        self._frozen_at = None
        self.frozen_objects = 0
