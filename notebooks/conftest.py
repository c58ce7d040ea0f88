"""The example notebooks run under nbval with ``make test``: each is a slow
integration test (it starts a kernel, jobs and servers of its own), run
twice in one kernel. Their kernels share one mlnb home of the test run's,
as ``make lab`` gives them one, never the user's own."""

from __future__ import annotations

import copy
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
    if not _ours(item):
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


def _ours(item: pytest.Item) -> bool:
    return item.path.suffix == ".ipynb" and HERE in item.path.parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each notebook runs twice in its one kernel, as a user's Run All
    twice: its cells again right after its last one (nbval keeps a
    notebook's kernel while its cells follow each other), named
    ``Cell N (run 2)``. Each notebook says running it again starts from
    scratch; this holds it to that."""
    from nbval.plugin import IPyNbCell

    twice: list[pytest.Item] = []
    for index, item in enumerate(items):
        twice.append(item)
        last_of_its_notebook = index + 1 == len(items) or items[index + 1].parent is not item.parent
        if isinstance(item, IPyNbCell) and _ours(item) and last_of_its_notebook:
            cells = [i for i in items if i.parent is item.parent and isinstance(i, IPyNbCell)]
            twice += [
                IPyNbCell.from_parent(
                    cell.parent,
                    name=f"{cell.name} (run 2)",
                    cell_num=cell.cell_num,
                    cell=copy.deepcopy(cell.cell),
                    options=cell.options,
                )
                for cell in cells
            ]
    items[:] = twice
    for item in items:
        if _ours(item):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)


# What the notebooks write (executed copies among it) is not a test.
collect_ignore = ["work"]


def pytest_sessionfinish() -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
