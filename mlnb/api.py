"""The Engine: the one Python API that the CLI, the magics, the REST server
and the JupyterLab extension are faces of."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mlnb.batch_api import BatchAPI
from mlnb.config import Settings
from mlnb.errors import InvalidArgument, MlnbError, NotFound
from mlnb.frameworks import AdapterRegistry
from mlnb.jobs import TEAM_QUEUE, JobService
from mlnb.jobs_api import JobsAPI
from mlnb.local_server import LocalServer
from mlnb.operations_api import OperationsAPI
from mlnb.predict_api import PredictionAPI, _Logging
from mlnb.prediction import PredictionLog, PredictorCache
from mlnb.records import ModelEvent, ModelRecord, VersionRecord
from mlnb.registry import ModelRegistry, OperationService, VersionDeployer, VersionSpec
from mlnb.states import VersionState
from mlnb.store import ArtifactStore, Database

__all__ = ["Engine"]

log = logging.getLogger(__name__)


class Engine(JobsAPI, BatchAPI, OperationsAPI, PredictionAPI):
    """Models, versions, predictions and jobs on one store.

    Args:
        settings: Resolved settings; by default ``Settings.resolve(**overrides)``.
        **overrides: Settings fields (``home=``, ``database_url=``...).

    Example:
        >>> engine = Engine(home="/tmp/mlnb-doc")  # doctest: +SKIP
        >>> engine.create_model("census")  # doctest: +SKIP
        >>> engine.create_version("census", "v1", origin="model_dir/")  # doctest: +SKIP
        >>> engine.predict("census", [[25, 1, 40]])  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings.resolve(**overrides)
        paths = self.settings.paths
        self._db = Database(self.settings.database_url, self.settings.busy_timeout_s)
        self._artifacts = ArtifactStore(self.settings.artifact_root, paths.artifact_cache)
        self._adapters = AdapterRegistry(paths.package_cache)
        self._registry = ModelRegistry(self._db, self.settings.model_quota, self.settings.version_quota)
        trusted = tuple(t.strip() for t in self.settings.skops_trusted_types.split(",") if t.strip())
        self._deployer = VersionDeployer(self._registry, self._artifacts, self._adapters, trusted)
        self._predictors = PredictorCache(
            self.settings.predictor_cache_size, self.settings.predictor_cache_mb * 1024 * 1024
        )
        self._jobs = JobService(
            self._db,
            self.settings.job_dead_after_s,
            self.settings.machine_id,
            TEAM_QUEUE if self.settings.job_host == "service" else None,
        )
        self._operations = OperationService(self._db)
        self._resolved: dict[tuple[str, str, str | None], tuple[float, VersionRecord, _Logging]] = {}
        self._refreshing: set[tuple[str, str, str | None]] = set()
        self._prediction_log = PredictionLog(self._db, legacy=paths.prediction_logs)
        self._last_use: dict[tuple[str, str, str], datetime] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def _actor(self, actor: str | None) -> str:
        return actor or self.settings.actor

    # models

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        online_prediction_logging: bool = False,
        online_prediction_console_logging: bool = False,
        regions: list[str] | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Create a model (no version yet).

        Raises:
            InvalidArgument: A bad name or labels; the message names the rule.
            AlreadyExists: The name is taken in the project.
            ResourceExhausted: The project is at its model quota.
        """
        return self._registry.create_model(
            project or self.project,
            name,
            self._actor(actor),
            description=description,
            labels=labels,
            online_prediction_logging=online_prediction_logging,
            online_prediction_console_logging=online_prediction_console_logging,
            regions=regions,
        )

    def get_model(self, name: str, *, project: str | None = None) -> ModelRecord:
        """A model with its default version. Raises NotFound."""
        return self._registry.get_model(project or self.project, name)

    def list_models(self, *, project: str | None = None) -> list[ModelRecord]:
        """The project's models, by name."""
        return self._registry.list_models(project or self.project)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Change a model's description or labels; ``None`` keeps a field.

        Raises:
            NotFound: No such model.
            FailedPrecondition: ``etag`` given and stale.
        """
        return self._registry.update_model(
            project or self.project, name, self._actor(actor), description, labels, etag
        )

    def delete_model(self, name: str, *, project: str | None = None, actor: str | None = None) -> None:
        """Delete a model that has no versions left.

        Raises:
            NotFound: No such model.
            FailedPrecondition: It still has versions.
        """
        self._registry.delete_model(project or self.project, name, self._actor(actor))

    def model_history(
        self, name: str, *, until: datetime | None = None, project: str | None = None
    ) -> list[ModelEvent]:
        """Every change to a model, oldest first, with time and actor."""
        return self._registry.history(project or self.project, name, until)

    def default_version_at(self, name: str, time: datetime, *, project: str | None = None) -> str | None:
        """The version that was the model's default at ``time``, or ``None``."""
        return self._registry.default_version_at(project or self.project, name, time)

    # versions

    def create_version(
        self,
        model: str,
        name: str,
        origin: str | Path,
        *,
        framework: str | None = None,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        runtime_version: str | None = None,
        python_version: str | None = None,
        prediction_class: str | None = None,
        package_uris: Sequence[str | Path] = (),
        manual_scaling: dict[str, Any] | None = None,
        auto_scaling: dict[str, Any] | None = None,
        machine_type: str | None = None,
        request_logging_config: dict[str, Any] | None = None,
        batching: dict[str, Any] | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> VersionRecord:
        """Create a version from the model files at ``origin`` (a folder or a
        file, local or any fsspec URL) and load it once to prove it works.

        The files are copied into the artifact store with their checksums;
        the framework is detected when not given. The version comes back
        READY (the model's first becomes its default), or FAILED with
        ``error_message`` saying why.

        ``manual_scaling={"nodes": n}`` or ``auto_scaling={"minNodes": n}``
        keeps the version loaded in the first ``n`` worker processes of a
        server; ``batching={"maxBatchSize": b, "maxWaitMs": w}`` sets how a
        server groups concurrent requests to it (an mlnb extension).

        Raises:
            InvalidArgument: A bad name, labels, framework or origin.
            NotFound: No such model.
            AlreadyExists: The model has a version of that name.
            ResourceExhausted: The project is at its version quota.
        """
        spec = VersionSpec(
            name=name,
            origin=str(origin),
            framework=framework,
            description=description,
            labels=labels,
            runtime_version=runtime_version,
            python_version=python_version,
            prediction_class=prediction_class,
            package_uris=tuple(str(p) for p in package_uris),
            manual_scaling=manual_scaling,
            auto_scaling=auto_scaling,
            machine_type=machine_type,
            request_logging_config=request_logging_config,
            batching=batching,
        )
        record = self._deployer.create_version(project or self.project, model, spec, self._actor(actor))
        self._forget(record.project, record.model)
        return record

    def deploy(
        self,
        model: str,
        name: str,
        origin: str | Path,
        *,
        set_default: bool = False,
        project: str | None = None,
        actor: str | None = None,
        **version: Any,
    ) -> VersionRecord:
        """Create the model when it does not exist, then the version, in one
        step (``%ml deploy``, ``mlnb deploy``); ``version`` takes the
        keywords of :meth:`create_version`. A new model's first version is
        its default; ``set_default`` makes the new version the default of a
        model that had one.

        Raises:
            The errors of :meth:`create_model` and :meth:`create_version`.
        """
        try:
            self.get_model(model, project=project)
        except NotFound:
            self.create_model(model, project=project, actor=actor)
        record = self.create_version(model, name, origin, project=project, actor=actor, **version)
        if set_default and record.state == VersionState.READY and not record.is_default:
            record = self.set_default_version(model, name, project=project, actor=actor)
        return record

    def get_version(self, model: str, name: str, *, project: str | None = None) -> VersionRecord:
        """A version. Raises NotFound, listing the model's versions."""
        return self._registry.get_version(project or self.project, model, name)

    def list_versions(self, model: str, *, project: str | None = None) -> list[VersionRecord]:
        """A model's versions, oldest first. Raises NotFound."""
        return self._registry.list_versions(project or self.project, model)

    def update_version(
        self,
        model: str,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> VersionRecord:
        """Change a version's description or labels; ``None`` keeps a field."""
        return self._registry.update_version(
            project or self.project,
            model,
            name,
            self._actor(actor),
            description,
            labels,
            etag,
        )

    def set_default_version(
        self,
        model: str,
        name: str,
        *,
        project: str | None = None,
        actor: str | None = None,
    ) -> VersionRecord:
        """Make a READY version the model's default.

        Raises:
            NotFound: No such version.
            FailedPrecondition: The version is not READY.
        """
        project = project or self.project
        candidate = self._registry.get_version(project, model, name)
        if candidate.state == VersionState.READY:
            # Loaded before it takes traffic: a version that cannot load never becomes the default.
            self._predictors.get(
                (candidate.resource_name, candidate.artifact_uri),
                lambda: self._deployer.load_predictor(candidate),
            )
        record = self._registry.set_default_version(project, model, name, self._actor(actor))
        self._forget(project, model)
        return record

    def delete_version(
        self,
        model: str,
        name: str,
        *,
        project: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Delete a version and its stored files.

        Raises:
            NotFound: No such version.
            FailedPrecondition: It is the default and the model has others.
        """
        project = project or self.project
        record = self._registry.delete_version(project, model, name, self._actor(actor))
        self._forget(project, model)
        self._deployer.delete_files(record)

    # the background REST server of this home

    def start_server(self, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> dict[str, Any]:
        """Start ``mlnb server`` in the background for this home (it outlives
        the calling process) and wait until it answers; returns its
        :meth:`server_status`.

        Raises:
            FailedPrecondition: One runs already.
            Unavailable: It did not start (the port is taken, say).
        """
        return LocalServer(self.settings).start(host, port, workers)

    def server_status(self) -> dict[str, Any] | None:
        """The background server's ``url``, ``pid``, ``port``, ``workers``,
        ``startTime`` and ``log``, or ``None`` when none runs."""
        return LocalServer(self.settings).status()

    def stop_server(self) -> dict[str, Any]:
        """Stop the background server. Raises FailedPrecondition when none runs."""
        return LocalServer(self.settings).stop(self.settings.cancel_grace_s)

    # TensorBoard, a background service of this home like the server

    def start_tensorboard(
        self, logdir: str | Path | None = None, *, job: str | None = None, port: int | None = None
    ) -> dict[str, Any]:
        """Start TensorBoard on ``logdir``, or on the job directory of the job
        ``job`` (one already on that folder is reused), and wait until it
        answers; returns its ``url``, ``port``, ``logdir``, ``pid`` and ``log``.

        Raises:
            InvalidArgument: Neither or both of ``logdir`` and ``job``, or the
                job has no job directory.
            NotFound: No such job.
            MissingExtra: TensorBoard is not installed.
            Unavailable: It did not start in time.
        """
        from mlnb import tensorboard

        if (logdir is None) == (job is None):
            raise InvalidArgument("TensorBoard needs a log folder or a job, not both")
        if job is not None:
            logdir = (self.get_job(job).training_input or {}).get("jobDir")
            if not logdir:
                raise InvalidArgument(f"Job {job!r} has no job directory (submit it with a job dir)")
        return tensorboard.start(self.settings, str(logdir), port)

    def tensorboards(self) -> list[dict[str, Any]]:
        """The TensorBoards running for this home."""
        from mlnb import tensorboard

        return tensorboard.running(self.settings)

    def stop_tensorboard(self, port: int | None = None) -> list[dict[str, Any]]:
        """Stop the TensorBoard on ``port``, or all of this home's; returns those stopped."""
        from mlnb import tensorboard

        return tensorboard.stop(self.settings, port)

    def frameworks(self) -> list[str]:
        """Names of the framework adapters available, plugins included."""
        return self._adapters.names()

    def close(self) -> None:
        """Write pending lastUseTime values and prediction log entries, and
        close database connections."""
        self._flush_last_use(force=True)
        self._prediction_log.close()
        self._db.dispose()

    # internals

    def _forget(self, project: str, model: str) -> None:
        for key in [k for k in self._resolved if k[:2] == (project, model)]:
            del self._resolved[key]
        prefix = f"projects/{project}/models/{model}/"
        live = {v.artifact_uri for v in self._safe_versions(project, model)}
        self._predictors.discard(lambda k: str(k[0]).startswith(prefix) and k[1] not in live)  # type: ignore[index]

    def _safe_versions(self, project: str, model: str) -> list[VersionRecord]:
        try:
            return self._registry.list_versions(project, model)
        except MlnbError:
            return []
