"""Reads and writes of long-running operations inside one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlnb.records import OperationRecord
from mlnb.store.schema import OperationRow


class OperationsTx:
    """The operations' view of one open transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def insert_operation(self, record: OperationRecord) -> None:
        self._session.add(
            OperationRow(
                project=record.project,
                name=record.operation_id,
                operation_type=record.operation_type,
                model=record.model,
                version=record.version,
                done=record.done,
                error=record.error,
                response=record.response,
                create_time=record.create_time,
                end_time=record.end_time,
            )
        )
        self._session.flush()

    def get_operation(self, project: str, operation_id: str) -> OperationRecord | None:
        row = self._row(project, operation_id)
        return _record(row) if row is not None else None

    def list_operations(self, project: str) -> list[OperationRecord]:
        query = select(OperationRow).where(OperationRow.project == project).order_by(OperationRow.id)
        return [_record(row) for row in self._session.scalars(query).all()]

    def update_operation(self, project: str, operation_id: str, **fields: Any) -> OperationRecord:
        row = self._row(project, operation_id)
        if row is None:
            raise LookupError(f"no operation {project}/{operation_id}")
        for key, value in fields.items():
            if key not in ("done", "error", "response", "end_time", "cancel_requested"):
                raise TypeError(f"unknown operation field {key}")
            setattr(row, key, value)
        self._session.flush()
        return _record(row)

    def _row(self, project: str, operation_id: str) -> OperationRow | None:
        query = select(OperationRow).where(OperationRow.project == project, OperationRow.name == operation_id)
        return self._session.scalars(query).one_or_none()


def _record(row: OperationRow) -> OperationRecord:
    return OperationRecord(
        project=row.project,
        operation_id=row.name,
        operation_type=row.operation_type,
        create_time=row.create_time,
        model=row.model,
        version=row.version,
        done=row.done,
        error=row.error,
        response=row.response,
        end_time=row.end_time,
        cancel_requested=row.cancel_requested,
    )
