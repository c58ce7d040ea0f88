"""Reads and writes of models, versions and model history inside one
transaction. Takes and returns records; the rows stay here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mlnb.records import ModelEvent, ModelRecord, VersionRecord, make_etag
from mlnb.states import VersionState
from mlnb.store.schema import ModelEventRow, ModelRow, VersionRow

_MODEL_FIELDS = {
    "description",
    "evaluation_gates",
    "labels",
    "regions",
    "online_prediction_logging",
    "online_prediction_console_logging",
    "default_version",
    "traffic_split",
    "aliases",
    "shadow",
    "routing_key_field",
    "notifications",
}
_VERSION_FIELDS = {
    "description",
    "state",
    "framework",
    "artifact_uri",
    "files",
    "packages",
    "error_message",
    "labels",
    "last_use_time",
    "lease_expires",
    "manual_scaling",
    "auto_scaling",
}
# Bookkeeping that does not change the etag.
_QUIET_VERSION_FIELDS = {"last_use_time", "lease_expires"}


class RegistryTx:
    """The registry's view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session
        # The history entries this transaction wrote, for whoever is told
        # of them once it commits.
        self.appended: list[ModelEvent] = []

    @property
    def session(self) -> Session:
        """The open transaction, for another part's view of it (evaluations)."""
        return self._session

    # models

    def count_models(self, project: str) -> int:
        query = select(func.count()).select_from(ModelRow).where(ModelRow.project == project)
        return int(self._session.scalar(query) or 0)

    def insert_model(self, project: str, name: str, create_time: datetime, **fields: Any) -> None:
        unknown = set(fields) - _MODEL_FIELDS
        if unknown:
            raise TypeError(f"unknown model fields {unknown}")
        self._session.add(ModelRow(project=project, name=name, create_time=create_time, **fields))
        self._session.flush()

    def get_model(self, project: str, name: str) -> ModelRecord | None:
        row = self._model_row(project, name)
        return self._model_record(row) if row is not None else None

    def list_models(self, project: str) -> list[ModelRecord]:
        query = select(ModelRow).where(ModelRow.project == project).order_by(ModelRow.name)
        rows = self._session.scalars(query).all()
        return [self._model_record(row) for row in rows]

    def update_model(self, project: str, name: str, **fields: Any) -> None:
        row = self._require_model_row(project, name)
        for key, value in fields.items():
            if key not in _MODEL_FIELDS:
                raise TypeError(f"unknown model field {key}")
            setattr(row, key, value)
        row.revision += 1
        self._session.flush()

    def delete_model(self, project: str, name: str) -> None:
        self._session.delete(self._require_model_row(project, name))
        self._session.flush()

    # versions

    def count_versions(self, project: str) -> int:
        query = (
            select(func.count())
            .select_from(VersionRow)
            .join(ModelRow, VersionRow.model_id == ModelRow.id)
            .where(ModelRow.project == project)
        )
        return int(self._session.scalar(query) or 0)

    def insert_version(self, record: VersionRecord) -> None:
        model = self._require_model_row(record.project, record.model)
        self._session.add(
            VersionRow(
                model_id=model.id,
                name=record.name,
                description=record.description,
                state=record.state,
                framework=record.framework,
                deployment_uri=record.deployment_uri,
                artifact_uri=record.artifact_uri,
                files=dict(record.files),
                runtime_version=record.runtime_version,
                python_version=record.python_version,
                error_message=record.error_message,
                manual_scaling=record.manual_scaling,
                auto_scaling=record.auto_scaling,
                prediction_class=record.prediction_class,
                package_uris=list(record.package_uris),
                packages=[dict(p) for p in record.packages],
                machine_type=record.machine_type,
                labels=dict(record.labels),
                request_logging_config=record.request_logging_config,
                batching=record.batching,
                explanation_config=record.explanation_config,
                create_time=record.create_time,
                lease_expires=record.lease_expires,
            )
        )
        self._session.flush()

    def get_version(self, project: str, model: str, name: str) -> VersionRecord | None:
        found = self._version_row(project, model, name)
        if found is None:
            return None
        model_row, row = found
        return _version_record(model_row, row)

    def list_versions(self, project: str, model: str) -> list[VersionRecord]:
        model_row = self._require_model_row(project, model)
        query = select(VersionRow).where(VersionRow.model_id == model_row.id)
        rows = self._session.scalars(query.order_by(VersionRow.create_time, VersionRow.id)).all()
        return [_version_record(model_row, row) for row in rows]

    def list_creating_versions(self) -> list[VersionRecord]:
        """Every CREATING version of every project."""
        query = (
            select(ModelRow, VersionRow)
            .join(VersionRow, VersionRow.model_id == ModelRow.id)
            .where(VersionRow.state == VersionState.CREATING)
        )
        return [_version_record(model, row) for model, row in self._session.execute(query).all()]

    def list_all_versions(self) -> list[VersionRecord]:
        """Every version of every project, in any state."""
        query = select(ModelRow, VersionRow).join(VersionRow, VersionRow.model_id == ModelRow.id)
        return [_version_record(model, row) for model, row in self._session.execute(query).all()]

    def list_ready_versions(self) -> list[VersionRecord]:
        """Every READY version of every project."""
        query = (
            select(ModelRow, VersionRow)
            .join(VersionRow, VersionRow.model_id == ModelRow.id)
            .where(VersionRow.state == VersionState.READY)
            .order_by(ModelRow.project, ModelRow.name, VersionRow.name)
        )
        return [_version_record(model, row) for model, row in self._session.execute(query).all()]

    def update_version(self, project: str, model: str, name: str, **fields: Any) -> None:
        found = self._version_row(project, model, name)
        if found is None:
            raise LookupError(f"no version {project}/{model}/{name}")
        row = found[1]
        for key, value in fields.items():
            if key not in _VERSION_FIELDS:
                raise TypeError(f"unknown version field {key}")
            setattr(row, key, value)
        if not set(fields) <= _QUIET_VERSION_FIELDS:
            row.revision += 1
        self._session.flush()

    def delete_version(self, project: str, model: str, name: str) -> None:
        found = self._version_row(project, model, name)
        if found is not None:
            self._session.delete(found[1])
            self._session.flush()

    # history

    def append_event(self, event: ModelEvent) -> None:
        self.appended.append(event)
        self._session.add(
            ModelEventRow(
                project=event.project,
                model=event.model,
                time=event.time,
                actor=event.actor,
                action=event.action,
                version=event.version,
                details=dict(event.details),
            )
        )
        self._session.flush()

    def list_events(self, project: str, model: str, until: datetime | None = None) -> list[ModelEvent]:
        query = select(ModelEventRow).where(ModelEventRow.project == project, ModelEventRow.model == model)
        if until is not None:
            query = query.where(ModelEventRow.time <= until)
        rows = self._session.scalars(query.order_by(ModelEventRow.time, ModelEventRow.id)).all()
        return [
            ModelEvent(
                project=row.project,
                model=row.model,
                time=row.time,
                actor=row.actor,
                action=row.action,
                version=row.version,
                details=dict(row.details or {}),
            )
            for row in rows
        ]

    # rows

    def _model_row(self, project: str, name: str) -> ModelRow | None:
        query = select(ModelRow).where(ModelRow.project == project, ModelRow.name == name)
        return self._session.scalars(query).one_or_none()

    def _require_model_row(self, project: str, name: str) -> ModelRow:
        row = self._model_row(project, name)
        if row is None:
            raise LookupError(f"no model {project}/{name}")
        return row

    def _version_row(self, project: str, model: str, name: str) -> tuple[ModelRow, VersionRow] | None:
        query = (
            select(ModelRow, VersionRow)
            .join(VersionRow, VersionRow.model_id == ModelRow.id)
            .where(
                ModelRow.project == project,
                ModelRow.name == model,
                VersionRow.name == name,
            )
        )
        found = self._session.execute(query).one_or_none()
        return (found[0], found[1]) if found is not None else None

    def _model_record(self, row: ModelRow) -> ModelRecord:
        default = None
        if row.default_version is not None:
            found = self._version_row(row.project, row.name, row.default_version)
            if found is not None:
                default = _version_record(row, found[1])
        return ModelRecord(
            project=row.project,
            name=row.name,
            create_time=row.create_time,
            description=row.description,
            labels=dict(row.labels or {}),
            default_version=default,
            online_prediction_logging=row.online_prediction_logging,
            online_prediction_console_logging=row.online_prediction_console_logging,
            regions=tuple(row.regions or ()),
            evaluation_gates=list(row.evaluation_gates or []),
            traffic_split=dict(row.traffic_split or {}),
            aliases=dict(row.aliases or {}),
            shadow=dict(row.shadow) if row.shadow else None,
            routing_key_field=row.routing_key_field,
            notifications=dict(row.notifications) if row.notifications else None,
            etag=make_etag(row.revision),
        )


def _version_record(model: ModelRow, row: VersionRow) -> VersionRecord:
    return VersionRecord(
        project=model.project,
        model=model.name,
        name=row.name,
        state=VersionState(row.state),
        framework=row.framework,
        deployment_uri=row.deployment_uri,
        create_time=row.create_time,
        is_default=model.default_version == row.name,
        description=row.description,
        labels=dict(row.labels or {}),
        runtime_version=row.runtime_version,
        python_version=row.python_version,
        error_message=row.error_message,
        last_use_time=row.last_use_time,
        manual_scaling=row.manual_scaling,
        auto_scaling=row.auto_scaling,
        prediction_class=row.prediction_class,
        package_uris=tuple(row.package_uris or ()),
        machine_type=row.machine_type,
        etag=make_etag(row.revision),
        artifact_uri=row.artifact_uri,
        files=dict(row.files or {}),
        packages=tuple(row.packages or ()),
        request_logging_config=row.request_logging_config,
        batching=row.batching,
        lease_expires=row.lease_expires,
        explanation_config=row.explanation_config,
    )
