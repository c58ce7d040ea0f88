"""A server freezes its heap when the loaded versions change, and what a
dropped version left in reference cycles is collected, never kept frozen."""

from __future__ import annotations

import gc
import weakref

from mlnb.server.heap import HeapFreezer


class Loaded:
    """A loaded version's stand-in: an object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


def test_freezes_on_each_change_and_collects_what_was_dropped() -> None:
    changes = [0]
    freezer = HeapFreezer(lambda: changes[0])
    try:
        version = Loaded()
        dropped = weakref.ref(version)
        freezer.after_loads()
        # Counted at the freeze: a frozen object that dies afterwards (one a
        # thread of another test drops) leaves the permanent generation.
        assert freezer.freezes == 1 and 0 < gc.get_freeze_count() <= freezer.frozen_objects
        freezer.after_loads()
        assert freezer.freezes == 1  # nothing changed: no collection, no freeze
        del version  # dropped from the cache: garbage, frozen with the rest
        assert dropped() is not None
        changes[0] += 1
        freezer.after_loads()
        assert freezer.freezes == 2 and dropped() is None
    finally:
        freezer.release()
    assert gc.get_freeze_count() == 0 == freezer.frozen_objects


def test_raises_the_young_threshold_while_it_holds_the_heap_and_gives_it_back() -> None:
    from mlnb.server.heap import YOUNG_THRESHOLD

    before = gc.get_threshold()
    freezer = HeapFreezer(lambda: 0)
    try:
        freezer.after_loads()
        assert gc.get_threshold() == (max(before[0], YOUNG_THRESHOLD), *before[1:])
        freezer.after_loads()  # again: still the collector's own to give back
    finally:
        freezer.release()
    assert gc.get_threshold() == before
