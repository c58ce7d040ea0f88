"""Notebook jobs: a notebook run by papermill with parameters injected, its
progress in cells, the executed notebook kept as the job's output."""

from __future__ import annotations

from mlnb.notebook.execution import NotebookExecution, cell_progress, validate_notebook
from mlnb.notebook.spec import NotebookSpec

__all__ = ["NotebookExecution", "NotebookSpec", "cell_progress", "validate_notebook"]
