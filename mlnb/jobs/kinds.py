"""The registry of job kinds, in the manner of papermill's engine registry:
a kind is a name and the factory of its execution. The built-in kinds are
registered by import path and imported on first use (a job host that only
trains never imports Optuna or papermill); other packages add kinds through
the ``mlnb.job_kinds`` entry-point group, whose entries load an
``ExecutionFactory``. A broken plug-in fails the jobs of its kind with a
clear message and never the host.

Adding a kind: an execution class (``mlnb.runtime.Execution``) made from a
``JobContext``, and one ``register`` call or entry point.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.runtime.execution import Execution, ExecutionFactory, JobContext
from mlnb.states import JobKind

__all__ = ["ENTRY_POINT_GROUP", "JobKindRegistry", "job_kinds"]

ENTRY_POINT_GROUP = "mlnb.job_kinds"

_BUILTINS: dict[str, str] = {
    JobKind.TRAINING: "mlnb.training.execution:TrainingExecution.for_job",
    JobKind.TUNING: "mlnb.tuning.execution:TuningExecution.for_job",
    JobKind.PREDICTION: "mlnb.batch.execution:BatchPredictionExecution.for_job",
    JobKind.NOTEBOOK: "mlnb.notebook.execution:NotebookExecution.for_job",
}


def _lazy(target: str) -> Callable[[], ExecutionFactory]:
    def load() -> ExecutionFactory:
        module_name, attribute = target.split(":")
        found: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
        return found  # type: ignore[return-value]

    return load


class JobKindRegistry:
    """Job kinds by name, each with the factory of its execution."""

    def __init__(self) -> None:
        self._loaders: dict[str, Callable[[], ExecutionFactory]] = {
            str(kind): _lazy(target) for kind, target in _BUILTINS.items()
        }
        self._factories: dict[str, ExecutionFactory] = {}
        self._broken: dict[str, str] = {}
        self._plugins_loaded = False
        # Runners are threads of one host: the first to need a plug-in loads
        # them all while the others wait.
        self._lock = threading.Lock()

    def register(self, kind: str, *, execution: ExecutionFactory) -> None:
        """Add or replace the kind ``kind``, whose jobs run by ``execution``."""
        self._loaders[kind] = lambda: execution
        self._factories.pop(kind, None)
        self._broken.pop(kind, None)

    def names(self) -> list[str]:
        """Every kind known, built-ins first."""
        self._load_plugins()
        return list(self._loaders)

    def create_execution(self, context: JobContext) -> Execution:
        """The execution of ``context.job``, by its kind.

        Raises:
            InvalidArgument: No kind of that name is registered.
            MlnbError: The plug-in that provides the kind failed to load.
        """
        return self.factory(context.job.kind)(context)

    def factory(self, kind: str) -> ExecutionFactory:
        """The execution factory of ``kind`` (see ``create_execution``)."""
        if kind not in self._loaders:
            self._load_plugins()
        if kind in self._broken:
            raise self._broken_error(kind)
        if kind not in self._loaders:
            raise InvalidArgument(f"This mlnb cannot run {kind} jobs; it runs: {', '.join(self.names())}")
        with self._lock:
            if kind not in self._factories:
                self._factories[kind] = self._load(kind)
        return self._factories[kind]

    def _load(self, kind: str) -> ExecutionFactory:
        try:
            return self._loaders[kind]()
        except MlnbError:
            raise
        except Exception as e:  # a plug-in's import may fail in any way
            self._broken[kind] = f"{type(e).__name__}: {e}"
            raise self._broken_error(kind) from e

    def _broken_error(self, kind: str) -> MlnbError:
        return MlnbError(f"The job kind plug-in {kind!r} failed to load: {self._broken[kind]}")

    def _load_plugins(self) -> None:
        with self._lock:
            if self._plugins_loaded:
                return
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self._loaders.setdefault(entry.name, entry.load)
            self._plugins_loaded = True


# The host's registry; plug-ins and tests register on it.
job_kinds = JobKindRegistry()
