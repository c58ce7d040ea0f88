"""Frozen records that cross layers: what the store returns and the faces show.

Field names are Python's; ``to_api()`` gives the camelCase JSON of the ML
Engine v1 discovery document (``ml.v1.json``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlnb.durations import parse_duration
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.naming import model_and_version
from mlnb.states import ENDED, JobKind, JobState, VersionState

__all__ = [
    "EvaluationRecord",
    "JobRecord",
    "ModelEvent",
    "ModelRecord",
    "OperationRecord",
    "StoreCheck",
    "VersionRecord",
    "check_etag",
    "format_time",
    "job_resource",
    "make_etag",
    "merge_flags",
    "model_resource",
    "now",
    "version_resource",
]


def model_resource(project: str, model: str) -> str:
    """``projects/{project}/models/{model}``."""
    return f"projects/{project}/models/{model}"


def version_resource(project: str, model: str, version: str) -> str:
    """``projects/{project}/models/{model}/versions/{version}``."""
    return f"{model_resource(project, model)}/versions/{version}"


def now() -> datetime:
    """The current time in UTC, as records hold it."""
    return datetime.now(UTC)


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as Google APIs write timestamps."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: Any, what: str) -> datetime:
    """An RFC 3339 time (``2026-12-06T17:00:00Z``; one without an offset is
    UTC), as an aware datetime: ``format_time``'s reverse.

    Raises:
        InvalidArgument: Not such a time (``what`` names it).
    """
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidArgument(f"{what} {text!r} is not an RFC 3339 time such as 2026-12-06T17:00:00Z") from e
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def make_etag(revision: int) -> str:
    """An opaque etag for a revision counter, base64 like ML Engine's."""
    return base64.b64encode(f"r{revision}".encode()).decode()


def check_etag(given: str | None, current: str, what: str) -> None:
    """Refuse a change made against an older read of a resource.

    Raises:
        FailedPrecondition: ``given`` is set and differs from ``current``.
    """
    if given is not None and given != current:
        raise FailedPrecondition(
            f"The {what} changed since it was read (etag {given!r}, now {current!r}); read it again and retry"
        )


def merge_flags(body: Any, flags: Mapping[str, Any], what: str) -> dict[str, Any]:
    """An API input body (``trainingInput``, ``predictionInput``) with the
    flags that were given (not ``None``) laid over it, as gcloud's flags
    override a config file.

    Raises:
        InvalidArgument: ``body`` is neither ``None`` nor an object.
    """
    if body is not None and not isinstance(body, Mapping):
        raise InvalidArgument(f"{what} must be an object, got {type(body).__name__} {body!r}"[:200])
    return {**(body or {}), **{k: v for k, v in flags.items() if v is not None}}


def _drop_empty(body: dict[str, Any]) -> dict[str, Any]:
    # Google APIs leave out unset fields rather than sending nulls.
    return {k: v for k, v in body.items() if v not in (None, {}, [], "")}


def _yaml_pretty(record: Any, printer: Any, cycle: bool) -> None:
    """How a record shows in IPython: its API body in YAML, as ``describe``
    prints it (set in each class, so that it comes before the dataclass's
    ``__repr__``)."""
    import yaml

    printer.text(yaml.safe_dump(record.to_api(), sort_keys=False, default_flow_style=False).rstrip())


