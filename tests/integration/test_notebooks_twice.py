"""Every example notebook runs top to bottom twice in one kernel, in one
mlnb home shared with whatever else is there (as under ``make lab``, where
the sidebar shows the same home): the second run starts from scratch, as
each notebook says, without a name clash or a stale database."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_a_notebook_runs_twice_in_one_kernel(name: str, tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    notebook = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")}
    env |= {"MLNB_HOME": str(tmp_path / "shared-home"), "MLNB_JOB_HOST_IDLE_S": "3"}
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with client.setup_kernel(env=env):
        for run in (1, 2):
            for index, cell in enumerate(notebook.cells):
                # Raises CellExecutionError, naming the cell, when a cell fails.
                client.execute_cell(cell, index)
            printed = [o.get("text", "") for o in notebook.cells[1].get("outputs", [])]
            assert f"mlnb home: {tmp_path / 'shared-home'}" in "".join(printed), (run, printed)
