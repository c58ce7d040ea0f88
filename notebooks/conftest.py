"""The example notebooks run under nbval with ``make test``: each is a slow
integration test (it starts a kernel, jobs and servers of its own). Their
kernels share one mlnb home of the test run's, as ``make lab`` gives them
one, never the user's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_HOME = tempfile.mkdtemp(prefix="mlnb-notebooks-home-")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """nbval starts a notebook's kernel while the notebook's first cell is
    set up: the kernel takes the environment of that moment."""
    if item.path.suffix != ".ipynb" or HERE not in item.path.parents:
        yield
        return
    saved = os.environ.get("MLNB_HOME")
    os.environ["MLNB_HOME"] = _HOME
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLNB_HOME", None)
        else:
            os.environ["MLNB_HOME"] = saved


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb" and HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


# What the notebooks write (executed copies among it) is not a test.
collect_ignore = ["work"]


def pytest_sessionfinish() -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
