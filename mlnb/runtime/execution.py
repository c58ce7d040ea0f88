"""The contract between the job host and a job kind: what a kind's
execution does (``Execution``), what it is given (``JobContext``) and how
it says the run ended (``Outcome``). Each job kind implements it once; the
job host's runner drives every kind through it alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlnb.config import Settings
from mlnb.records import JobRecord
from mlnb.runtime.logs import LogWriter
from mlnb.states import JobState

if TYPE_CHECKING:
    from mlnb.runtime.dask_cluster import DaskSession
    from mlnb.store import Database

__all__ = ["Execution", "ExecutionFactory", "JobContext", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``SUCCEEDED``, or ``FAILED`` or ``CANCELLED`` with a
    message for the job's ``errorMessage``."""

    state: JobState
    error: str | None = None


@dataclass(frozen=True)
class JobContext:
    """What an execution is made from.

    Attributes:
        job: The job's record when the host took it.
        settings: The host's settings.
        log: The job's log, where the execution writes what it does.
        home: The job's folder on the host (work files, staged inputs).
        session: The Dask cluster to run on; ``None`` runs on this machine.
        database: The metadata store, for an execution that keeps a record
            of what it made (a labelled batch run's evaluation).
    """

    job: JobRecord
    settings: Settings
    log: LogWriter
    home: Path
    session: DaskSession | None = None
    database: Database | None = None


class Execution(Protocol):
    """What the runner drives; one implementation per job kind."""

    def prepare(self) -> None:
        """Get ready to start (build environments, check inputs); may take
        minutes, with heartbeats going on meanwhile."""
        ...

    def start(self) -> None: ...

    def poll(self) -> Outcome | None:
        """How the run ended, or ``None`` while it runs."""
        ...

    def stop(self, grace_s: float) -> None:
        """Stop every process: SIGTERM, then SIGKILL after ``grace_s``."""
        ...

    def progress(self) -> dict[str, Any] | None: ...

    def outputs(self) -> dict[str, Any] | None:
        """Job record fields to keep up to date (``prediction_output``)."""
        ...

    def close(self) -> None:
        """Let go of what the execution holds once the job has ended."""
        ...


class ExecutionFactory(Protocol):
    """Makes a kind's execution for one job (a class or a function)."""

    def __call__(self, context: JobContext, /) -> Execution: ...
