"""Models and versions, with ML Engine's rules: names, quotas, the default
version, deletion, and a history of every change."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlnb.errors import (
    AlreadyExists,
    FailedPrecondition,
    GateRefused,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from mlnb.naming import validate_labels, validate_name, validate_project
from mlnb.records import ModelEvent, ModelRecord, VersionRecord, check_etag, now
from mlnb.states import VersionState
from mlnb.store import Database, RegistryTx

__all__ = ["ModelListener", "ModelRegistry", "VersionSpec", "now"]

_log = logging.getLogger(__name__)


class ModelListener(Protocol):
    """Told of a model's history entries of ``actions`` once they are
    committed, with the model as it is after them (notifications)."""

    actions: frozenset[str]

    def __call__(self, model: ModelRecord, event: ModelEvent) -> None: ...


@dataclass(frozen=True)
class VersionSpec:
    """What a user asks for when creating a version (ML Engine's ``Version``
    body, less the fields the system sets)."""

    name: str
    origin: str
    framework: str | None = None
    description: str = ""
    labels: Mapping[str, str] | None = None
    runtime_version: str | None = None
    python_version: str | None = None
    prediction_class: str | None = None
    package_uris: tuple[str, ...] = ()
    manual_scaling: dict[str, Any] | None = None
    auto_scaling: dict[str, Any] | None = None
    machine_type: str | None = None
    request_logging_config: dict[str, Any] | None = None
    batching: dict[str, Any] | None = None
    explanation_config: dict[str, Any] | None = None


class ModelRegistry:
    """Models and versions of the metadata store, under ML Engine's rules.

    Version deployment (copying files, loading them) lives in
    ``VersionDeployer``; this class owns the records and the rules.
    """

    def __init__(
        self,
        db: Database,
        model_quota: int,
        version_quota: int,
        listener: ModelListener | None = None,
    ) -> None:
        self.db = db
        self.model_quota = model_quota
        self.version_quota = version_quota
        self.listener = listener

    @contextmanager
    def _write(self) -> Iterator[RegistryTx]:
        with self.db.session(write=True) as session:
            tx = RegistryTx(session)
            yield tx
        self._tell(tx.appended)  # committed: what it wrote is true

    def _tell(self, events: list[ModelEvent]) -> None:
        """Tell the listener of what was committed. Never raises: the change
        stands whether or not anyone could be told of it."""
        listener = self.listener
        if listener is None:
            return
        for event in events:
            if event.action not in listener.actions:
                continue
            try:
                with self._read() as tx:
                    model = tx.get_model(event.project, event.model)
                if model is not None:
                    listener(model, event)
            except Exception:  # a store hiccup, a listener's bug: said, not raised
                said = (event.action, event.project, event.model)
                _log.exception("Could not tell of %s of model %s/%s", *said)

    @contextmanager
    def _read(self) -> Iterator[RegistryTx]:
        with self.db.session() as session:
            yield RegistryTx(session)

    # models

    def create_model(
        self,
        project: str,
        name: str,
        actor: str,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        online_prediction_logging: bool = False,
        online_prediction_console_logging: bool = False,
        regions: list[str] | None = None,
    ) -> ModelRecord:
        """Create a model.

        Raises:
            InvalidArgument: Bad name or labels.
            AlreadyExists: The project has a model of that name.
            ResourceExhausted: The project is at its model quota.
        """
        validate_project(project)
        validate_name("model", name)
        clean_labels = validate_labels(labels)
        _check_description(description)
        if regions is not None and (
            not isinstance(regions, list) or not all(isinstance(r, str) for r in regions)
        ):
            raise InvalidArgument("regions must be a list of strings")
        if regions is not None and len(regions) > 1:
            raise InvalidArgument("A model may name at most one region")
        with self._write() as tx:
            if tx.get_model(project, name) is not None:
                raise AlreadyExists(f"Model {name!r} already exists in project {project!r}")
            count = tx.count_models(project)
            if count >= self.model_quota:
                raise ResourceExhausted(
                    f"Project {project!r} has {count} models, its quota; delete one or raise "
                    "the quota with MLNB_MODEL_QUOTA"
                )
            created = now()
            tx.insert_model(
                project,
                name,
                created,
                description=description or "",
                labels=clean_labels,
                regions=list(regions or []),
                online_prediction_logging=online_prediction_logging,
                online_prediction_console_logging=online_prediction_console_logging,
            )
            tx.append_event(ModelEvent(project, name, created, actor, "MODEL_CREATED"))
            return self._require_model(tx, project, name)

    def get_model(self, project: str, name: str) -> ModelRecord:
        """A model, with its default version.

        Raises:
            NotFound: No such model.
        """
        with self._read() as tx:
            return self._require_model(tx, project, name)

    def list_models(self, project: str) -> list[ModelRecord]:
        """The project's models, by name."""
        with self._read() as tx:
            return tx.list_models(project)

    def update_model(
        self,
        project: str,
        name: str,
        actor: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        evaluation_gates: list[Any] | None = None,
        notifications: Mapping[str, Any] | None = None,
    ) -> ModelRecord:
        """Change a model's description, labels, evaluation gates or
        notifications (``None`` leaves a field; ``[]`` removes the gates,
        ``{}`` the notifications: the host's settings apply). The caller
        checks the notifications' shape (``mlnb.runtime.notifications``).

        Raises:
            InvalidArgument: A bad gate.
            NotFound: No such model.
            FailedPrecondition: ``etag`` is given and the model changed since.
        """
        requested = _requested_changes(description, labels)
        if evaluation_gates is not None:
            # Imported here: reading the registry needs no evaluation code.
            from mlnb.evaluation.gates import gates_from_api

            requested["evaluation_gates"] = [g.to_api() for g in gates_from_api(evaluation_gates)]
        if notifications is not None:
            requested["notifications"] = dict(notifications) or None
        with self._write() as tx:
            model = self._require_model(tx, project, name)
            check_etag(etag, model.etag, f"model {name!r}")
            details = _effective_changes(model, requested)
            if not details:
                return model
            tx.update_model(project, name, **{k: d["after"] for k, d in details.items()})
            tx.append_event(ModelEvent(project, name, now(), actor, "MODEL_UPDATED", None, details))
            return self._require_model(tx, project, name)

    def delete_model(self, project: str, name: str, actor: str) -> None:
        """Delete a model that has no versions.

        Raises:
            NotFound: No such model.
            FailedPrecondition: The model still has versions.
        """
        with self._write() as tx:
            self._require_model(tx, project, name)
            versions = tx.list_versions(project, name)
            if versions:
                listed = ", ".join(v.name for v in versions)
                raise FailedPrecondition(f"Model {name!r} still has versions ({listed}); delete them first")
            tx.delete_model(project, name)
            tx.append_event(ModelEvent(project, name, now(), actor, "MODEL_DELETED"))

    # versions

    def reserve_version(
        self,
        project: str,
        model: str,
        spec: VersionSpec,
        actor: str,
        lease_s: float = 0.0,
        artifact_uri: str | None = None,
    ) -> VersionRecord:
        """Record a new version in state CREATING, under the naming and quota
        rules; with ``lease_s``, its creator must renew the creation's lease
        (``renew_creation``) or the version is taken for abandoned.
        ``artifact_uri`` is where its files will be: known before they are
        copied, so that whoever removes the version finds them.

        Raises:
            NotFound: No such model.
            AlreadyExists: The model has a version of that name.
            ResourceExhausted: The project is at its version quota.
        """
        validate_name("version", spec.name)
        labels = validate_labels(spec.labels)
        with self._write() as tx:
            self._require_model(tx, project, model)
            if tx.get_version(project, model, spec.name) is not None:
                raise AlreadyExists(f"Model {model!r} already has a version {spec.name!r}")
            count = tx.count_versions(project)
            if count >= self.version_quota:
                raise ResourceExhausted(
                    f"Project {project!r} has {count} versions, its quota; delete some or "
                    "raise the quota with MLNB_VERSION_QUOTA"
                )
            record = VersionRecord(
                project=project,
                model=model,
                name=spec.name,
                state=VersionState.CREATING,
                framework=spec.framework,
                deployment_uri=spec.origin,
                create_time=now(),
                description=_check_description(spec.description),
                labels=labels,
                runtime_version=spec.runtime_version,
                python_version=spec.python_version,
                prediction_class=spec.prediction_class,
                package_uris=tuple(spec.package_uris),
                manual_scaling=spec.manual_scaling,
                auto_scaling=spec.auto_scaling,
                machine_type=spec.machine_type,
                request_logging_config=spec.request_logging_config,
                batching=spec.batching,
                explanation_config=_explanation_config(spec.explanation_config),
                lease_expires=now() + timedelta(seconds=lease_s) if lease_s > 0 else None,
                artifact_uri=artifact_uri,
            )
            tx.insert_version(record)
            return self._require_version(tx, project, model, spec.name)

    def finish_version(
        self, record: VersionRecord, actor: str, error: str | None = None, **stored: Any
    ) -> VersionRecord:
        """End a CREATING version: READY with its stored files (the model's
        first READY version becomes its default), or FAILED with ``error``."""
        project, model, name = record.project, record.model, record.name
        with self._write() as tx:
            current = self._require_version(tx, project, model, name)
            if current.state != VersionState.CREATING:
                return current  # ended meanwhile: its creator was taken for dead
            if error is not None:
                tx.update_version(
                    project, model, name, state=VersionState.FAILED, error_message=error, lease_expires=None
                )
                event = ModelEvent(
                    project,
                    model,
                    now(),
                    actor,
                    "VERSION_FAILED",
                    name,
                    {"error": error},
                )
                tx.append_event(event)
                return self._require_version(tx, project, model, name)
            tx.update_version(project, model, name, state=VersionState.READY, lease_expires=None, **stored)
            tx.append_event(ModelEvent(project, model, now(), actor, "VERSION_CREATED", name))
            if self._require_model(tx, project, model).default_version is None:
                self._move_default(tx, project, model, name, None, actor)
            return self._require_version(tx, project, model, name)

    def renew_creation(self, record: VersionRecord, lease_s: float) -> bool:
        """Extend a CREATING version's lease by ``lease_s`` from now; whether
        it is still CREATING (``False``: it ended or was deleted meanwhile)."""
        with self._write() as tx:
            current = tx.get_version(record.project, record.model, record.name)
            if current is None or current.state != VersionState.CREATING:
                return False
            until = now() + timedelta(seconds=lease_s)
            tx.update_version(record.project, record.model, record.name, lease_expires=until)
            return True

    def view(self, version: VersionRecord) -> VersionRecord:
        """``version`` as a reap will record it: FAILED if its creation's
        lease ran out (the process creating it died)."""
        if not _abandoned(version):
            return version
        return dataclasses.replace(
            version, state=VersionState.FAILED, error_message=_abandoned_message(version)
        )

    def abandoned_versions(self) -> list[VersionRecord]:
        """Every CREATING version whose creator stopped renewing its lease."""
        with self._read() as tx:
            return [self.view(v) for v in tx.list_creating_versions() if _abandoned(v)]

    def abandon_version(self, version: VersionRecord, actor: str) -> bool:
        """Record an abandoned creation FAILED; whether this call did (a
        creator that renewed meanwhile, or another reaper, wins)."""
        with self._write() as tx:
            current = tx.get_version(version.project, version.model, version.name)
            if current is None or not _abandoned(current):
                return False
            message = _abandoned_message(current)
            tx.update_version(
                version.project,
                version.model,
                version.name,
                state=VersionState.FAILED,
                error_message=message,
                lease_expires=None,
            )
            details = {"error": message}
            tx.append_event(
                ModelEvent(
                    version.project, version.model, now(), actor, "VERSION_FAILED", version.name, details
                )
            )
            return True

    def all_versions(self) -> list[VersionRecord]:
        """Every version of every project, in any state."""
        with self._read() as tx:
            return tx.list_all_versions()

    def ready_versions(self) -> list[VersionRecord]:
        """Every READY version of every project (what servers may keep loaded)."""
        with self._read() as tx:
            return tx.list_ready_versions()

    def get_version(self, project: str, model: str, name: str) -> VersionRecord:
        """A version.

        Raises:
            NotFound: No such model or version; the message lists the versions.
        """
        with self._read() as tx:
            return self.view(self._require_version(tx, project, model, name))

    def list_versions(self, project: str, model: str) -> list[VersionRecord]:
        """A model's versions, oldest first.

        Raises:
            NotFound: No such model.
        """
        with self._read() as tx:
            self._require_model(tx, project, model)
            return [self.view(v) for v in tx.list_versions(project, model)]

    def update_version(
        self,
        project: str,
        model: str,
        name: str,
        actor: str,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> VersionRecord:
        """Change a version's description or labels (``None`` leaves a field).

        Raises:
            NotFound: No such version.
            FailedPrecondition: ``etag`` is given and the version changed since.
        """
        requested = _requested_changes(description, labels)
        with self._write() as tx:
            version = self._require_version(tx, project, model, name)
            check_etag(etag, version.etag, f"version {name!r}")
            details = _effective_changes(version, requested)
            if not details:
                return version
            tx.update_version(project, model, name, **{k: d["after"] for k, d in details.items()})
            tx.append_event(ModelEvent(project, model, now(), actor, "VERSION_UPDATED", name, details))
            return self._require_version(tx, project, model, name)

    def set_default_version(self, project: str, model: str, name: str, actor: str) -> VersionRecord:
        """Make a READY version the model's default.

        Raises:
            NotFound: No such version.
            FailedPrecondition: The version is not READY.
            GateRefused: It does not pass the model's evaluation gates.
        """
        with self._refusals_recorded(project, model, actor, "become the default"), self._write() as tx:
            version = self._require_version(tx, project, model, name)
            name = version.name  # an alias's version
            if version.state != VersionState.READY:
                raise FailedPrecondition(
                    f"Version {name!r} of model {model!r} is {version.state}; only a READY "
                    "version can be the default"
                )
            record = self._require_model(tx, project, model)
            current = record.default_version
            previous = current.name if current is not None else None
            if previous != name:
                let_in = self._check_gates(tx, record, name, previous)
                self._move_default(tx, project, model, name, previous, actor, let_in)
            return self._require_version(tx, project, model, name)

    # traffic

    def set_traffic(
        self,
        project: str,
        model: str,
        actor: str,
        split: Mapping[str, Any] | None = None,
        shadow: Mapping[str, Any] | None = None,
        *,
        change_split: bool = True,
        change_shadow: bool = False,
        etag: str | None = None,
        reason: str | None = None,
        routing_key_field: str | None = None,
        change_routing_key_field: bool = False,
    ) -> ModelRecord:
        """Share the model's requests among READY versions (``{}``: the
        default takes all), give it a shadow version (``None``: none) and/or
        the body field that routes its requests (``None``: none), each as
        its ``change_*`` flag says.
        A version that takes a share it did not have passes the model's
        evaluation gates first, as a new default does; the history keeps
        the split before and after (with ``reason``, a rollout's).

        Raises:
            InvalidArgument: A bad split, shadow or routing field.
            NotFound: No such model or version.
            FailedPrecondition: A version not READY, or ``etag`` given and
                the model changed since.
            GateRefused: A version that does not pass the model's gates.
        """
        from mlnb.registry.traffic import routing_field_from_api, shadow_from_api, traffic_split_from_api

        shares = traffic_split_from_api(split) if change_split else None
        copy = shadow_from_api(shadow) if change_shadow else None
        routing_field = routing_field_from_api(routing_key_field) if change_routing_key_field else None
        refusal = self._refusals_recorded(project, model, actor, "take a share of the traffic", reason)
        with refusal, self._write() as tx:
            record = self._require_model(tx, project, model)
            check_etag(etag, record.etag, f"model {model!r}")
            fields: dict[str, Any] = {}
            details: dict[str, Any] = {}
            if shares is not None and shares != record.traffic_split:
                default = record.default_version.name if record.default_version else None
                let_in = {}
                for name, share in shares.items():
                    self._require_ready(tx, project, model, name, "take a share of the traffic")
                    if share and not record.traffic_split.get(name) and name != default:
                        let_in.update(self._check_gates(tx, record, name, default))
                fields["traffic_split"] = shares or None
                details["trafficSplit"] = {"before": record.traffic_split, "after": shares, **let_in}
            if change_routing_key_field and routing_field != record.routing_key_field:
                fields["routing_key_field"] = routing_field
                details["routingKeyField"] = {"before": record.routing_key_field, "after": routing_field}
            if change_shadow and copy != record.shadow:
                if copy is not None:
                    self._require_ready(tx, project, model, copy["version"], "shadow the model's traffic")
                fields["shadow"] = copy
                details["shadow"] = {"before": record.shadow, "after": copy}
            if not fields:
                return record
            if reason:
                details["reason"] = reason
            tx.update_model(project, model, **fields)
            tx.append_event(ModelEvent(project, model, now(), actor, "TRAFFIC_CHANGED", None, details))
            return self._require_model(tx, project, model)

    def set_alias(self, project: str, model: str, alias: str, version: str | None, actor: str) -> ModelRecord:
        """Point ``alias`` (``champion``; usable as ``@champion`` wherever a
        version name is) at a version, or remove it (``None``).

        Raises:
            InvalidArgument: A bad alias name.
            NotFound: No such model, version or (to remove) alias.
        """
        alias = validate_name("alias", alias.removeprefix("@"))
        with self._write() as tx:
            record = self._require_model(tx, project, model)
            previous = record.aliases.get(alias)
            if version is None:
                if previous is None:
                    raise NotFound(f"Model {model!r} has no alias @{alias}")
                aliases = {k: v for k, v in record.aliases.items() if k != alias}
            else:
                version = self._require_version(tx, project, model, version).name
                if previous == version:
                    return record
                aliases = {**record.aliases, alias: version}
            tx.update_model(project, model, aliases=aliases or None)
            details = {"alias": alias, "previous": previous}
            tx.append_event(ModelEvent(project, model, now(), actor, "ALIAS_MOVED", version, details))
            return self._require_model(tx, project, model)

    def check_version_gates(
        self, project: str, model: str, name: str, gates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Check ``gates`` (as a model's ``evaluationGates``) for a version
        against its latest evaluations and the default's; what let it in.

        Raises:
            NotFound: No such model or version.
            FailedPrecondition: A gate it fails, named with the figures.
        """
        with self._read() as tx:
            record = self._require_model(tx, project, model)
            version = self._require_version(tx, project, model, name).name
            default = record.default_version.name if record.default_version else None
            return self._check_gates(
                tx, dataclasses.replace(record, evaluation_gates=gates), version, default
            )

    @contextmanager
    def _refusals_recorded(
        self, project: str, model: str, actor: str, to: str, reason: str | None = None
    ) -> Iterator[None]:
        """A version the gates refuse goes into the model's history
        (``GATE_REFUSED``), in a transaction of its own: the refused
        change's is rolled back."""
        try:
            yield
        except GateRefused as refused:
            details: dict[str, Any] = {"to": to, "failures": list(refused.failures)}
            details["message"] = refused.message
            if reason:
                details["reason"] = reason
            with self._write() as tx:
                if tx.get_model(project, model) is not None:
                    event = ModelEvent(project, model, now(), actor, "GATE_REFUSED", refused.version, details)
                    tx.append_event(event)
            raise

    def _require_ready(self, tx: RegistryTx, project: str, model: str, name: str, what: str) -> VersionRecord:
        version = self._require_version(tx, project, model, name)
        if version.state != VersionState.READY:
            raise FailedPrecondition(
                f"Version {name!r} of model {model!r} is {version.state}; only a READY version can {what}"
            )
        return version

    def _check_gates(
        self, tx: RegistryTx, model: ModelRecord, name: str, previous: str | None
    ) -> dict[str, Any]:
        """The model's gates checked for version ``name``; what let it in
        (for the history), or FailedPrecondition naming each gate it fails."""
        if not model.evaluation_gates:
            return {}
        from mlnb.evaluation.gates import check_gates, gates_from_api
        from mlnb.store import EvaluationsTx

        evaluations = EvaluationsTx(tx.session)
        gates = gates_from_api(model.evaluation_gates)

        def latest(version: str | None) -> dict[str, Any]:
            found: dict[str, Any] = {}
            if version is not None:
                for evaluation in evaluations.list(model.project, model.name, version):
                    found.setdefault(evaluation.dataset, evaluation)  # newest first
            return found

        checked = check_gates(gates, name, latest(name), previous, latest(previous))
        if checked.failures:
            raise GateRefused(
                f"Version {name!r} does not pass the evaluation gates of model {model.name!r}: "
                + "; ".join(checked.failures),
                name,
                tuple(checked.failures),
            )
        return {"gates": [g.text() for g in gates], "evaluations": checked.evaluations}

    def delete_version(self, project: str, model: str, name: str, actor: str) -> VersionRecord:
        """Delete a version record and return it (its files are the caller's).

        The default version can be deleted only when it is the model's last.

        Raises:
            NotFound: No such version.
            FailedPrecondition: It is the default and other versions exist.
        """
        with self._write() as tx:
            version = self._require_version(tx, project, model, name)
            self._refuse_routed(self._require_model(tx, project, model), version.name)
            if version.is_default:
                others = [v.name for v in tx.list_versions(project, model) if v.name != name]
                if others:
                    raise FailedPrecondition(
                        f"Version {name!r} is the default of model {model!r}, which has other "
                        f"versions ({', '.join(others)}); make another one the default first"
                    )
                self._move_default(tx, project, model, None, name, actor)
            tx.delete_version(project, model, name)
            tx.append_event(ModelEvent(project, model, now(), actor, "VERSION_DELETED", name))
            return version

    @staticmethod
    def _refuse_routed(model: ModelRecord, name: str) -> None:
        """A version that traffic or an alias reaches is not deleted."""
        uses = []
        if model.traffic_split.get(name):
            uses.append(f"takes {model.traffic_split[name]}% of the traffic")
        if model.shadow and model.shadow.get("version") == name:
            uses.append("is the model's shadow")
        uses += [f"is @{alias}" for alias, target in sorted(model.aliases.items()) if target == name]
        if uses:
            raise FailedPrecondition(
                f"Version {name!r} of model {model.name!r} {', and '.join(uses)}: move the traffic "
                "or the alias first"
            )

    def touch_versions(self, used: Mapping[tuple[str, str, str], datetime]) -> None:
        """Record ``lastUseTime`` for versions that served predictions."""
        with self._write() as tx:
            for (project, model, name), time in used.items():
                if tx.get_version(project, model, name) is not None:
                    tx.update_version(project, model, name, last_use_time=time)

    # history

    def history(self, project: str, model: str, until: datetime | None = None) -> list[ModelEvent]:
        """Every change to a model (by name, across deletions), oldest first.

        Raises:
            NotFound: The model never existed.
        """
        with self._read() as tx:
            events = tx.list_events(project, model, until)
            if not events and until is None:
                raise NotFound(f"Model {model!r} has no history in project {project!r}")
            return events

    def default_version_at(self, project: str, model: str, time: datetime) -> str | None:
        """Which version was the model's default at ``time`` (``None`` if none was)."""
        default = None
        for event in self.history(project, model, until=time):
            if event.action == "DEFAULT_CHANGED":
                default = event.version
            elif event.action in ("MODEL_CREATED", "MODEL_DELETED"):
                default = None
        return default

    # helpers

    def _move_default(
        self,
        tx: RegistryTx,
        project: str,
        model: str,
        new: str | None,
        previous: str | None,
        actor: str,
        let_in: Mapping[str, Any] | None = None,
    ) -> None:
        tx.update_model(project, model, default_version=new)
        details = {"previous": previous, **(let_in or {})}
        tx.append_event(ModelEvent(project, model, now(), actor, "DEFAULT_CHANGED", new, details))

    def _require_model(self, tx: RegistryTx, project: str, name: str) -> ModelRecord:
        model = tx.get_model(project, name)
        if model is None:
            raise NotFound(f"Model {name!r} does not exist in project {project!r}", resource=("model", name))
        return model

    def _require_version(self, tx: RegistryTx, project: str, model: str, name: str) -> VersionRecord:
        if name.startswith("@"):
            record = self._require_model(tx, project, model)
            target = record.aliases.get(name[1:])
            if target is None:
                known = ", ".join(f"@{a}" for a in sorted(record.aliases)) or "none"
                raise NotFound(
                    f"Model {model!r} has no alias {name} (aliases: {known})",
                    resource=("version", model, name),
                )
            name = target
        version = tx.get_version(project, model, name)
        if version is None:
            self._require_model(tx, project, model)
            names = ", ".join(v.name for v in tx.list_versions(project, model)) or "none"
            raise NotFound(
                f"Model {model!r} has no version {name!r} (versions: {names})",
                resource=("version", model, name),
            )
        return version


def _abandoned(version: VersionRecord) -> bool:
    return (
        version.state == VersionState.CREATING
        and version.lease_expires is not None
        and version.lease_expires < now()
    )


def _abandoned_message(version: VersionRecord) -> str:
    last = f" (last at {version.lease_expires:%Y-%m-%d %H:%M:%S} UTC)" if version.lease_expires else ""
    return (
        f"The process creating version {version.name!r} stopped before it finished{last}; "
        "delete the version and create it again"
    )


def _requested_changes(description: str | None, labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The fields an update asks to set (``None`` leaves a field), labels checked."""
    changes: dict[str, Any] = {}
    if labels is not None:
        changes["labels"] = validate_labels(labels)
    if description is not None:
        changes["description"] = _check_description(description)
    return changes


def _check_description(description: Any) -> str:
    """A description is text; anything else stops here, not in the database.

    Raises:
        InvalidArgument: Not a string.
    """
    if description is not None and not isinstance(description, str):
        raise InvalidArgument(f"description must be a string, got {type(description).__name__}")
    return description or ""


def _effective_changes(current: ModelRecord | VersionRecord, requested: dict[str, Any]) -> dict[str, Any]:
    """``{field: {"before": ..., "after": ...}}`` for the requested fields that
    differ from the current record: what the update writes and the history keeps."""
    return {
        key: {"before": getattr(current, key), "after": value}
        for key, value in requested.items()
        if getattr(current, key) != value
    }


def _explanation_config(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """A version's explanationConfig, checked and written out in full (the
    method and its counts); ``None`` when it has none."""
    if body is None:
        return None
    # Imported here: reading the registry needs no numpy.
    from mlnb.explain.config import ExplanationConfig

    return ExplanationConfig.from_api(body).to_api()
