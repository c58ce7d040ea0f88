"""The Engine's models and versions: the registry's records, with the
version files deployed and deleted, and serving told of every change."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlnb.config import Settings
from mlnb.errors import AlreadyExists, MlnbError, NotFound
from mlnb.predict_api import PredictionAPI
from mlnb.records import ModelEvent, ModelRecord, VersionRecord
from mlnb.registry import ModelRegistry, VersionDeployer, VersionSpec
from mlnb.states import VersionState


class ModelsAPI:
    """Models and versions, the part of :class:`mlnb.Engine` that changes the
    registry; :class:`mlnb.Engine`'s methods of the same names document them."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        deployer: VersionDeployer,
        serving: PredictionAPI,
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._deployer = deployer
        self._serving = serving

    # models

    def create_model(
        self, name: str, *, project: str | None, actor: str | None, **fields: Any
    ) -> ModelRecord:
        return self._registry.create_model(
            self.settings.project_of(project), name, self.settings.actor_of(actor), **fields
        )

    def get_model(self, name: str, *, project: str | None) -> ModelRecord:
        return self._registry.get_model(self.settings.project_of(project), name)

    def list_models(self, *, project: str | None) -> list[ModelRecord]:
        return self._registry.list_models(self.settings.project_of(project))

    def update_model(
        self,
        name: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str | None,
        project: str | None,
        actor: str | None,
        evaluation_gates: list[Any] | None = None,
        notifications: Mapping[str, Any] | None = None,
    ) -> ModelRecord:
        if notifications:
            from mlnb.runtime.notifications import ModelNotifier

            ModelNotifier.check(notifications)
        return self._registry.update_model(
            self.settings.project_of(project),
            name,
            self.settings.actor_of(actor),
            description,
            labels,
            etag,
            evaluation_gates,
            notifications,
        )

    def delete_model(
        self, name: str, *, with_versions: bool = False, project: str | None, actor: str | None
    ) -> None:
        if with_versions:
            # The default goes last: it cannot go while the model has others.
            versions = sorted(self.list_versions(name, project=project), key=lambda v: v.is_default)
            for version in versions:
                self.delete_version(name, version.name, project=project, actor=actor)
        self._registry.delete_model(self.settings.project_of(project), name, self.settings.actor_of(actor))

    def model_history(self, name: str, *, until: datetime | None, project: str | None) -> list[ModelEvent]:
        return self._registry.history(self.settings.project_of(project), name, until)

    def default_version_at(self, name: str, time: datetime, *, project: str | None) -> str | None:
        return self._registry.default_version_at(self.settings.project_of(project), name, time)

    # versions

    def create_version(
        self, model: str, spec: VersionSpec, *, project: str | None, actor: str | None
    ) -> VersionRecord:
        project = self.settings.project_of(project)
        self._deployer.reap(self.settings.actor_of(actor))  # an explicit point: half-made versions end
        record = self._deployer.create_version(project, model, spec, self.settings.actor_of(actor))
        self.forget(record.project, record.model)
        return record

    def get_version(self, model: str, name: str, *, project: str | None) -> VersionRecord:
        return self._registry.get_version(self.settings.project_of(project), model, name)

    def list_versions(self, model: str, *, project: str | None) -> list[VersionRecord]:
        return self._registry.list_versions(self.settings.project_of(project), model)

    def update_version(
        self,
        model: str,
        name: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str | None,
        project: str | None,
        actor: str | None,
    ) -> VersionRecord:
        return self._registry.update_version(
            self.settings.project_of(project),
            model,
            name,
            self.settings.actor_of(actor),
            description,
            labels,
            etag,
        )

    def check_version_gates(
        self, model: str, version: str, gates: list[dict[str, Any]], *, project: str | None = None
    ) -> dict[str, Any]:
        from mlnb.evaluation.gates import gates_from_api

        checked = [g.to_api() for g in gates_from_api(gates, "gates")]
        return self._registry.check_version_gates(self.settings.project_of(project), model, version, checked)

    def set_default_version(
        self, model: str, name: str, *, project: str | None, actor: str | None
    ) -> VersionRecord:
        project = self.settings.project_of(project)
        candidate = self._registry.get_version(project, model, name)
        if candidate.state == VersionState.READY:
            # Loaded before it takes traffic: a version that cannot load never becomes the default.
            self._serving.load(candidate)
        record = self._registry.set_default_version(project, model, name, self.settings.actor_of(actor))
        self.forget(project, model)
        return record

    def set_traffic(
        self,
        model: str,
        *,
        split: Mapping[str, Any] | None,
        shadow: Mapping[str, Any] | None,
        change_split: bool,
        change_shadow: bool,
        etag: str | None,
        reason: str | None,
        project: str | None,
        actor: str | None,
        routing_key_field: str | None = None,
        change_routing_key_field: bool = False,
    ) -> ModelRecord:
        project = self.settings.project_of(project)
        # Loaded here before they take traffic: a version that cannot load takes none.
        names = list((split or {}) if change_split else {})
        if change_shadow and shadow and shadow.get("version"):
            names.append(str(shadow["version"]))
        for name in names:
            candidate = self._registry.get_version(project, model, name)
            if candidate.state == VersionState.READY:
                self._serving.load(candidate)
        record = self._registry.set_traffic(
            project,
            model,
            self.settings.actor_of(actor),
            split,
            shadow,
            change_split=change_split,
            change_shadow=change_shadow,
            etag=etag,
            reason=reason,
            routing_key_field=routing_key_field,
            change_routing_key_field=change_routing_key_field,
        )
        self.forget(project, model)
        return record

    def set_alias(
        self, model: str, alias: str, version: str | None, *, project: str | None, actor: str | None
    ) -> ModelRecord:
        project = self.settings.project_of(project)
        record = self._registry.set_alias(project, model, alias, version, self.settings.actor_of(actor))
        self.forget(project, model)
        return record

    def delete_version(self, model: str, name: str, *, project: str | None, actor: str | None) -> None:
        project = self.settings.project_of(project)
        self._deployer.reap(self.settings.actor_of(actor))
        record = self._registry.delete_version(project, model, name, self.settings.actor_of(actor))
        self.forget(project, model)
        self._deployer.delete_files(record)

    def runs_code(
        self, origin: str, package_uris: tuple[str, ...], prediction_class: str | None
    ) -> str | None:
        return self._deployer.runs_code(origin, package_uris, prediction_class)

    def ensure_model(self, name: str, *, project: str | None, actor: str | None) -> None:
        """Create the model unless it exists (``deploy``'s first step)."""
        try:
            self.get_model(name, project=project)
        except NotFound:
            # Two deploys of a new model's versions at once (a pipeline's
            # parallel steps) both find it missing: one creates it.
            with contextlib.suppress(AlreadyExists):
                self.create_model(name, project=project, actor=actor)

    def forget(self, project: str, model: str) -> None:
        """Tell serving that ``model``'s versions changed."""
        live: set[str | None] = set()  # if the model is gone, none of its files is
        with contextlib.suppress(MlnbError):
            live = {v.artifact_uri for v in self._registry.list_versions(project, model)}
        self._serving.forget(project, model, live)
