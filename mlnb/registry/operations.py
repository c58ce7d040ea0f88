"""Long-running operations: what version creation and deletion, and model
deletion, return over the REST API, as ML Engine's do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlnb.errors import FailedPrecondition, MlnbError, NotFound
from mlnb.records import OperationRecord, now
from mlnb.store import Database, OperationsTx


class OperationService:
    """Operations in the metadata store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def _write(self) -> Iterator[OperationsTx]:
        with self.db.session(write=True) as session:
            yield OperationsTx(session)

    def start(
        self, project: str, operation_type: str, model: str, version: str | None = None
    ) -> OperationRecord:
        """Record a new operation that is not done."""
        slug = f"{operation_type.lower()}_{model}_{version or ''}".rstrip("_")
        record = OperationRecord(
            project=project,
            operation_id=f"{slug}-{uuid.uuid4().hex[:12]}",
            operation_type=operation_type,
            create_time=now(),
            model=model,
            version=version,
        )
        with self._write() as tx:
            tx.insert_operation(record)
            return record

    def succeed(self, record: OperationRecord, response: dict[str, Any] | None) -> OperationRecord:
        with self._write() as tx:
            return tx.update_operation(
                record.project, record.operation_id, done=True, response=response or {}, end_time=now()
            )

    def fail(self, record: OperationRecord, error: MlnbError | str) -> OperationRecord:
        if isinstance(error, MlnbError):
            body = {"code": _RPC_CODES.get(error.status, 13), "message": error.message}
        else:
            body = {"code": 13, "message": error}
        with self._write() as tx:
            return tx.update_operation(
                record.project, record.operation_id, done=True, error=body, end_time=now()
            )

    def request_cancel(self, project: str, operation_id: str) -> OperationRecord:
        """Ask the work behind an operation to stop; it ends with the error
        code CANCELLED when it does.

        Raises:
            NotFound: No such operation.
            FailedPrecondition: The operation is done.
        """
        with self._write() as tx:
            found = tx.get_operation(project, operation_id)
            if found is None:
                raise NotFound(f"Operation {operation_id!r} does not exist in project {project!r}")
            if found.done:
                raise FailedPrecondition(f"Operation {operation_id!r} is already done; nothing to cancel")
            return tx.update_operation(project, operation_id, cancel_requested=True)

    def cancel_requested(self, record: OperationRecord) -> bool:
        """Whether someone asked to cancel the operation (read afresh)."""
        return self.get(record.project, record.operation_id).cancel_requested

    def cancel(self, record: OperationRecord, message: str) -> OperationRecord:
        """End an operation as cancelled (google.rpc.Code CANCELLED)."""
        with self._write() as tx:
            return tx.update_operation(
                record.project,
                record.operation_id,
                done=True,
                error={"code": 1, "message": message},
                end_time=now(),
            )

    def get(self, project: str, operation_id: str) -> OperationRecord:
        with self.db.session() as session:
            found = OperationsTx(session).get_operation(project, operation_id)
        if found is None:
            raise NotFound(f"Operation {operation_id!r} does not exist in project {project!r}")
        return found

    def list_operations(self, project: str) -> list[OperationRecord]:
        with self.db.session() as session:
            return OperationsTx(session).list_operations(project)


# google.rpc.Code numbers of the canonical statuses, for Operation.error.code.
_RPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
}
