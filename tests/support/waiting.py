"""Waiting for what a test means, never for a moment."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0, poll_s: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true, and return that.

    ``timeout`` is a bound for a cold, loaded machine, not a measure:
    crossing it fails the test with ``what`` in the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)
