"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.team import ServiceHost


@pytest.fixture
def hosts() -> Iterator[list[ServiceHost]]:
    """Job services a test starts (``hosts.append(ServiceHost(...))``),
    stopped after it."""
    started: list[ServiceHost] = []
    yield started
    for host in started:
        host.stop()
