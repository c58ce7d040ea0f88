"""The example notebooks run under nbval with ``make test``: each is a slow
integration test (it starts a kernel, jobs and servers of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb" and HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


# What the notebooks write (executed copies among it) is not a test.
collect_ignore = ["work"]