@dataclass(frozen=True)
class VersionRecord:
    """One version of a model, as ML Engine's ``Version`` resource."""

    project: str
    model: str
    name: str
    state: VersionState
    framework: str | None
    deployment_uri: str
    create_time: datetime
    is_default: bool = False
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    runtime_version: str | None = None
    python_version: str | None = None
    error_message: str | None = None
    last_use_time: datetime | None = None
    manual_scaling: dict[str, Any] | None = None
    auto_scaling: dict[str, Any] | None = None
    prediction_class: str | None = None
    package_uris: tuple[str, ...] = ()
    machine_type: str | None = None
    etag: str = ""
    artifact_uri: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    packages: tuple[dict[str, Any], ...] = ()
    request_logging_config: dict[str, Any] | None = None
    batching: dict[str, Any] | None = None
    lease_expires: datetime | None = None
    explanation_config: dict[str, Any] | None = None

    @property
    def resource_name(self) -> str:
        """The full resource name, ``projects/p/models/m/versions/v``."""
        return version_resource(self.project, self.model, self.name)

    def batch_settings(self, default_max_batch_size: int) -> tuple[int, float]:
        """How a server batches this version's concurrent requests: the most
        instances in one model call, and the seconds a batch may wait for
        more (``batching.maxBatchSize`` and ``batching.maxWaitMs``)."""
        batching = self.batching or {}
        size = int(batching.get("maxBatchSize") or default_max_batch_size)
        return size, float(batching.get("maxWaitMs") or 0.0) / 1000.0

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        """The ``Version`` JSON of ``ml.v1.json``."""
        return _drop_empty(
            {
                "name": self.resource_name,
                "description": self.description,
                "isDefault": self.is_default,
                "deploymentUri": self.deployment_uri,
                "createTime": format_time(self.create_time),
                "lastUseTime": format_time(self.last_use_time),
                "runtimeVersion": self.runtime_version,
                "framework": self.framework,
                "pythonVersion": self.python_version,
                "state": self.state.value,
                "errorMessage": self.error_message,
                "manualScaling": self.manual_scaling,
                "autoScaling": self.auto_scaling,
                "predictionClass": self.prediction_class,
                "packageUris": list(self.package_uris),
                "machineType": self.machine_type,
                "labels": dict(self.labels),
                "requestLoggingConfig": self.request_logging_config,
                "batching": self.batching,
                "explanationConfig": self.explanation_config,
                "etag": self.etag,
            }
        )


