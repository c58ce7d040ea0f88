"""The Engine's long-running operations: what the REST API returns for
version creation and deletion and for model deletion, as ML Engine does."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from mlnb.errors import MlnbError, NotFound
from mlnb.models_api import ModelsAPI
from mlnb.records import OperationRecord, StoreCheck, VersionRecord
from mlnb.registry import CANCELLED_MESSAGE, OperationService, VersionDeployer, VersionSpec
from mlnb.states import VersionState


class OperationsAPI:
    """Long-running operations, the part of :class:`mlnb.Engine` that runs
    version creations in the background and records every operation."""

    def __init__(
        self,
        settings: Settings,
        operations: OperationService,
        deployer: VersionDeployer,
        models: ModelsAPI,
    ) -> None:
        self.settings = settings
        self._operations = operations
        self._deployer = deployer
        self._models = models

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
        project = self.settings.project_of(project)
        who = self.settings.actor_of(actor)
        self.reap_versions(actor=who)  # an explicit point: half-made versions end
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
            self._models.forget(project, model)
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
        project = self.settings.project_of(project)
        self._models.delete_version(model, name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_VERSION", model, name), None)

    def delete_model_operation(
        self, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        project = self.settings.project_of(project)
        self._models.delete_model(name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_MODEL", name), None)

    def get_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        return self._view(self._operations.get(self.settings.project_of(project), operation_id))

    def list_operations(self, *, project: str | None = None) -> list[OperationRecord]:
        return [self._view(o) for o in self._operations.list_operations(self.settings.project_of(project))]

    def reap_versions(self, *, actor: str | None = None) -> list[VersionRecord]:
        reaped = self._deployer.reap(self.settings.actor_of(actor))
        for version in reaped:
            for operation in self._operations.list_operations(version.project):
                if self._creates(operation, version):
                    self._operations.fail(operation, version.error_message or "Version creation failed")
        return reaped

    def check_store(self, *, repair: bool, actor: str | None = None) -> StoreCheck:
        reaped = self.reap_versions(actor=actor) if repair else []
        check = self._deployer.check_store(repair=repair)
        return dataclasses.replace(check, abandoned=[*reaped, *check.abandoned])

    def _view(self, operation: OperationRecord) -> OperationRecord:
        """An operation whose version creation died half-way reads done,
        with the version's error (a reap records it so)."""
        if operation.done or operation.operation_type != "CREATE_VERSION" or not operation.version:
            return operation
        try:
            version = self._models.get_version(
                operation.model or "", operation.version, project=operation.project
            )
        except NotFound:
            return operation
        if version.state != VersionState.FAILED:
            return operation
        error = {"code": 13, "message": version.error_message or "Version creation failed"}
        return dataclasses.replace(operation, done=True, error=error)

    @staticmethod
    def _creates(operation: OperationRecord, version: VersionRecord) -> bool:
        return (
            not operation.done
            and operation.operation_type == "CREATE_VERSION"
            and (operation.model, operation.version) == (version.model, version.name)
        )

    def cancel_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        return self._operations.request_cancel(self.settings.project_of(project), operation_id)
