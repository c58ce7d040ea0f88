"""The Engine's long-running operations: what the REST API returns for
version creation and deletion and for model deletion, as ML Engine does."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlnb.config import Settings
from mlnb.errors import MlnbError
from mlnb.records import OperationRecord
from mlnb.registry import CANCELLED_MESSAGE, OperationService, VersionDeployer, VersionSpec
from mlnb.states import VersionState


class OperationsAPI:
    """Operation methods of :class:`mlnb.Engine` (mixed into it)."""

    settings: Settings
    _operations: OperationService
    _deployer: VersionDeployer

    if TYPE_CHECKING:  # provided by Engine

        def _actor(self, actor: str | None) -> str: ...
        def _forget(self, project: str, model: str) -> None: ...
        def delete_version(
            self, model: str, name: str, *, project: str | None = None, actor: str | None = None
        ) -> None: ...
        def delete_model(
            self, name: str, *, project: str | None = None, actor: str | None = None
        ) -> None: ...

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
        project = project or self.settings.project
        who = self._actor(actor)
        uris = tuple(str(p) for p in fields.pop("package_uris", ()) or ())
        spec = VersionSpec(name=name, origin=str(origin), package_uris=uris, **fields)
        record, spec = self._deployer.begin_version(project, model, spec, who)
        operation = self._operations.start(project, "CREATE_VERSION", model, name)

        def deploy() -> None:
            try:
                done = self._deployer.complete_version(
                    record, spec, who, cancelled=lambda: self._operations.cancel_requested(operation)
                )
            except MlnbError as e:
                self._operations.fail(operation, e)
                return
            self._forget(project, model)
            if done.state == VersionState.READY:
                self._operations.succeed(operation, done.to_api())
            elif done.error_message == CANCELLED_MESSAGE:
                self._operations.cancel(operation, CANCELLED_MESSAGE)
            else:
                self._operations.fail(operation, done.error_message or "Version creation failed")

        threading.Thread(target=deploy, name=f"create-{model}-{name}", daemon=True).start()
        return operation

    def delete_version_operation(
        self, model: str, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_version``, reported as a done operation (ML Engine's shape)."""
        project = project or self.settings.project
        self.delete_version(model, name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_VERSION", model, name), None)

    def delete_model_operation(
        self, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_model``, reported as a done operation (ML Engine's shape)."""
        project = project or self.settings.project
        self.delete_model(name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_MODEL", name), None)

    def get_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """An operation by its id (the last part of its name). Raises NotFound."""
        return self._operations.get(project or self.settings.project, operation_id)

    def list_operations(self, *, project: str | None = None) -> list[OperationRecord]:
        """The project's operations, oldest first."""
        return self._operations.list_operations(project or self.settings.project)

    def cancel_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """Ask a running operation to stop. A version creation stops at its
        next step (after the copy, after the load): the version ends FAILED
        as cancelled and the operation done with the error code CANCELLED.
        If the work finishes first, the operation ends as it would have.

        Raises:
            NotFound: No such operation.
            FailedPrecondition: The operation is already done.
        """
        return self._operations.request_cancel(project or self.settings.project, operation_id)