@dataclass(frozen=True)
class ModelRecord:
    """A model, as ML Engine's ``Model`` resource."""

    project: str
    name: str
    create_time: datetime
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    default_version: VersionRecord | None = None
    online_prediction_logging: bool = False
    online_prediction_console_logging: bool = False
    regions: tuple[str, ...] = ()
    # mlnb's: what a version's evaluations must show to become the default.
    evaluation_gates: list[dict[str, Any]] = field(default_factory=list)
    # mlnb's: how requests to the model are shared among its versions
    # ({version: percent}; empty: the default takes all), named pointers to
    # versions, and a version that gets a copy of a share of the requests.
    traffic_split: dict[str, int] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    shadow: dict[str, Any] | None = None
    # The predict body's field whose value routes a request, as X-Mlnb-Routing-Key does.
    routing_key_field: str | None = None
    # mlnb's: who hears of its events (GATE_REFUSED, DEFAULT_CHANGED,
    # TRAFFIC_CHANGED), as a job's ``notifications``; None: the host's.
    notifications: dict[str, Any] | None = None
    etag: str = ""

    @property
    def resource_name(self) -> str:
        """The full resource name, ``projects/p/models/m``."""
        return model_resource(self.project, self.name)

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        """The ``Model`` JSON of ``ml.v1.json``."""
        body = _drop_empty(
            {
                "name": self.resource_name,
                "description": self.description,
                "labels": dict(self.labels),
                "regions": list(self.regions),
                "etag": self.etag,
            }
        )
        if self.default_version is not None:
            body["defaultVersion"] = self.default_version.to_api()
        body["onlinePredictionLogging"] = self.online_prediction_logging
        body["onlinePredictionConsoleLogging"] = self.online_prediction_console_logging
        if self.evaluation_gates:
            body["evaluationGates"] = self.evaluation_gates
        if self.traffic_split:
            body["trafficSplit"] = dict(self.traffic_split)
        if self.aliases:
            body["aliases"] = dict(self.aliases)
        if self.shadow:
            body["shadow"] = dict(self.shadow)
        if self.routing_key_field:
            body["routingKeyField"] = self.routing_key_field
        if self.notifications:
            body["notifications"] = dict(self.notifications)
        return body


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of a version on a labelled dataset.

    Attributes:
        evaluation_id: A unique id (hex).
        dataset: The name the user gave the data (a file's path by default).
        fingerprint: A hash of the data's rows and target, so that two
            evaluations on the same data are known to be comparable.
        task: ``classification`` or ``regression``.
        target: The column of the true values.
        metrics: scikit-learn's figures (see ``mlnb.evaluation``).
    """

    project: str
    model: str
    version: str
    evaluation_id: str
    time: datetime
    actor: str
    dataset: str
    fingerprint: str
    task: str
    target: str
    rows: int
    metrics: dict[str, Any] = field(default_factory=dict)

    _repr_pretty_ = _yaml_pretty

    @property
    def headline(self) -> dict[str, float]:
        """The task's main figures: accuracy, F1 (macro), log loss and ROC
        AUC for a classifier; RMSE, MAE and R² for a regressor."""
        keys = (
            ("accuracy", "f1Macro", "logLoss", "rocAuc")
            if self.task == "classification"
            else ("rmse", "mae", "r2")
        )
        return {k: self.metrics[k] for k in keys if self.metrics.get(k) is not None}

    def summary(self) -> dict[str, Any]:
        """The evaluation in short, as a version's body carries its newest
        (mlnb's ``latestEvaluation``)."""
        return {
            "evaluationId": self.evaluation_id,
            "createTime": format_time(self.time),
            "dataset": self.dataset,
            "task": self.task,
            "figures": self.headline,
        }

    def to_api(self) -> dict[str, Any]:
        version = version_resource(self.project, self.model, self.version)
        return {
            "name": f"{version}/evaluations/{self.evaluation_id}",
            "evaluationId": self.evaluation_id,
            "version": self.version,
            "createTime": format_time(self.time),
            "actor": self.actor,
            "dataset": self.dataset,
            "fingerprint": self.fingerprint,
            "task": self.task,
            "target": self.target,
            "rows": self.rows,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class ModelEvent:
    """One entry of a model's history: what changed, when, and by whom.

    Attributes:
        action: ``MODEL_CREATED``, ``MODEL_UPDATED``, ``MODEL_DELETED``,
            ``VERSION_CREATED``, ``VERSION_FAILED``, ``VERSION_UPDATED``,
            ``VERSION_DELETED``, ``DEFAULT_CHANGED``, ``TRAFFIC_CHANGED``,
            ``ALIAS_MOVED`` or ``GATE_REFUSED`` (a version the evaluation
            gates kept from the default or from a share of the traffic).
        version: The version concerned; for ``DEFAULT_CHANGED`` the new
            default (``None`` when the model is left without one).
        details: What changed, for example ``{"previous": "v1"}`` or the
            labels before and after.
    """

    project: str
    model: str
    time: datetime
    actor: str
    action: str
    version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        """A camelCase JSON form, in the style of the other resources."""
        return {
            "model": model_resource(self.project, self.model),
            "time": format_time(self.time),
            "actor": self.actor,
            "action": self.action,
            "version": self.version,
            "details": dict(self.details),
        }


# The fields of a Job body that say what it runs (jobKind with its jobInput).
JOB_INPUTS = ("trainingInput", "predictionInput", "notebookInput", "jobKind")
# What any job's input may hold beside its own fields, read by the job
# service for every kind (``JobRecord.input_field``).
JOB_OPTIONS = ("notifications", "scheduling", "retries")


def job_resource(project: str, job_id: str) -> str:
    """``projects/{project}/jobs/{job_id}``."""
    return f"projects/{project}/jobs/{job_id}"


@dataclass(frozen=True)
class JobRecord:
    """A job, as ML Engine's ``Job`` resource.

    Attributes:
        kind: A ``JobKind`` (``training``, ``tuning``, ``prediction``,
            ``notebook``), or the name of a kind that a plug-in registered.
        training_input: The ``trainingInput`` body (camelCase, as given).
        prediction_input: The ``predictionInput`` body.
        notebook_input: mlnb's own input of a notebook job.
        job_input: The input of a job of a plug-in's kind, as its spec read it.
        progress: mlnb's progress report: ``{"done": n, "total": m,
            "unit": "cells"}``, updated while the job runs.
        cluster: The Dask scheduler the job's processes run on, when not
            this machine.
        runner_host: The machine (``Settings.machine_id``) of the job host
            that holds the job; ``runner_pid`` is that host's process.
        queue: Which job hosts may take the job: ``machine:<id>``, the
            on-demand host of the machine it was submitted on, or ``team``,
            any ``mlnb jobs host``.
        lease_holder: The job host that holds the job, until
            ``lease_expires`` unless it renews the lease.
    """

    project: str
    job_id: str
    kind: JobKind | str
    state: JobState
    create_time: datetime
    training_input: dict[str, Any] | None = None
    prediction_input: dict[str, Any] | None = None
    notebook_input: dict[str, Any] | None = None
    job_input: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str | None = None
    training_output: dict[str, Any] | None = None
    prediction_output: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    etag: str = ""
    runner_pid: int | None = None
    runner_host: str | None = None
    heartbeat_time: datetime | None = None
    cluster: str | None = None
    queue: str | None = None
    lease_holder: str | None = None
    lease_expires: datetime | None = None
    # Where a queued job stands in its queue (1: next), as read.
    job_position: int | None = None
    # The GPUs it holds on its machine, as CUDA_VISIBLE_DEVICES names them.
    gpu_devices: tuple[str, ...] | None = None

    @property
    def resource_name(self) -> str:
        """The full resource name, ``projects/p/jobs/j``."""
        return job_resource(self.project, self.job_id)

    @property
    def ended(self) -> bool:
        """Whether the job has reached SUCCEEDED, FAILED or CANCELLED."""
        return self.state in ENDED

    def elapsed_s(self, at: datetime | None = None) -> float:
        """Seconds since the job started (since it was created while it
        waits), to its end once it ended, else to ``at`` (default: now):
        the one elapsed time that every face shows."""
        start = self.start_time or self.create_time
        end = self.end_time or at or datetime.now(UTC)
        return max(0.0, (end - start).total_seconds())

    def input_field(self, name: str) -> Any:
        """A field of the job's own input (``trainingInput``,
        ``predictionInput``, a notebook's or a plug-in kind's input) that
        mlnb reads for every kind, such as ``scheduling``; ``None`` when
        none has it."""
        for body in (self.training_input, self.prediction_input, self.notebook_input, self.job_input):
            if isinstance(body, dict) and body.get(name) is not None:
                return body[name]
        return None

    def progress_counts(self) -> tuple[int, int, str] | None:
        """``(done, total, unit)`` of the progress the job reports, if any."""
        progress = self.progress or {}
        if not progress.get("total"):
            return None
        return int(progress.get("done", 0)), int(progress["total"]), str(progress.get("unit", ""))

    def progress_text(self) -> str:
        """The progress as every face writes it (``"3/12 epochs"``), or ``""``."""
        counts = self.progress_counts()
        return f"{counts[0]}/{counts[1]} {counts[2]}".strip() if counts else ""

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        """The ``Job`` JSON of ``ml.v1.json`` (notebook jobs add ``notebookInput``,
        jobs of a plug-in's kind ``jobKind`` and ``jobInput``, and every job
        ``progress``: mlnb's own fields)."""
        plugin_kind = self.kind not in frozenset(JobKind)
        return _drop_empty(
            {
                "jobId": self.job_id,
                "jobKind": str(self.kind) if plugin_kind else None,
                "trainingInput": self.training_input,
                "predictionInput": self.prediction_input,
                "notebookInput": self.notebook_input,
                "jobInput": self.job_input,
                "labels": dict(self.labels),
                "createTime": format_time(self.create_time),
                "startTime": format_time(self.start_time),
                "endTime": format_time(self.end_time),
                "state": self.state.value,
                "errorMessage": self.error_message,
                "trainingOutput": self.training_output,
                "predictionOutput": self.prediction_output,
                "progress": self.progress,
                "jobPosition": str(self.job_position) if self.job_position is not None else None,
                "etag": self.etag,
            }
        )


def schedule_resource(project: str, name: str) -> str:
    """``projects/{project}/schedules/{name}``."""
    return f"projects/{project}/schedules/{name}"


@dataclass(frozen=True)
class ScheduleRun:
    """One run of a schedule: the due time it ran for and the job it
    submitted (``job_state`` as read with it; ``error`` when submitting the
    job failed, so no job exists; ``waiting_for`` while its input is not
    there yet, tried again at ``retry_time``)."""

    run_time: datetime
    job_id: str
    fire_time: datetime
    manual: bool = False
    error: str | None = None
    job_state: str | None = None
    waiting_for: str | None = None
    retry_time: datetime | None = None

    @property
    def state(self) -> str | None:
        """Its job's state; ``FAILED`` when no job could be made, ``WAITING``
        while it waits for its input, ``None`` while its job is being made."""
        if self.job_state:
            return self.job_state
        if self.error:
            return "FAILED"
        return "WAITING" if self.waiting_for else None

    def to_api(self) -> dict[str, Any]:
        return _drop_empty(
            {
                "runTime": format_time(self.run_time),
                "jobId": self.job_id,
                "fireTime": format_time(self.fire_time),
                "manual": self.manual or None,
                "state": self.state,
                "errorMessage": self.error,
                "waitingFor": self.waiting_for if self.job_state is None else None,
            }
        )


@dataclass(frozen=True)
class ScheduleRecord:
    """A schedule (an mlnb extension of the v1 API): a job template run on
    a cron or an interval by the job hosts.

    Attributes:
        spec: The schedule's own fields as the API writes them (``cron`` or
            ``interval``, ``jobTemplate``...: ``mlnb.schedules.ScheduleSpec``).
        state: ``ACTIVE``, ``PAUSED`` or ``ENDED``.
        queue: Which job hosts fire it, as a job's queue says which run it.
        run_count: Scheduled runs so far (run-now runs are not counted).
        skipped_runs: Due times that ran no job (missed, or too many runs
            still running), and ``last_message`` the latest such reason.
        recent_runs: The newest runs, newest first, when read with them.
    """

    project: str
    name: str
    spec: dict[str, Any]
    state: str
    create_time: datetime
    update_time: datetime
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    next_run_time: datetime | None = None
    last_run_time: datetime | None = None
    run_count: int = 0
    skipped_runs: int = 0
    last_message: str | None = None
    recent_runs: tuple[ScheduleRun, ...] = ()

    @property
    def resource_name(self) -> str:
        return schedule_resource(self.project, self.name)

    @property
    def cadence(self) -> str:
        """``every 6h`` or ``cron '0 2 * * *' (Europe/Paris)``, as a person wrote it."""
        if self.spec.get("cron"):
            zone = self.spec.get("timeZone") or "UTC"
            return f"cron '{self.spec['cron']}'" + ("" if zone == "UTC" else f" ({zone})")
        seconds = parse_duration(str(self.spec.get("interval", "0s")))
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size and seconds % size == 0:
                return f"every {seconds / size:g}{unit}"
        return f"every {seconds:g}s"

    @property
    def predicted_model(self) -> str | None:
        """The model whose versions its batch prediction jobs predict with
        (its template's ``modelName`` or ``versionName``); ``None`` for
        jobs of other kinds."""
        template = self.spec.get("jobTemplate")
        prediction = template.get("predictionInput") if isinstance(template, dict) else None
        if not isinstance(prediction, dict):
            return None
        try:
            return model_and_version(prediction.get("modelName"), prediction.get("versionName"))[0]
        except InvalidArgument:
            return None  # a name filled from the run ({{ ... }}) or not checked yet

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        return _drop_empty(
            {
                "name": self.resource_name,
                "description": self.description,
                "labels": dict(self.labels),
                **self.spec,
                "state": self.state,
                "createTime": format_time(self.create_time),
                "updateTime": format_time(self.update_time),
                "nextRunTime": format_time(self.next_run_time),
                "lastRunTime": format_time(self.last_run_time),
                "runCount": self.run_count,
                "skippedRuns": self.skipped_runs or None,
                "lastMessage": self.last_message,
                "recentRuns": [run.to_api() for run in self.recent_runs],
            }
        )


@dataclass(frozen=True)
class OperationRecord:
    """A long-running operation, as ``google.longrunning.Operation`` with ML
    Engine's ``OperationMetadata``.

    Attributes:
        operation_id: The last part of the name.
        operation_type: ``CREATE_VERSION``, ``DELETE_VERSION`` or ``DELETE_MODEL``.
        error: ``{"code": n, "message": "..."}`` when it failed.
        response: The resulting resource's JSON when it succeeded.
    """

    project: str
    operation_id: str
    operation_type: str
    create_time: datetime
    model: str | None = None
    version: str | None = None
    done: bool = False
    error: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    end_time: datetime | None = None
    cancel_requested: bool = False

    @property
    def resource_name(self) -> str:
        """``projects/{project}/operations/{operation_id}``."""
        return f"projects/{self.project}/operations/{self.operation_id}"

    _repr_pretty_ = _yaml_pretty

    def to_api(self) -> dict[str, Any]:
        """The ``GoogleLongrunning__Operation`` JSON of ``ml.v1.json``."""
        metadata = _drop_empty(
            {
                "@type": "type.googleapis.com/google.cloud.ml.v1.OperationMetadata",
                "createTime": format_time(self.create_time),
                "startTime": format_time(self.create_time),
                "endTime": format_time(self.end_time),
                "operationType": self.operation_type,
                "isCancellationRequested": self.cancel_requested or None,
                "modelName": model_resource(self.project, self.model) if self.model else None,
                "version": {"name": version_resource(self.project, self.model, self.version)}
                if self.model and self.version
                else None,
            }
        )
        body: dict[str, Any] = {"name": self.resource_name, "metadata": metadata, "done": self.done}
        if self.error is not None:
            body["error"] = self.error
        elif self.response is not None:
            body["response"] = self.response
        return body


@dataclass(frozen=True)
class StoreCheck:
    """What ``VersionDeployer.check_store`` found (and, with ``repair``, removed).

    Attributes:
        abandoned: Versions whose creation died half-way (recorded FAILED,
            their files removed, when repaired).
        orphans: Folders of the artifact store that no version owns.
    """

    abandoned: list[VersionRecord] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
