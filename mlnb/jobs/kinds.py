"""The registry of job kinds, in the manner of papermill's engine registry:
a kind is a name, the factory of its execution and, optionally, the spec
that reads its input at submission. The built-in kinds are registered by
import path and imported on first use (a job host that only trains never
imports Optuna or papermill); other packages add kinds through the
``mlnb.job_kinds`` entry-point group, whose entries load a ``KindPlugin``
(or just an ``ExecutionFactory``). A broken plug-in fails the jobs of its
kind with a clear message and never the host.

Adding a kind: an execution class (``mlnb.runtime.Execution``) made from a
``JobContext``, and one ``register`` call or entry point. Its jobs are
submitted with ``Engine.submit_job(job_id, kind, job_input)`` (REST:
``jobKind`` and ``jobInput``; CLI: ``mlnb jobs submit KIND JOB --input
FILE``); the execution reads ``context.job.job_input``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from mlnb.config import Settings
from mlnb.errors import InvalidArgument, MlnbError
from mlnb.records import JobRecord
from mlnb.runtime.execution import Execution, ExecutionFactory, JobContext
from mlnb.states import JobKind
from mlnb.store import Database

__all__ = ["ENTRY_POINT_GROUP", "SLOTLESS_KINDS", "InputSpec", "JobKindRegistry", "KindPlugin", "job_kinds"]

ENTRY_POINT_GROUP = "mlnb.job_kinds"

_BUILTINS: dict[str, str] = {
    JobKind.TRAINING: "mlnb.training.execution:TrainingExecution.for_job",
    JobKind.TUNING: "mlnb.tuning.execution:TuningExecution.for_job",
    JobKind.PREDICTION: "mlnb.batch.execution:BatchPredictionExecution.for_job",
    JobKind.NOTEBOOK: "mlnb.notebook.execution:NotebookExecution.for_job",
}


# Kinds that ship with mlnb but take a jobInput as a plug-in's do: their
# execution factory and input spec, imported on first use.
_FIRST_PARTY: dict[str, tuple[str, str, str]] = {
    "rollout": (
        "mlnb.rollout.execution:RolloutExecution.for_job",
        "mlnb.rollout.spec:RolloutSpec",
        "mlnb.rollout.execution:restore_abandoned",
    ),
    # A pipeline does what the Engine does: its execution stands on the
    # engine's floor, imported (by name) only by the host that runs one.
    "pipeline": ("mlnb.pipeline_run:PipelineExecution.for_job", "mlnb.pipelines.spec:PipelineSpec", ""),
}


# First-party kinds that run no process of their own: a rollout watches a
# model's traffic, a pipeline submits jobs (which take slots themselves).
# They take no slot of a machine's max_running_jobs, so that a pipeline
# never waits on a child that waits on the pipeline's slot.
SLOTLESS_KINDS = frozenset({"rollout", "pipeline"})


# A kind's name is stored with each job (64 characters) and typed in
# commands: the naming rule of projects, which every built-in passes.
_KIND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class ApiBody(Protocol):
    """A checked input, which gives back the JSON to store."""

    def to_api(self) -> dict[str, Any]: ...


class InputSpec(Protocol):
    """Reads a kind's input at submission (a class with a ``from_api``
    classmethod fits, as mlnb's own specs are written): refuses a bad one
    with ``InvalidArgument`` naming the field, so that no job is recorded."""

    def from_api(self, body: Mapping[str, Any], /) -> ApiBody: ...


class AbandonedHook(Protocol):
    """Undoes what a job left half-done when its host died, from what the
    job recorded (its input, its progress); says what it did, or ``None``.
    A hook that takes a third argument is given the settings of the
    process that ended the job (its notification channels, its quotas)."""

    def __call__(self, job: JobRecord, database: Database, /, *settings: Settings) -> str | None: ...


@dataclass(frozen=True)
class KindPlugin:
    """What an entry point of the ``mlnb.job_kinds`` group may load: the
    execution factory of a kind, the spec of its input, and what to do
    when a job's host died with it unfinished (the job is ended FAILED
    first)."""

    execution: ExecutionFactory
    spec: InputSpec | None = None
    abandoned: AbandonedHook | None = None


def _lazy(target: str, spec: str | None = None, abandoned: str | None = None) -> Callable[[], KindPlugin]:
    def load() -> KindPlugin:
        return KindPlugin(
            _imported(target),
            _imported(spec) if spec else None,
            _imported(abandoned) if abandoned else None,
        )

    return load


def _takes_settings(hook: Callable[..., Any]) -> bool:
    """Whether an abandoned hook takes the settings: hooks written for
    ``(job, database)`` keep working."""
    try:
        parameters = list(inspect.signature(hook).parameters.values())
    except (TypeError, ValueError):  # a builtin or a C callable: as documented first
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return len([p for p in parameters if p.kind in positional]) >= 3 or any(
        p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters
    )


def _imported(target: str) -> Any:
    module_name, attribute = target.split(":")
    found: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def _entry_loader(load: Callable[[], Any]) -> Callable[[], KindPlugin]:
    def plugin() -> KindPlugin:
        found = load()
        return found if isinstance(found, KindPlugin) else KindPlugin(found)

    return plugin


class JobKindRegistry:
    """Job kinds by name, each with the factory of its execution."""

    def __init__(self) -> None:
        self._loaders: dict[str, Callable[[], KindPlugin]] = {
            str(kind): _lazy(target) for kind, target in _BUILTINS.items()
        }
        self._loaders.update({kind: _lazy(*targets) for kind, targets in _FIRST_PARTY.items()})
        self._plugins: dict[str, KindPlugin] = {}
        self._broken: dict[str, str] = {}
        self._plugins_loaded = False
        # Runners are threads of one host: the first to need a plug-in loads
        # them all while the others wait.
        self._lock = threading.Lock()

    def register(
        self,
        kind: str,
        *,
        execution: ExecutionFactory,
        spec: InputSpec | None = None,
        abandoned: AbandonedHook | None = None,
    ) -> None:
        """Add or replace the kind ``kind``.

        Args:
            kind: Its name: a lowercase letter, then lowercase letters,
                digits, ``-`` and ``_``, 64 at most.
            execution: Makes the execution of each of its jobs.
            spec: Reads a job's input at submission; without one, the input
                is stored as given (any JSON object).
            abandoned: Undoes what a job left half-done when its host died.

        Raises:
            InvalidArgument: The name breaks the rule, or is a built-in's.
        """
        if not _KIND_NAME.fullmatch(kind):
            raise InvalidArgument(
                f"A job kind's name is a lowercase letter, then lowercase letters, digits, "
                f"'-' or '_', 64 at most: {kind!r}"
            )
        if kind in _BUILTINS or kind in _FIRST_PARTY:
            raise InvalidArgument(f"{kind!r} is a built-in job kind: a plug-in's kind needs another name")
        plugin = KindPlugin(execution, spec, abandoned)
        self._loaders[kind] = lambda: plugin
        self._plugins.pop(kind, None)
        self._broken.pop(kind, None)

    def names(self) -> list[str]:
        """Every kind known, built-ins first (the entry points looked up
        again: a package installed meanwhile is listed)."""
        self._load_plugins(again=True)
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
        return self.plugin(kind).execution

    def check_input(self, kind: str, body: Any) -> dict[str, Any]:
        """The input of a job of a plug-in's kind, read by the kind's spec:
        what is stored as the job's ``jobInput``.

        Raises:
            InvalidArgument: An unknown or built-in kind (those have inputs
                of their own: ``trainingInput``...), a body that is not a
                JSON object, or one that the kind's spec refuses.
            MlnbError: The plug-in that provides the kind failed to load.
        """
        if kind in _BUILTINS:
            raise InvalidArgument(f"{kind} jobs take their own input, not jobInput", field="jobInput")
        plugin = self.plugin(kind)
        if not isinstance(body, Mapping):
            raise InvalidArgument(f"jobInput must be an object, got {type(body).__name__}", field="jobInput")
        if plugin.spec is None:
            return dict(body)
        return plugin.spec.from_api(body).to_api()

    def abandoned(self, job: JobRecord, database: Database, settings: Settings | None = None) -> str | None:
        """Run the hook of ``job``'s kind for a job whose host died; what
        it did, in words. A hook that fails is said, never raised: the
        job is ended already."""
        try:
            hook = self.plugin(str(job.kind)).abandoned
            if hook is None:
                return None
            if settings is not None and _takes_settings(hook):
                return hook(job, database, settings)
            return hook(job, database)
        except Exception as e:  # a plug-in's hook may fail in any way
            return f"cleaning up after it failed: {type(e).__name__}: {e}"

    def plugin(self, kind: str) -> KindPlugin:
        """What the kind ``kind`` is made of, loaded on first use.

        Raises:
            InvalidArgument: No kind of that name is registered.
            MlnbError: The plug-in that provides the kind failed to load.
        """
        if kind not in self._loaders:
            # Looked up again each time a name is missing: a package installed
            # while a server or a host runs brings its kinds in.
            self._load_plugins(again=True)
        if kind in self._broken:
            raise self._broken_error(kind)
        if kind not in self._loaders:
            raise InvalidArgument(f"This mlnb cannot run {kind} jobs; it runs: {', '.join(self.names())}")
        with self._lock:
            if kind not in self._plugins:
                self._plugins[kind] = self._load(kind)
        return self._plugins[kind]

    def _load(self, kind: str) -> KindPlugin:
        try:
            return self._loaders[kind]()
        except MlnbError:
            raise
        except Exception as e:  # a plug-in's import may fail in any way
            self._broken[kind] = f"{type(e).__name__}: {e}"
            raise self._broken_error(kind) from e

    def _broken_error(self, kind: str) -> MlnbError:
        return MlnbError(f"The job kind plug-in {kind!r} failed to load: {self._broken[kind]}")

    def _load_plugins(self, *, again: bool = False) -> None:
        with self._lock:
            if self._plugins_loaded and not again:
                return
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                self._loaders.setdefault(entry.name, _entry_loader(entry.load))
            self._plugins_loaded = True


# The host's registry; plug-ins and tests register on it.
job_kinds = JobKindRegistry()
