"""The ``mlnb`` command line: a thin face over the Engine."""

from __future__ import annotations

from mlnb.cli import (  # noqa: F401 - registers the commands
    batch,
    evaluate,
    jobs,
    models,
    monitor,
    operations,
    predict,
    schedules,
    server,
    store,
    versions,
)
from mlnb.cli.app import cli, main, run

__all__ = ["cli", "main", "run"]
