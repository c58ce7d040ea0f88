"""ORM tables of the metadata store. Rows never leave ``mlnb.store``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, and
    comparing times must work the same on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime(),
    }


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project", "name", name="uq_models_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    regions: Mapped[list[Any]] = mapped_column(default=list)
    online_prediction_logging: Mapped[bool] = mapped_column(default=False)
    online_prediction_console_logging: Mapped[bool] = mapped_column(default=False)
    default_version: Mapped[str | None] = mapped_column(String(128))
    evaluation_gates: Mapped[list[Any] | None] = mapped_column(JSON)
    # mlnb's traffic: {version: percent}, {alias: version}, {"version", "percent"}.
    traffic_split: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    aliases: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    routing_key_field: Mapped[str | None] = mapped_column(String(128))
    notifications: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    create_time: Mapped[datetime]
    revision: Mapped[int] = mapped_column(default=1)


class VersionRow(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "name", name="uq_versions_model_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    framework: Mapped[str | None] = mapped_column(String(64))
    deployment_uri: Mapped[str] = mapped_column(Text)
    artifact_uri: Mapped[str | None] = mapped_column(Text)
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    runtime_version: Mapped[str | None] = mapped_column(String(32))
    python_version: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    manual_scaling: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    auto_scaling: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prediction_class: Mapped[str | None] = mapped_column(Text)
    package_uris: Mapped[list[Any]] = mapped_column(default=list)
    # Stored copies of package_uris: [{"uri": ..., "files": {path: sha256}}].
    packages: Mapped[list[Any]] = mapped_column(default=list)
    machine_type: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_logging_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    batching: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    explanation_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    create_time: Mapped[datetime]
    last_use_time: Mapped[datetime | None]
    # While CREATING: until when its creator has said it is still at work.
    lease_expires: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(default=1)


class ModelEventRow(Base):
    """A model's history. Keyed by name, not by foreign key, so that it
    outlives the model's deletion and continues if the name is reused."""

    __tablename__ = "model_events"
    __table_args__ = (Index("ix_model_events_model_time", "project", "model", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(32))
    version: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("project", "job_id", name="uq_jobs_project_job_id"),
        Index("ix_jobs_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    training_input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prediction_input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notebook_input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    job_input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    create_time: Mapped[datetime]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    training_output: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prediction_output: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    runner_pid: Mapped[int | None]
    runner_host: Mapped[str | None] = mapped_column(String(256))
    heartbeat_time: Mapped[datetime | None]
    cluster: Mapped[str | None] = mapped_column(Text)
    # Who may take the job ("machine:<id>": that machine's on-demand host;
    # "team": any job service), who holds it and until when.
    queue: Mapped[str | None] = mapped_column(String(300))
    lease_holder: Mapped[str | None] = mapped_column(String(300))
    lease_expires: Mapped[datetime | None]
    # The GPUs the job holds on its machine (CUDA_VISIBLE_DEVICES indices).
    gpu_devices: Mapped[list[Any] | None] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(default=1)


class JobLogLineRow(Base):
    """One line of a job's log; ``seq`` counts a job's lines from 0."""

    __tablename__ = "job_log_lines"
    __table_args__ = (UniqueConstraint("project", "job_id", "seq", name="uq_job_log_lines_job_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int]
    time: Mapped[str] = mapped_column(String(40))
    replica: Mapped[str] = mapped_column(String(256))
    stream: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)


class PredictionLogRow(Base):
    """One sampled online prediction of a model with
    ``onlinePredictionLogging``: its request and answer (or error) as JSON."""

    __tablename__ = "prediction_log_entries"
    __table_args__ = (Index("ix_prediction_log_entries_model", "project", "model", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    time: Mapped[str] = mapped_column(String(40))
    entry: Mapped[str] = mapped_column(Text)


class ServedCountsRow(Base):
    """What one serving process answered for a version over one flush
    period: requests, the failed ones, and their times to answer counted by
    bucket (``{index: count}``, see ``mlnb.prediction.served``). Every
    server writes its own rows; a rollout reads them summed."""

    __tablename__ = "served_counts"
    __table_args__ = (Index("ix_served_counts_model", "project", "model", "period_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    period_end: Mapped[datetime]
    requests: Mapped[int]
    errors: Mapped[int]
    latency: Mapped[dict[str, int]] = mapped_column(JSON)


class EvaluationRow(Base):
    """One evaluation of a version on a labelled dataset."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_version", "project", "model", "version", "time"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(256))
    dataset: Mapped[str] = mapped_column(String(256))
    fingerprint: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(256))
    rows: Mapped[int]
    metrics: Mapped[dict[str, Any]]


class BaselineRow(Base):
    """A version's baseline: the profile served instances are compared with."""

    __tablename__ = "version_baselines"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    time: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(256))
    profile: Mapped[dict[str, Any]]
    # None is SQL NULL here (not JSON's null): the queries ask IS NOT NULL.
    alerting: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    last_check: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    alerted: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))


class ScheduleRow(Base):
    """A schedule: its spec (cron or interval, job template...) as the API
    writes it, and where its firing stands."""

    __tablename__ = "schedules"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(300))
    create_time: Mapped[datetime]
    update_time: Mapped[datetime]
    next_run_time: Mapped[datetime | None]
    last_run_time: Mapped[datetime | None]
    run_count: Mapped[int] = mapped_column(default=0)
    skipped_runs: Mapped[int] = mapped_column(default=0)
    last_message: Mapped[str | None] = mapped_column(Text)


class ScheduleRunRow(Base):
    """A run of a schedule. Unique by its due time: two hosts that find the
    same run due cannot both record it, so it runs once."""

    __tablename__ = "schedule_runs"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_time: Mapped[datetime] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(128))
    fire_time: Mapped[datetime]
    manual: Mapped[bool] = mapped_column(default=False)
    # Whether its job was created (or found made by another host), and why not.
    submitted: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # A run whose input is not there yet waits (its schedule's inputWait):
    # for what, and when a host next tries to submit it.
    waiting_for: Mapped[str | None] = mapped_column(Text)
    retry_time: Mapped[datetime | None]


class PipelineCacheRow(Base):
    """A pipeline step's outputs, keyed by the hash of what it was given."""

    __tablename__ = "pipeline_cache"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(128))
    pipeline: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    outputs: Mapped[dict[str, Any]]
    time: Mapped[datetime]


class OperationRow(Base):
    """Long-running operations (version creation and deletion, model deletion)."""

    __tablename__ = "operations"
    __table_args__ = (UniqueConstraint("project", "name", name="uq_operations_project_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    operation_type: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(128))
    version: Mapped[str | None] = mapped_column(String(128))
    done: Mapped[bool] = mapped_column(default=False)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    create_time: Mapped[datetime]
    end_time: Mapped[datetime | None]
