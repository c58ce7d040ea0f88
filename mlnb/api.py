"""The Engine: the one Python API that the CLI, the magics, the REST server
and the JupyterLab extension are faces of."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlnb.batch_api import BatchAPI
from mlnb.config import Settings
from mlnb.durations import parse_duration
from mlnb.errors import InvalidArgument
from mlnb.evaluation_api import EvaluationAPI
from mlnb.frameworks import AdapterRegistry
from mlnb.jobs import TEAM_QUEUE, JobService, LogEntry, ensure_job_host, settings_for_queue
from mlnb.jobs_api import JobsAPI
from mlnb.local_server import LocalServer
from mlnb.models_api import ModelsAPI
from mlnb.monitoring_api import MonitoringAPI
from mlnb.operations_api import OperationsAPI
from mlnb.predict_api import PredictionAPI
from mlnb.prediction import DecodedInstances, PredictionLog, PredictorCache, ServedCounts
from mlnb.prediction.served import KEEP as SERVED_KEPT
from mlnb.records import (
    EvaluationRecord,
    JobRecord,
    ModelEvent,
    ModelRecord,
    OperationRecord,
    ScheduleRecord,
    ScheduleRun,
    StoreCheck,
    VersionRecord,
    format_time,
)
from mlnb.registry import ModelRegistry, OperationService, VersionDeployer, VersionSpec
from mlnb.runtime.execution import Outcome
from mlnb.runtime.logs import LogPage, LogReader
from mlnb.schedules_api import SchedulesAPI
from mlnb.states import VersionState
from mlnb.store import ArtifactStore, Database

__all__ = ["Engine"]

log = logging.getLogger(__name__)


class Engine:
    """Models, versions, predictions and jobs on one store.

    The Engine is composed of parts that own their state (``ModelsAPI``,
    ``PredictionAPI``, ``OperationsAPI``, ``JobsAPI``, ``BatchAPI``); each
    public method here documents the call and hands it to one of them.

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
        self.settings = settings = settings or Settings.resolve(**overrides)
        paths = settings.paths
        self._db = database = Database(settings.database_url, settings.busy_timeout_s)
        artifacts = ArtifactStore(settings.artifact_root, paths.artifact_cache)
        self._adapters = adapters = AdapterRegistry(paths.package_cache)
        from mlnb.runtime.notifications import Channels, ModelNotifier

        registry = ModelRegistry(
            database, settings.model_quota, settings.version_quota, ModelNotifier(Channels.of(settings))
        )
        trusted = tuple(t.strip() for t in settings.skops_trusted_types.split(",") if t.strip())
        # A version's creator holds it by a lease, as a job host holds a job.
        deployer = VersionDeployer(
            registry, artifacts, adapters, trusted, settings.job_dead_after_s, settings.job_heartbeat_s
        )
        jobs = JobService(
            database,
            settings.job_dead_after_s,
            settings.machine_id,
            TEAM_QUEUE if settings.job_host == "service" else None,
            settings,
        )
        # The parts own their state; each is given what it works with.
        self._serving = PredictionAPI(
            settings,
            registry,
            deployer,
            adapters,
            PredictorCache(settings.predictor_cache_size, settings.predictor_cache_mb * 1024 * 1024),
            PredictionLog(database, legacy=paths.prediction_logs),
            ServedCounts(database),
        )
        self._models = ModelsAPI(settings, registry, deployer, self._serving)
        self._operations = OperationsAPI(settings, OperationService(database), deployer, self._models)
        self._jobs = JobsAPI(settings, jobs, artifacts)
        self._batch = BatchAPI(settings, jobs, registry, adapters)
        self._evaluations = EvaluationAPI(settings, database, self._serving, self._batch, self._jobs)
        self._monitoring = MonitoringAPI(settings, database, self._serving)
        self._schedules = SchedulesAPI(settings, database, jobs, self._submit_to_queue, jobs.queue)
        self._queue_engines: dict[str, Engine] = {}

    @property
    def project(self) -> str:
        """The project used when a call names none."""
        return self.settings.project

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
        return self._models.create_model(
            name,
            project=project,
            actor=actor,
            description=description,
            labels=labels,
            online_prediction_logging=online_prediction_logging,
            online_prediction_console_logging=online_prediction_console_logging,
            regions=regions,
        )

    def get_model(self, name: str, *, project: str | None = None) -> ModelRecord:
        """A model with its default version. Raises NotFound."""
        return self._models.get_model(name, project=project)

    def list_models(self, *, project: str | None = None) -> list[ModelRecord]:
        """The project's models, by name."""
        return self._models.list_models(project=project)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        evaluation_gates: list[Any] | None = None,
        notifications: Mapping[str, Any] | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Change a model's description, labels, evaluation gates or
        notifications; ``None`` keeps a field. ``evaluation_gates`` (mlnb's
        ``evaluationGates``; ``[]`` removes them) are what a version's
        latest evaluation on a named dataset must show before
        :meth:`set_default_version` accepts it: ``{"dataset": "holdout",
        "metric": "accuracy", "min": 0.9}`` (or ``"max"``), or
        ``"beatsDefaultBy": 0.01`` against the current default on the same
        rows. ``notifications`` (``{}`` removes them: the host's
        ``notify_webhook`` and ``notify_email`` apply) say who hears of the
        model's events: ``{"webhook": URL, "email": [ADDRESSES], "on":
        ["GATE_REFUSED", "DEFAULT_CHANGED", "TRAFFIC_CHANGED"]}``, by
        default a version its gates refused.

        Raises:
            InvalidArgument: A bad gate or notifications.
            NotFound: No such model.
            FailedPrecondition: ``etag`` given and stale.
        """
        return self._models.update_model(
            name,
            description=description,
            labels=labels,
            etag=etag,
            evaluation_gates=evaluation_gates,
            notifications=notifications,
            project=project,
            actor=actor,
        )

    def delete_model(
        self,
        name: str,
        *,
        with_versions: bool = False,
        project: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Delete a model that has no versions left, or, ``with_versions``,
        its versions (and their stored files) first.

        Raises:
            NotFound: No such model.
            FailedPrecondition: It still has versions (without ``with_versions``).
        """
        self._models.delete_model(name, with_versions=with_versions, project=project, actor=actor)

    def model_history(
        self, name: str, *, until: datetime | None = None, project: str | None = None
    ) -> list[ModelEvent]:
        """Every change to a model, oldest first, with time and actor."""
        return self._models.model_history(name, until=until, project=project)

    def default_version_at(self, name: str, time: datetime, *, project: str | None = None) -> str | None:
        """The version that was the model's default at ``time``, or ``None``."""
        return self._models.default_version_at(name, time, project=project)

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
        explanation_config: dict[str, Any] | None = None,
        baseline: Any = None,
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
        ``explanation_config`` is ML Engine's ``explanationConfig`` (the
        method of :meth:`explain`, plus mlnb's ``baseline``). ``baseline``
        (training data, as :meth:`set_baseline` takes it) gives a READY
        version its baseline for drift at once.

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
            explanation_config=explanation_config,
        )
        record = self._models.create_version(model, spec, project=project, actor=actor)
        if baseline is not None and record.state == VersionState.READY:
            self.set_baseline(model, baseline, version=name, project=project, actor=actor)
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
        self._models.ensure_model(model, project=project, actor=actor)
        record = self.create_version(model, name, origin, project=project, actor=actor, **version)
        if set_default and record.state == VersionState.READY and not record.is_default:
            record = self.set_default_version(model, name, project=project, actor=actor)
        return record

    def get_version(self, model: str, name: str, *, project: str | None = None) -> VersionRecord:
        """A version. Raises NotFound, listing the model's versions."""
        return self._models.get_version(model, name, project=project)

    def list_versions(self, model: str, *, project: str | None = None) -> list[VersionRecord]:
        """A model's versions, oldest first. Raises NotFound."""
        return self._models.list_versions(model, project=project)

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
        return self._models.update_version(
            model, name, description=description, labels=labels, etag=etag, project=project, actor=actor
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
            FailedPrecondition: The version is not READY, or it fails one of
                the model's evaluation gates (each named, with its figures);
                the history keeps the evaluations that let a default in.
        """
        return self._models.set_default_version(model, name, project=project, actor=actor)

    def set_traffic_split(
        self,
        model: str,
        split: Mapping[str, Any] | None,
        *,
        reason: str | None = None,
        etag: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Share the requests to a model among its READY versions:
        ``{"v1": 90, "v2": 10}`` (whole percents adding up to 100; mlnb's
        ``trafficSplit``); ``{}`` or ``None`` gives the default all of them
        again. Every server and worker follows within ``resolve_ttl_s``. A
        request with a routing key (``routing_key=``, the header
        ``X-Mlnb-Routing-Key``) stays on the version its key's hash falls
        on. A version that takes a share it did not have passes the model's
        evaluation gates first; the history keeps each split (``reason``
        with it).

        Raises:
            InvalidArgument: Shares that are not whole percents adding up to 100.
            NotFound: No such model or version.
            FailedPrecondition: A version not READY, or a gate it fails.
        """
        return self._models.set_traffic(
            model,
            split=split or {},
            shadow=None,
            change_split=True,
            change_shadow=False,
            etag=etag,
            reason=reason,
            project=project,
            actor=actor,
        )

    def set_routing_key_field(
        self, model: str, field: str | None, *, project: str | None = None, actor: str | None = None
    ) -> ModelRecord:
        """Route each request to the model by the value of its body's
        ``field`` (``{"instances": [...], "user": "u7"}``), as the
        ``X-Mlnb-Routing-Key`` header does (the header wins); ``None``:
        only the header. mlnb's ``routingKeyField``; the field is not passed
        to the model.

        Raises:
            InvalidArgument: Not a field name.
            NotFound: No such model.
        """
        return self._models.set_traffic(
            model,
            split=None,
            shadow=None,
            change_split=False,
            change_shadow=False,
            etag=None,
            reason=None,
            project=project,
            actor=actor,
            routing_key_field=field,
            change_routing_key_field=True,
        )

    def routing_key_field(self, model: str, *, project: str | None = None) -> str | None:
        """The field of a predict body that routes a request to ``model``
        (read with its default, at most once a TTL)."""
        return self._serving.routing_key_field(self.settings.project_of(project), model)

    def known_routing_key_field(self, model: str, *, project: str | None = None) -> tuple[bool, str | None]:
        """``routing_key_field`` when this process knows it without reading
        the database: ``(True, field)``; else ``(False, None)``."""
        return self._serving.known_routing_key_field(self.settings.project_of(project), model)

    def set_shadow(
        self,
        model: str,
        version: str | None,
        *,
        percent: int = 100,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Give a model a shadow version (``None``: none): a copy of
        ``percent`` of its requests goes to it after the serving version
        answered; its predictions and errors are logged beside the serving
        version's (:meth:`shadow_comparison`) and never change an answer.

        Raises:
            NotFound: No such model or version.
            FailedPrecondition: The version is not READY.
        """
        shadow = {"version": version, "percent": percent} if version else None
        return self._models.set_traffic(
            model,
            split=None,
            shadow=shadow,
            change_split=False,
            change_shadow=True,
            etag=None,
            reason=None,
            project=project,
            actor=actor,
        )

    def rollout(
        self,
        model: str,
        canary: str,
        *,
        steps: Sequence[int] = (5, 25, 50, 100),
        interval_s: float = 600.0,
        max_error_rate: float | None = None,
        max_latency_p99_ms: float | None = None,
        min_requests: int = 10,
        gates: list[dict[str, Any]] | None = None,
        job_id: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Roll ``canary`` out to a model as a job (it outlives this
        process, and a server's restart): the canary takes each of
        ``steps`` percent of the traffic in turn, each for ``interval_s``,
        while its requests' error rate stays at most
        ``max_error_rate`` and their p99 latency at most
        ``max_latency_p99_ms`` (judged once ``min_requests`` are in); past a
        bound the split before the rollout comes back at once and the job
        ends FAILED saying why; after the last step the canary becomes the
        default. ``gates`` (as ``evaluationGates``) must pass before the
        first step. The job's ``progress`` has the step, the share and the
        figures; cancelling it rolls back. The figures come from the served
        counts every serving process keeps in the store
        (``mlnb.prediction.served``), whether or not the model logs its
        requests.

        Raises:
            InvalidArgument: Bad steps or bounds.
            AlreadyExists: The job id is taken.
        """
        body: dict[str, Any] = {
            "model": model,
            "canary": canary,
            "steps": list(steps),
            "intervalSeconds": interval_s,
            "minRequests": min_requests,
            "maxErrorRate": max_error_rate,
            "maxLatencyP99Ms": max_latency_p99_ms,
            "gates": gates or None,
        }
        job_id = job_id or f"rollout_{model}_{datetime.now(UTC):%Y%m%d_%H%M%S}"
        body = {k: v for k, v in body.items() if v is not None}
        return self._jobs.submit_job(job_id, "rollout", body, project=project)

    def rollouts(self, model: str, *, project: str | None = None) -> list[JobRecord]:
        """A model's rollout jobs, newest first."""
        jobs = self._jobs.list_jobs(project=project)
        mine = [j for j in jobs if j.kind == "rollout" and (j.job_input or {}).get("model") == model]
        return sorted(mine, key=lambda j: j.create_time, reverse=True)

    def set_alias(
        self,
        model: str,
        alias: str,
        version: str | None,
        *,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Point an alias (``champion``) at a version, or remove it
        (``None``); ``@champion`` then names that version wherever a
        version name is taken (predict, explain, evaluate, get, set-default,
        ``models/M/versions/@champion:predict``). The history keeps each move.

        Raises:
            InvalidArgument: A bad alias name.
            NotFound: No such model or version.
        """
        return self._models.set_alias(model, alias, version, project=project, actor=actor)

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
        self._models.delete_version(model, name, project=project, actor=actor)

    # jobs (jobs_api)

    def submit_training_job(
        self,
        job_id: str,
        training_input: Mapping[str, Any] | None = None,
        *,
        package_path: str | Path | None = None,
        module_name: str | None = None,
        packages: Sequence[str | Path] = (),
        job_dir: str | Path | None = None,
        scale_tier: str | None = None,
        args: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Submit a training job; it runs in processes of its own.

        ``training_input`` is ML Engine's ``trainingInput`` (camelCase); the
        keyword arguments, gcloud's flags, override it. ``package_path`` is
        the trainer package folder (``trainer/``), built into an sdist.
        ``cluster`` is a Dask scheduler address to run the replicas on
        (default: the ``dask_scheduler`` setting, else this machine).

        Returns the job, QUEUED; or FAILED when its package would not build
        (the reason is in ``error_message``).

        Raises:
            InvalidArgument: A bad job id, labels, scale tier, or no module.
            AlreadyExists: The job id is taken.
        """
        return self._jobs.submit_training_job(
            job_id,
            training_input,
            package_path=package_path,
            module_name=module_name,
            packages=packages,
            job_dir=job_dir,
            scale_tier=scale_tier,
            args=args,
            labels=labels,
            cluster=cluster,
            project=project,
        )

    def submit_notebook_job(
        self,
        job_id: str,
        notebook: str | Path,
        *,
        parameters: Mapping[str, Any] | None = None,
        kernel: str | None = None,
        scale_tier: str | None = None,
        job_dir: str | Path | None = None,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Run a notebook as a job with papermill: ``parameters`` are injected
        after its ``parameters`` cell, ``kernel`` (or the ``kernel`` that the
        ``scale_tiers`` setting gives ``scale_tier``) picks any installed Jupyter
        kernel, and the executed notebook is kept as the job's output (and
        copied into ``job_dir``). Progress counts cells.

        Raises:
            InvalidArgument: Not a notebook, an unknown kernel, a bad job id.
            FailedPrecondition: The notebook names no kernel and none is given.
            AlreadyExists: The job id is taken.
        """
        return self._jobs.submit_notebook_job(
            job_id,
            notebook,
            parameters=parameters,
            kernel=kernel,
            scale_tier=scale_tier,
            job_dir=job_dir,
            labels=labels,
            cluster=cluster,
            project=project,
        )

    def submit_job(
        self,
        job_id: str,
        kind: str,
        job_input: Mapping[str, Any] | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Submit a job of a kind that a plug-in registered (the
        ``mlnb.job_kinds`` entry points, or ``job_kinds.register``).

        Args:
            job_id: The new job's id.
            kind: The kind's registered name (``job_kinds()`` lists them).
            job_input: The kind's input, read by its spec now (a bad one is
                refused before anything is recorded) and given to its
                execution as ``job.job_input``.
            labels: The job's labels.
            cluster: A Dask scheduler for the kind's execution to run on.
            project: The project; the Engine's by default.

        Raises:
            InvalidArgument: An unknown kind, a built-in one (they have
                methods of their own: ``submit_training_job``...), or an
                input its spec refuses.
            MlnbError: The kind's plug-in failed to load here.
        """
        return self._jobs.submit_job(job_id, kind, job_input, labels=labels, cluster=cluster, project=project)

    def submit_job_body(
        self, job_id: str, body: Mapping[str, Any], *, project: str | None = None
    ) -> JobRecord:
        """Submit a ``Job`` body as ``jobs.create`` takes it: its
        ``trainingInput`` (training or tuning), ``predictionInput`` (batch
        prediction), ``notebookInput`` (``notebook``, ``parameters``,
        ``kernel``, ``scaleTier``, ``jobDir``: a notebook job) or ``jobKind``
        and ``jobInput`` (a plug-in's kind), with its ``labels``.

        Raises:
            InvalidArgument: None of them, or what that kind's submission refuses.
        """
        labels = body.get("labels")
        if body.get("jobKind"):
            return self.submit_job(
                job_id, str(body["jobKind"]), body.get("jobInput"), labels=labels, project=project
            )
        if body.get("predictionInput"):
            prediction_input = body["predictionInput"]
            return self.submit_prediction_job(
                job_id,
                prediction_input,
                labels=labels,
                resume=bool(prediction_input.get("resume")),
                project=project,
            )
        notebook = body.get("notebookInput")
        if isinstance(notebook, Mapping) and notebook.get("notebook"):
            return self.submit_notebook_job(
                job_id,
                str(notebook["notebook"]),
                parameters=notebook.get("parameters"),
                kernel=notebook.get("kernel"),
                scale_tier=notebook.get("scaleTier"),
                job_dir=notebook.get("jobDir"),
                labels=labels,
                project=project,
            )
        training_input = body.get("trainingInput")
        if not isinstance(training_input, Mapping):
            raise InvalidArgument(
                "A job needs trainingInput (a training job), predictionInput (batch prediction), "
                "notebookInput (a notebook job) or jobKind and jobInput (a plug-in's kind)"
            )
        return self.submit_training_job(job_id, training_input, labels=labels, project=project)

    def _submit_to_queue(self, job_id: str, body: dict[str, Any], queue: str, project: str) -> JobRecord:
        """``submit_job_body`` into ``queue`` (a schedule's run goes where
        its schedule was made: the team's queue, or its machine's)."""
        if queue == self._jobs.service.queue:
            return self.submit_job_body(job_id, body, project=project)
        engine = self._queue_engines.get(queue)
        if engine is None:
            engine = self._queue_engines[queue] = Engine(settings_for_queue(self.settings, queue))
        return engine.submit_job_body(job_id, body, project=project)

    # schedules

    def create_schedule(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ScheduleRecord:
        """Make a schedule: ``body`` holds its ``cron`` (five fields, in its
        ``timeZone``) or ``interval`` (``6h``), its ``jobTemplate`` (a
        ``Job`` body without ``jobId``, whose strings may hold ``{{ run_time
        }}``, ``{{ last_success_time }}``...), and optionally ``startTime``,
        ``endTime``, ``maxRuns``, ``maxConcurrentRuns`` (1), ``missedRuns``
        (``RUN_ONCE`` or ``SKIP``) and ``missedAfter`` (``60s``). The job
        hosts of this engine's queue fire its runs, each an ordinary job
        named ``{name}_{YYYYmmdd_HHMMSS}`` after its due time (UTC).

        Raises:
            InvalidArgument: A bad name or field (the message names it).
            AlreadyExists: The name is taken in the project.
        """
        record = self._schedules.create_schedule(
            name, body, description=description, labels=labels, project=project
        )
        ensure_job_host(self.settings)
        return record

    def get_schedule(self, name: str, *, runs: int = 10, project: str | None = None) -> ScheduleRecord:
        """A schedule, with its newest ``runs`` runs and their jobs' states. Raises NotFound."""
        return self._schedules.get_schedule(name, runs=runs, project=project)

    def list_schedules(
        self, *, model: str | None = None, newest_run: bool = False, project: str | None = None
    ) -> list[ScheduleRecord]:
        """The project's schedules, by name; with ``model``, only those
        whose batch prediction jobs predict with it (``predicted_model``);
        with ``newest_run``, each with its newest run and that run's job
        state in ``recent_runs`` (read at once for all)."""
        found = self._schedules.list_schedules(newest_run=newest_run, project=project)
        return found if model is None else [s for s in found if s.predicted_model == model]

    def schedule_runs(self, name: str, *, limit: int = 100, project: str | None = None) -> list[ScheduleRun]:
        """A schedule's runs, newest first, with their jobs' states."""
        return self._schedules.schedule_runs(name, limit=limit, project=project)

    def update_schedule(
        self, name: str, body: Mapping[str, Any], update_mask: Sequence[str], *, project: str | None = None
    ) -> ScheduleRecord:
        """Change a schedule's fields named in ``update_mask``. Raises NotFound, InvalidArgument."""
        return self._schedules.update_schedule(name, body, update_mask, project=project)

    def delete_schedule(self, name: str, *, project: str | None = None) -> None:
        """Delete a schedule and its run history; its jobs stay. Raises NotFound."""
        self._schedules.delete_schedule(name, project=project)

    def pause_schedule(self, name: str, *, project: str | None = None) -> ScheduleRecord:
        """Stop firing a schedule's runs until it is resumed."""
        return self._schedules.pause_schedule(name, project=project)

    def resume_schedule(self, name: str, *, project: str | None = None) -> ScheduleRecord:
        """Fire a paused schedule again, from its first due time from now.

        Raises:
            FailedPrecondition: The schedule has ended.
        """
        record = self._schedules.resume_schedule(name, project=project)
        ensure_job_host(self.settings)
        return record

    def fire_schedules(self) -> list[str]:
        """Fire the due runs of the schedules of this engine's queue now, as
        its job hosts do every half second; what was done, in words."""
        return self._schedules.fire_due([self._jobs.service.queue])

    def run_schedule(self, name: str, *, project: str | None = None) -> JobRecord:
        """Run a schedule's job now, beside its cadence; the job.

        Raises:
            NotFound: No such schedule.
            FailedPrecondition: The job could not be submitted (the reason).
        """
        return self._schedules.run_schedule(name, project=project)

    def job_kinds(self) -> list[str]:
        """The names of the job kinds this mlnb runs: the built-ins, then
        those of plug-ins."""
        return self._jobs.kinds()

    def get_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        """A job. Raises NotFound."""
        return self._jobs.get_job(job_id, project=project)

    def list_jobs(
        self,
        *,
        states: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> list[JobRecord]:
        """The project's jobs, newest first, filtered by state and labels."""
        return self._jobs.list_jobs(states=states, labels=labels, project=project)

    def update_job(
        self,
        job_id: str,
        *,
        labels: Mapping[str, str],
        etag: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Replace a job's labels (``jobs.patch`` with ``updateMask=labels``).

        Raises:
            NotFound: No such job.
            InvalidArgument: The labels break the label rules.
            FailedPrecondition: ``etag`` is given and the job changed since.
        """
        return self._jobs.update_job(job_id, labels=labels, etag=etag, project=project)

    def trials(self, job_id: str, *, project: str | None = None) -> Any:
        """A tuning job's trials as a pandas DataFrame, best first: trial id,
        state, the final metric and its step, stopped early or not, one
        column per hyperparameter, start and end times.

        Raises:
            NotFound: No such job.
            FailedPrecondition: Not a tuning job.
        """
        return self._jobs.trials(job_id, project=project)

    def job_metrics(self, job_id: str, *, project: str | None = None) -> Any:
        """What a job reported, as a pandas DataFrame of ``series``, ``step``,
        ``value`` and ``trial``: a tuning job's final metric per trial (the
        step is the trial number); a training job's Keras epoch lines from
        its chief's log (the step is the epoch) and the TensorBoard scalars
        under its local job directory (their own steps).

        Raises:
            NotFound: No such job.
        """
        return self._jobs.job_metrics(job_id, project=project)

    def job_metrics_reader(self, job_id: str, *, project: str | None = None) -> Callable[[], Any]:
        """A function giving :meth:`job_metrics` each time it is called,
        reading only what is new since its last call (for views that
        refresh while a job runs).

        Raises:
            NotFound: No such job.
        """
        return self._jobs.job_metrics_reader(job_id, project=project)

    def job_log_tail(self, job_id: str, *, position: int = 0, project: str | None = None) -> LogReader:
        """A reader of the job's log whose ``read()`` returns the entries
        written since its last call (the first call: all so far, or all
        after ``position``, the ``position`` of an earlier reader). It reads
        the metadata store, so it works from any machine.

        Raises:
            NotFound: No such job.
        """
        return self._jobs.job_log_tail(job_id, position=position, project=project)

    def executed_notebook(self, job_id: str, *, project: str | None = None) -> dict[str, Any]:
        """A notebook job's executed notebook (nbformat JSON), from wherever
        it is kept (the artifact store), on any machine, once the job has
        ended (its host puts it there then; the job's ``progress`` counts
        cells while it runs).

        Raises:
            NotFound: No such job.
            FailedPrecondition: Not a notebook job, or no executed notebook yet.
        """
        return self._jobs.executed_notebook(job_id, project=project)

    def read_job_log(
        self, job_id: str, *, position: int = 0, limit: int | None = None, project: str | None = None
    ) -> LogPage:
        """At most ``limit`` entries of the job's log from ``position`` (0,
        or the ``next_position`` of an earlier page) on, and whether the job
        had ended before they were read: a reader asks again from the new
        position until a page of an ended job comes back short.

        Raises:
            NotFound: No such job.
            InvalidArgument: A negative position or limit.
        """
        return self._jobs.read_job_log(job_id, position=position, limit=limit, project=project)

    def cancel_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        """Cancel a job: QUEUED ends CANCELLED at once, a started job goes to
        CANCELLING, its processes get SIGTERM then SIGKILL, and it ends CANCELLED.

        Raises:
            NotFound: No such job.
            FailedPrecondition: The job has ended already.
        """
        return self._jobs.cancel_job(job_id, project=project)

    def serve_jobs(self, *, max_jobs: int | None = None, drain_s: float | None = None) -> None:
        """Run a job service in this process until SIGTERM or SIGINT: take
        queued jobs of the team's queue (submitted where ``job_host`` is
        ``service``) and of this machine's, from any machine that shares
        the database, and run them (``mlnb jobs host``); at most
        ``max_jobs`` at once (default ``host_max_jobs``). Once signalled, it
        takes no new job, hands back those not started and lets the running
        ones finish for ``drain_s`` seconds (default ``host_drain_s``)
        before it stops them; a second signal stops them at once."""
        self._jobs.serve_jobs(max_jobs=max_jobs, drain_s=drain_s, schedules=self._schedules)

    def serve_on_demand_jobs(self) -> None:
        """Be this machine's on-demand job host, unless one runs already:
        run the jobs submitted here and fire the due runs of this machine's
        schedules; leave once idle for ``job_host_idle_s`` with no active
        schedule (what ``python -m mlnb.job_host`` runs, started by a
        submission)."""
        self._jobs.serve_on_demand(self._schedules)

    def accelerators(self) -> list[str]:
        """The GPUs that jobs and versions of this machine may use, one
        entry each, as ML Engine names their types (``NVIDIA_TESLA_T4``;
        ``NVIDIA_`` and the model for a type it had no name for)."""
        from mlnb.runtime import gpu_types

        return gpu_types()

    def model_runs_code(
        self, origin: str | Path, *, package_uris: Sequence[str] = (), prediction_class: str | None = None
    ) -> str | None:
        """Why loading the model at ``origin`` would run code that came with
        its files: a pickle (``model.joblib``, ``model.pkl``, MLflow's
        cloudpickle), a Keras HDF5 file, or a custom prediction routine; or
        ``None`` (SavedModels, skops, XGBoost and ``.keras`` files). A
        server with tokens lets only developers deploy those."""
        return self._models.runs_code(str(origin), tuple(str(p) for p in package_uris), prediction_class)

    def reap_versions(self, *, actor: str | None = None) -> list[VersionRecord]:
        """Record as FAILED every version whose creation died half-way (the
        process creating it stopped renewing its lease, ``job_dead_after_s``),
        remove the files it had copied, and end its operation. Reads already
        show such versions FAILED; creating and deleting versions do this
        too. Returns the versions so ended."""
        return self._operations.reap_versions(actor=actor)

    def check_store(self, *, repair: bool = False, actor: str | None = None) -> StoreCheck:
        """What was left half-made: versions whose creation died, and
        version folders of the artifact store that no version owns; with
        ``repair``, the versions are recorded FAILED and the folders
        removed (``mlnb store check [--repair]``)."""
        return self._operations.check_store(repair=repair, actor=actor)

    def reap_jobs(self) -> list[JobRecord]:
        """Record as ended every job whose job host died (its lease ran out,
        or its process is gone from this machine) and stop what such a host
        left running here; the jobs so ended. Reads already show those jobs
        ended; job hosts, submissions, cancels and waits do this too."""
        return self._jobs.reap_jobs()

    def wait_job(self, job_id: str, *, timeout: float | None = None, project: str | None = None) -> JobRecord:
        """Block until the job ends and return it. Waiting is an explicit
        point: a job whose host died is recorded ended here, and what that
        host left running on this machine is stopped.

        Raises:
            Unavailable: ``timeout`` seconds passed first.
        """
        return self._jobs.wait_job(job_id, timeout=timeout, project=project)

    def job_logs(
        self, job_id: str, *, follow: bool = False, project: str | None = None
    ) -> Iterator[LogEntry]:
        """The job's log entries; with ``follow``, new ones as they come,
        until the job ends (like ``mlnb jobs stream-logs``)."""
        return self._jobs.job_logs(job_id, follow=follow, project=project)

    def local_train(
        self,
        package_path: str | Path,
        module_name: str,
        args: Sequence[str] = (),
        *,
        job_dir: str | Path | None = None,
        distributed: bool = False,
        worker_count: int = 2,
        parameter_server_count: int = 2,
        echo: Callable[[LogEntry], None] | None = None,
    ) -> Outcome:
        """Run a trainer in the foreground, as ``gcloud ml-engine local train``:
        the same package build, environment and TF_CONFIG as a job, without a
        job record. ``echo`` receives every log line as it comes.

        Raises:
            InvalidArgument: A bad package folder.
            FailedPrecondition: The package would not build or install.
        """
        return self._jobs.local_train(
            package_path,
            module_name,
            args,
            job_dir=job_dir,
            distributed=distributed,
            worker_count=worker_count,
            parameter_server_count=parameter_server_count,
            echo=echo,
        )

    # batch prediction jobs (batch_api)

    def submit_prediction_job(
        self,
        job_id: str,
        prediction_input: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        version: str | None = None,
        model_dir: str | Path | None = None,
        framework: str | None = None,
        input_paths: Sequence[str | Path] | None = None,
        output_path: str | Path | None = None,
        data_format: str | None = None,
        output_data_format: str | None = None,
        max_worker_count: int | None = None,
        batch_size: int | None = None,
        signature_name: str | None = None,
        key_field: str | None = None,
        runtime_version: str | None = None,
        region: str | None = None,
        resume: bool = False,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        explain: bool | None = None,
        target_field: str | None = None,
        evaluation_dataset: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        """Submit a batch prediction job: predict every instance of the input
        files with a model's default version, a named version, or a model
        folder (``model_dir``, ML Engine's ``uri``) that was never deployed.

        ``prediction_input`` is ML Engine's ``predictionInput``; the keyword
        arguments, gcloud's flags, override it. ``data_format`` takes the
        API's names or gcloud's (``json``, ``text``, ``csv``, ``tf-record``,
        ``tf-record-gzip``). ``key_field`` names an instance field passed
        through to each prediction. ``resume`` continues the run that wrote
        ``output_path`` before (its written shards are kept). ``explain``
        (mlnb's ``predictionInput.explain``) writes each prediction's
        explanation beside it, by the version's ``explanationConfig``.
        ``target_field`` (mlnb's ``predictionInput.evaluation.targetField``)
        says the instances are labelled (JSON objects, or CSV rows under a
        header, holding their true value there): the job predicts the rest
        of each and evaluates the version on them (``prediction.evaluation.json``
        in the output, and kept with the version, under the name
        ``evaluation_dataset`` when given, as :meth:`evaluate` keeps one).

        Results land in ``output_path`` as ``prediction.results-*`` files of
        JSON lines (in input order, shard after shard) and
        ``prediction.errors_stats-00000-of-00001``.

        Raises:
            InvalidArgument: A bad field, format, or an input path that
                matches no file.
            NotFound: No such model or version.
            FailedPrecondition: The version is not READY, the model has no
                default, or the model folder holds no model mlnb can read.
            AlreadyExists: The job id is taken.
        """
        return self._batch.submit_prediction_job(
            job_id,
            prediction_input,
            model=model,
            version=version,
            model_dir=model_dir,
            framework=framework,
            input_paths=input_paths,
            output_path=output_path,
            data_format=data_format,
            output_data_format=output_data_format,
            max_worker_count=max_worker_count,
            batch_size=batch_size,
            signature_name=signature_name,
            key_field=key_field,
            runtime_version=runtime_version,
            region=region,
            resume=resume,
            labels=labels,
            cluster=cluster,
            explain=explain,
            target_field=target_field,
            evaluation_dataset=evaluation_dataset,
            project=project,
        )

    def resume_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        """Queue a FAILED or CANCELLED batch prediction or pipeline job
        again: a batch job predicts only the shards it had not written, so
        that every instance ends up predicted exactly once; a pipeline
        reuses the steps that succeeded (their outputs are cached) and runs
        again from the one that failed.

        Raises:
            NotFound: No such job.
            FailedPrecondition: Another kind of job, or not FAILED or CANCELLED.
        """
        if self.get_job(job_id, project=project).kind == "pipeline":
            return self._jobs.resume_job(job_id, ("pipeline",), project=project)
        return self._batch.resume_job(job_id, project=project)

    # long-running operations (operations_api)

    def start_version_creation(
        self,
        model: str,
        name: str,
        origin: str | Path,
        *,
        project: str | None = None,
        actor: str | None = None,
        **fields: Any,
    ) -> OperationRecord:
        """Create a version as ML Engine's REST API does: the checks and the
        CREATING record now, the copy and load in the background; the
        returned operation is done when the version is READY or FAILED.
        ``fields`` are ``create_version``'s keyword arguments.

        Raises:
            As ``create_version``, for what is checked at once.
        """
        return self._operations.start_version_creation(
            model, name, origin, project=project, actor=actor, **fields
        )

    def delete_version_operation(
        self, model: str, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_version``, reported as a done operation (ML Engine's shape)."""
        return self._operations.delete_version_operation(model, name, project=project, actor=actor)

    def delete_model_operation(
        self, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_model``, reported as a done operation (ML Engine's shape)."""
        return self._operations.delete_model_operation(name, project=project, actor=actor)

    def get_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """An operation by its id (the last part of its name). Raises NotFound."""
        return self._operations.get_operation(operation_id, project=project)

    def list_operations(self, *, project: str | None = None) -> list[OperationRecord]:
        """The project's operations, oldest first."""
        return self._operations.list_operations(project=project)

    def cancel_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """Ask a running operation to stop. A version creation stops at its
        next step (after the copy, after the load): the version ends FAILED
        as cancelled and the operation done with the error code CANCELLED.
        If the work finishes first, the operation ends as it would have.

        Raises:
            NotFound: No such operation.
            FailedPrecondition: The operation is already done.
        """
        return self._operations.cancel_operation(operation_id, project=project)

    # online prediction (predict_api)

    def predict(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> list[Any]:
        """Predict with a version (unless named: the one the model's traffic
        split draws, by ``routing_key``'s hash when given, or its default).

        ``instances`` follows ML Engine's rules; the answer has one JSON-ready
        prediction per instance. The version stays loaded for later calls.
        ``parameters`` are the request's other fields, handed to the model's
        ``predict(instances, **parameters)`` as ML Engine hands them to a
        custom prediction routine (``{"probabilities": True}``).

        Raises:
            InvalidArgument: An instance breaks the rules (the message names
                its index and field), or the model rejected the batch.
            NotFound: No such model or version.
            FailedPrecondition: No default version, or the version is not READY.
        """
        return self._serving.predict(
            model,
            instances,
            version=version,
            signature_name=signature_name,
            parameters=parameters,
            routing_key=routing_key,
            project=project,
        )

    def predict_gathered(
        self,
        model: str,
        batch: Any,
        *,
        version: str,
        signature_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        project: str | None = None,
    ) -> list[Any]:
        """``predict`` for a batch a server gathered from several requests
        to one version: the server counts each request (``note_served``),
        so the call itself is not counted."""
        return self._serving.predict(
            model,
            batch,
            version=version,
            signature_name=signature_name,
            parameters=parameters,
            project=project,
            counted=False,
        )

    def served(
        self, model: str, *, since: float | str = 3600.0, project: str | None = None
    ) -> dict[str, Any]:
        """What each version of ``model`` answered in the last ``since``
        (seconds, or a duration such as ``"15m"``; at most a day, as long
        as the counts are kept), counted by every process that serves it:
        ``{"model", "since", "versions": {VERSION: {"requests", "errors",
        "errorRate", "latencyP99Ms"}}, "total": {...}}``. The p99 is read
        from quarter-octave buckets (within a fifth of the true one).

        Raises:
            NotFound: No such model.
            InvalidArgument: ``since`` is not a duration of a day or less.
        """
        seconds = parse_duration(since)
        if not 0 < seconds <= SERVED_KEPT.total_seconds():
            raise InvalidArgument(f"since must be more than 0s and at most a day (1d), not {since!r}")
        project = self.settings.project_of(project)
        self.get_model(model, project=project)  # NotFound first
        start = datetime.now(UTC) - timedelta(seconds=seconds)
        return {"model": model, "since": format_time(start), **self._serving.served(project, model, start)}

    def note_served(
        self, model: str, version: str, seconds: float, failed: bool, *, project: str | None = None
    ) -> None:
        """Count one request a version answered (or failed) in ``seconds``
        in the served counts that a rollout reads (``predict`` and
        ``predict_each`` count their own)."""
        self._serving.note_served(self.settings.project_of(project), model, version, seconds, failed)

    def predict_each(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Like ``predict``, but one bad instance does not fail the batch:
        ``{"predictions": [...], "errors": [{"index", "field", "message"}],
        "version": NAME}``, with ``None`` in place of each bad instance's
        prediction and the version that answered."""
        return self._serving.predict_each(
            model,
            instances,
            version=version,
            signature_name=signature_name,
            parameters=parameters,
            routing_key=routing_key,
            project=project,
        )

    # evaluation

    def evaluate(
        self,
        model: str,
        data: Any,
        target: str | None = None,
        *,
        version: str | None = None,
        task: str | None = None,
        dataset: str | None = None,
        store: bool = True,
        batch: bool | None = None,
        output_path: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> EvaluationRecord:
        """Evaluate a version (the model's default unless named) on labelled
        data: a DataFrame or a CSV, JSON-lines or Parquet file, whose
        ``target`` column holds the true values (or ``{"instances": [...],
        "targets": [...]}``, as a REST request sends them). The version predicts the
        other columns as it serves; the figures are scikit-learn's, by
        ``task`` (``classification`` or ``regression``; inferred from the
        model and the targets when unset): accuracy, precision, recall and
        F1 per class and averaged, a confusion matrix, and log loss, ROC and
        precision-recall curves with their areas where the model gives
        probabilities; MAE, RMSE, R² and residuals for a regression. The
        evaluation is kept with the version (``store=False``: not) under
        ``dataset`` (the file's path by default).

        A file of another machine (a URL), or a local one of at least
        ``evaluation_batch_mb``, is predicted by a batch prediction job
        (``batch=True`` asks for one, ``False`` predicts here), in worker
        processes or on the cluster, its results kept in ``output_path``
        (default: under the artifact root, ``evaluations/JOB``); the call
        waits for the job. Such a file is JSON lines of objects or CSV with
        a header, ``target`` a field of each row.

        Raises:
            InvalidArgument: No such column, an unreadable file, or
                instances the version refuses.
            NotFound: No such model or version.
        """
        return self._evaluations.evaluate(
            model,
            data,
            target,
            version=version,
            task=task,
            dataset=dataset,
            store=store,
            batch=batch,
            output_path=output_path,
            project=project,
            actor=actor,
        )

    def compare_versions(
        self,
        model: str,
        versions: tuple[str | None, str],
        data: Any,
        target: str,
        *,
        task: str | None = None,
        dataset: str | None = None,
        store: bool = True,
        project: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Evaluate two versions on the same labelled data (as
        :meth:`evaluate`; ``None`` first: the default): ``{"evaluations": [first, second], "differences":
        {figure: {"difference", "low", "high"}}}``, the second's figure minus
        the first's with a 95% bootstrap interval. Both are predicted here
        (the bootstrap pairs their rows), never in a batch job."""
        return self._evaluations.compare(
            model,
            versions,
            data,
            target,
            task=task,
            dataset=dataset,
            store=store,
            project=project,
            actor=actor,
        )

    def latest_evaluations(self, *, project: str | None = None) -> dict[tuple[str, str], EvaluationRecord]:
        """The newest evaluation of each version of a project, by (model, version)."""
        return self._evaluations.latest_evaluations(project)

    def list_evaluations(
        self, model: str, *, version: str | None = None, limit: int = 100, project: str | None = None
    ) -> list[EvaluationRecord]:
        """A model's evaluations (one version's when named), newest first."""
        return self._evaluations.list_evaluations(model, version=version, limit=limit, project=project)

    # monitoring

    @staticmethod
    def describe_data(data: Any, target: str | None = None) -> dict[str, Any]:
        """A profile of data (a DataFrame, a CSV, JSON-lines or Parquet file,
        or a list of instances; ``target`` left out): per feature its kind,
        count, missing values, mean, std, quantiles and histogram bins for
        numbers, the most frequent values for categories."""
        return MonitoringAPI.describe(data, target)

    def set_baseline(
        self,
        model: str,
        data: Any = None,
        *,
        version: str | None = None,
        target: str | None = None,
        source: str | None = None,
        alerting: dict[str, Any] | None = None,
        served: int | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Give a version (the default unless named) its baseline: the
        profile of ``data`` (its training data, as :meth:`describe_data`
        reads it) and of the version's predictions of it, which
        :meth:`drift` compares served instances with; or, with ``served=N``
        in place of data, of the first N instances the version answered
        (its logged requests) and its answers. Replaces a baseline set
        before. ``alerting`` (``{"psiThreshold": 0.2, "window": 1000,
        "webhook": URL, "maxErrorRate": 0.01, "maxLatencyP99Ms": 50}``) has
        its drift, error rate and latency watched: :meth:`check_drift`, and
        a team's job service every ``monitor_interval_s``, alert when the
        set of alarms changes.

        Raises:
            NotFound: No such model or version.
            InvalidArgument: Unreadable data, or instances the version refuses.
            FailedPrecondition: Fewer than ``served`` instances are logged.
        """
        return self._monitoring.set_baseline(
            model,
            data,
            version=version,
            target=target,
            source=source,
            alerting=alerting,
            served=served,
            project=project,
            actor=actor,
        )

    def drift_checks(self) -> list[dict[str, Any]]:
        """Every version's last drift check (``{"project", "model",
        "version", "lastCheck": {"time", "rows", "drifted", "psi"}}``)."""
        return self._monitoring.drift_checks()

    def check_drift(
        self, model: str, *, version: str | None = None, project: str | None = None
    ) -> dict[str, Any]:
        """Check a version's drift now, as a team's job service does on its
        schedule: the drift of its last ``window`` requests (its baseline's
        alerting, or 1,000), kept with the baseline (``/metrics`` shows it as
        ``mlnb_drift_psi``); when the drifted features change to a non-empty
        set, a ``DRIFT_ALERT`` in the model's history and a JSON POST to the
        webhook (``{"text": ...}``, as Slack takes it), once however many
        hosts check. ``alerted`` and ``delivery`` say what happened.

        Raises:
            FailedPrecondition: The version has no baseline.
        """
        return self._monitoring.check_drift(model, version=version, project=project)

    def get_baseline(
        self, model: str, *, version: str | None = None, project: str | None = None
    ) -> dict[str, Any] | None:
        """A version's baseline (``{"version", "time", "actor", "source",
        "profile"}``), or None."""
        return self._monitoring.get_baseline(model, version=version, project=project)

    def drift(
        self,
        model: str,
        *,
        version: str | None = None,
        last: int = 1000,
        data: Any = None,
        target: str | None = None,
        threshold: float | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """How far what a version serves has moved from its baseline: per
        feature, the population stability index in the baseline's bins and
        a Kolmogorov-Smirnov statistic (numbers) or a chi-squared test
        (categories), over the instances of its last ``last`` sampled
        requests (the model's ``onlinePredictionLogging``), and the same for
        its predictions; ``drifted`` lists the features whose PSI passes
        ``threshold`` (0.2). Given ``data``, the skew of that data from the
        baseline instead.

        Raises:
            FailedPrecondition: The version has no baseline.
        """
        return self._monitoring.drift(
            model,
            version=version,
            last=last,
            data=data,
            target=target,
            threshold=threshold,
            project=project,
        )

    def check_version_gates(
        self, model: str, version: str, gates: list[dict[str, Any]], *, project: str | None = None
    ) -> dict[str, Any]:
        """Check ``gates`` (as ``evaluationGates``) for a version against its
        latest evaluations (and the default's); what let it in.

        Raises:
            NotFound: No such model or version.
            FailedPrecondition: A gate it fails, named with the figures.
        """
        return self._models.check_version_gates(model, version, gates, project=project)

    @staticmethod
    def evaluation_gates(text: str) -> list[dict[str, Any]]:
        """Gates written as the CLI takes them, ``;``-separated
        (``holdout:accuracy>=0.9``, ``holdout:rmse<=3``,
        ``holdout:f1Macro>default+0.01``), as :meth:`update_model` takes them.

        Raises:
            InvalidArgument: A gate that does not read, or an unknown figure.
        """
        from mlnb.evaluation.gates import gates_from_text

        return gates_from_text(text)

    @staticmethod
    def duration(text: str) -> float:
        """``10m``, ``30s``, ``1h``, ``500ms`` or seconds, in seconds.

        Raises:
            InvalidArgument: Not a duration.
        """
        from mlnb.durations import parse_duration

        return parse_duration(text)

    @staticmethod
    def traffic_split(text: str) -> dict[str, int]:
        """A split written as the CLI takes it, ``v1=90,v2=10``, as
        :meth:`set_traffic_split` takes it.

        Raises:
            InvalidArgument: An entry without ``=``, or shares that are not
                whole percents adding up to 100.
        """
        from mlnb.registry.traffic import parse_traffic_split

        return parse_traffic_split(text)

    @staticmethod
    def explanation_config(
        config: Mapping[str, Any] | None = None,
        *,
        method: str | None = None,
        num_paths: int | None = None,
        num_integral_steps: int | None = None,
        baseline_sample: Sequence[Any] | None = None,
    ) -> dict[str, Any] | None:
        """An ``explanationConfig`` for :meth:`create_version` from gcloud's
        flags (``--explanation-method``, ``--num-paths``,
        ``--num-integral-steps``) over ``config``, with a baseline made of
        ``baseline_sample`` (training instances: each number feature's
        median, each other feature's most frequent value).

        Raises:
            InvalidArgument: A count for a method that takes none, or an
                empty or mixed sample.
        """
        # Imported here: the registry's faces need no numpy until they explain.
        from mlnb.explain.config import explanation_body
        from mlnb.explain.features import baseline_of_sample

        baseline = baseline_of_sample(baseline_sample) if baseline_sample is not None else None
        return explanation_body(config, method, num_paths, num_integral_steps, baseline)

    def explain(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        feature_names: Sequence[str] | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Why the model predicts what it does for each instance, with the
        method of the version's ``explanationConfig``, else the model's
        own (TreeSHAP for tree ensembles, integrated gradients or XRAI for
        TensorFlow models, a custom routine's ``explain``, sampled Shapley
        for the rest), as ML Engine's
        ``projects.explain`` answered: ``{"explanations":
        [{"attributions_by_label": [{"label_index", "example_score",
        "baseline_score", "approx_error", "attributions": {feature:
        value}}]}], ...}``, one per instance, each instance's attributions
        summing to ``example_score - baseline_score``. The answer also holds
        the ``predictions``, the ``version`` that answered, the ``method``,
        the ``baseline`` and the ``modelCalls`` it took. List instances are
        named by the model's own feature names, else by ``feature_names``
        (a DataFrame's columns), else by position.

        Raises:
            InvalidArgument: Bad instances (as for ``predict``), or instances
                of mixed shapes.
            FailedPrecondition: The model's outputs are not numbers.
        """
        return self._serving.explain(
            model, instances, version=version, feature_names=feature_names, project=project
        )

    def prediction_log(
        self, model: str, *, limit: int = 100, project: str | None = None
    ) -> list[dict[str, Any]]:
        """The last requests and responses logged for a model with
        ``online_prediction_logging``, oldest first."""
        return self._serving.prediction_log(model, limit=limit, project=project)

    def serving_version(
        self,
        model: str,
        version: str | None = None,
        *,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> VersionRecord:
        """The version that a prediction for ``model`` (and ``version``, or
        the one its traffic split draws, or its default) goes to now, as
        this process sees it.

        Raises:
            NotFound: No such model or version.
            FailedPrecondition: No default version, or the version is not READY.
        """
        return self._serving.serving_version(model, version, routing_key=routing_key, project=project)

    def known_serving_version(
        self,
        model: str,
        version: str | None = None,
        *,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> VersionRecord | None:
        """``serving_version`` when this process knows it without reading the
        database (what an event loop may call), else ``None``."""
        return self._serving.known_serving_version(model, version, routing_key=routing_key, project=project)

    def keep_loaded(self, worker: int) -> list[str]:
        """Load, and keep from being unloaded, every READY version whose
        scaling (manualScaling.nodes or autoScaling.minNodes) asks for more
        than ``worker`` worker processes; unpin the others. Returns the
        resource names kept. A server's worker ``i`` calls this every few
        seconds."""
        return self._serving.keep_loaded(worker)

    def warm_defaults(self) -> list[str]:
        """Load every model's default version (as many as
        ``predictor_cache_size`` leaves room for beside the kept ones), so
        that the first requests after a server starts find them loaded;
        one that fails to load is skipped. Returns the resource names."""
        return self._serving.warm_defaults()

    def local_predict(
        self,
        model_dir: str | Path,
        instances: Any,
        *,
        framework: str | None = None,
        signature_name: str | None = None,
    ) -> list[Any]:
        """Predict from a local model folder without registering it, as
        ``gcloud ml-engine local predict`` does.

        Raises:
            InvalidArgument: Bad instances, or an unknown framework.
            FailedPrecondition: The folder holds no model mlnb can read.
        """
        return self._serving.local_predict(
            model_dir, instances, framework=framework, signature_name=signature_name
        )

    def ready_to_predict(self, record: VersionRecord) -> bool:
        """Whether :meth:`predict` with this version (by name) would read
        nothing and load nothing now (what may run in an event loop)."""
        return self._serving.ready(record)

    def shadow(self, served: VersionRecord, instances: Any, predictions: list[Any]) -> None:
        """Send a copy of a request to a model (answered by ``served`` with
        ``predictions``) to the model's shadow version, when it has one and
        the request is of its share: on a thread of its own, never raising
        (what a server calls after answering; :meth:`predict` does it itself)."""
        self._serving.shadow(served, instances, predictions)

    def shadow_comparison(
        self, model: str, *, limit: int = 1000, version: str | None = None, project: str | None = None
    ) -> dict[str, Any]:
        """Where a model's shadow version and the versions that served
        disagree, over the shadow's last ``limit`` logged copies:
        ``{"copies", "instances", "agreement", "errors", "disagreements":
        [{"time", "served", "shadow", "instance", "servedBy", "shadowVersion"}]}``
        (numbers compared within 1e-6 relative)."""
        from mlnb.prediction.compare import compare_shadow

        project = self.settings.project_of(project)
        return compare_shadow(self._serving.shadow_comparison(project, model, limit, version))

    def check_instances(
        self,
        instances: Any,
        *,
        may_hold_booleans: bool = True,
        numbers_only: bool = False,
        reread: Callable[[], list[Any]] | None = None,
    ) -> DecodedInstances:
        """Check instances against ML Engine's rules without predicting.

        ``may_hold_booleans=False`` (the caller knows: the request's text has
        no ``true`` or ``false``) checks lists of numbers in bulk, and hands
        the array to a model that takes one; ``numbers_only=True`` (its text
        has no string but the ``"instances"`` key, and no ``null`` either)
        lets a float in the first instance name the array's type.
        ``reread`` reads the instances again (a server, from the request's
        body): numbers that make one array are then held as that array
        only, the lists read again if something asks for them, so that the
        caller can drop its own (see :meth:`takes_arrays`).

        Returns:
            The instances checked and decoded: ``predict`` takes them as
            they are without checking them again, and ``+`` puts two
            requests' checked instances into one batch.

        Raises:
            InvalidArgument: Naming the instance index and field at fault.
        """
        return self._serving.check_instances(
            instances, may_hold_booleans=may_hold_booleans, numbers_only=numbers_only, reread=reread
        )

    def takes_arrays(self, record: VersionRecord) -> bool:
        """Whether this version's predictor is loaded in this process and
        takes a numeric request's array as it is (scikit-learn, XGBoost):
        a server then need not keep the request's lists (what may run in an
        event loop: no read, no load)."""
        return self._serving.takes_arrays(record)

    def loaded_versions(self) -> int:
        """How many versions this process keeps loaded for prediction."""
        return self._serving.loaded_versions()

    def loaded_changes(self) -> int:
        """How many times a version was loaded or dropped in this process
        (a server keeps what is loaded out of the garbage collector's passes,
        and looks again when this moves)."""
        return self._serving.loaded_changes()

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
        close database connections (the schedules' engines of other queues' too)."""
        for engine in self._queue_engines.values():
            engine.close()
        self._queue_engines.clear()
        self._serving.close()
        self._db.dispose()
