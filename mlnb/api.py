"""The Engine: the one Python API that the CLI, the magics, the REST server
and the JupyterLab extension are faces of."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, MlnbError
from mlnb.frameworks import AdapterRegistry, LoadOptions, Predictor
from mlnb.jobs import JobService
from mlnb.jobs_api import JobsAPI
from mlnb.prediction import PredictionLog, PredictorCache, decode_instances, predict_each, run_prediction
from mlnb.records import ModelEvent, ModelRecord, OperationRecord, VersionRecord
from mlnb.registry import ModelRegistry, OperationService, VersionDeployer, VersionSpec
from mlnb.registry.models import now
from mlnb.store import ArtifactStore, Database

__all__ = ["Engine"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Logging:
    """Whether and how often a version's predictions are logged."""

    rate: float = 0.0
    console: bool = False

    @classmethod
    def of(cls, model: ModelRecord, version: VersionRecord) -> _Logging:
        if not (model.online_prediction_logging or model.online_prediction_console_logging):
            return cls()
        config = version.request_logging_config or {}
        rate = float(config.get("samplingPercentage", 1.0))
        return cls(rate=min(max(rate, 0.0), 1.0), console=model.online_prediction_console_logging)

    def sampled(self) -> bool:
        return self.rate > 0.0 and (self.rate >= 1.0 or random.random() < self.rate)  # noqa: S311


# lastUseTime is written at most this often per process: a write per
# prediction would cost more than the prediction.
_LAST_USE_FLUSH_S = 30.0


class Engine(JobsAPI):
    """Models, versions, predictions and jobs on one store.

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
        self.settings = settings or Settings.resolve(**overrides)
        home = self.settings.home
        self._db = Database(self.settings.database_url, self.settings.busy_timeout_s)
        self._artifacts = ArtifactStore(self.settings.artifact_root, home / "cache" / "artifacts")
        self._adapters = AdapterRegistry(home / "cache" / "packages")
        self._registry = ModelRegistry(self._db, self.settings.model_quota, self.settings.version_quota)
        trusted = tuple(t.strip() for t in self.settings.skops_trusted_types.split(",") if t.strip())
        self._deployer = VersionDeployer(self._registry, self._artifacts, self._adapters, trusted)
        self._predictors = PredictorCache(self.settings.predictor_cache_size)
        self._jobs = JobService(self._db, self.settings.job_dead_after_s)
        self._operations = OperationService(self._db)
        self._resolved: dict[tuple[str, str, str | None], tuple[float, VersionRecord, _Logging]] = {}
        self._prediction_log = PredictionLog(home / "prediction-logs")
        self._last_use: dict[tuple[str, str, str], datetime] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def _actor(self, actor: str | None) -> str:
        return actor or self.settings.actor

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
        return self._registry.create_model(
            project or self.project,
            name,
            self._actor(actor),
            description=description,
            labels=labels,
            online_prediction_logging=online_prediction_logging,
            online_prediction_console_logging=online_prediction_console_logging,
            regions=regions,
        )

    def get_model(self, name: str, *, project: str | None = None) -> ModelRecord:
        """A model with its default version. Raises NotFound."""
        return self._registry.get_model(project or self.project, name)

    def list_models(self, *, project: str | None = None) -> list[ModelRecord]:
        """The project's models, by name."""
        return self._registry.list_models(project or self.project)

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> ModelRecord:
        """Change a model's description or labels; ``None`` keeps a field.

        Raises:
            NotFound: No such model.
            FailedPrecondition: ``etag`` given and stale.
        """
        return self._registry.update_model(
            project or self.project, name, self._actor(actor), description, labels, etag
        )

    def delete_model(self, name: str, *, project: str | None = None, actor: str | None = None) -> None:
        """Delete a model that has no versions left.

        Raises:
            NotFound: No such model.
            FailedPrecondition: It still has versions.
        """
        self._registry.delete_model(project or self.project, name, self._actor(actor))

    def model_history(
        self, name: str, *, until: datetime | None = None, project: str | None = None
    ) -> list[ModelEvent]:
        """Every change to a model, oldest first, with time and actor."""
        return self._registry.history(project or self.project, name, until)

    def default_version_at(self, name: str, time: datetime, *, project: str | None = None) -> str | None:
        """The version that was the model's default at ``time``, or ``None``."""
        return self._registry.default_version_at(project or self.project, name, time)

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
        project: str | None = None,
        actor: str | None = None,
    ) -> VersionRecord:
        """Create a version from the model files at ``origin`` (a folder or a
        file, local or any fsspec URL) and load it once to prove it works.

        The files are copied into the artifact store with their checksums;
        the framework is detected when not given. The version comes back
        READY (the model's first becomes its default), or FAILED with
        ``error_message`` saying why.

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
        )
        record = self._deployer.create_version(project or self.project, model, spec, self._actor(actor))
        self._forget(record.project, record.model)
        return record

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
        project = project or self.project
        who = self._actor(actor)
        uris = tuple(str(p) for p in fields.pop("package_uris", ()) or ())
        spec = VersionSpec(name=name, origin=str(origin), package_uris=uris, **fields)
        record, spec = self._deployer.begin_version(project, model, spec, who)
        operation = self._operations.start(project, "CREATE_VERSION", model, name)

        def deploy() -> None:
            try:
                done = self._deployer.complete_version(record, spec, who)
            except MlnbError as e:
                self._operations.fail(operation, e)
                return
            self._forget(project, model)
            if done.state == "READY":
                self._operations.succeed(operation, done.to_api())
            else:
                self._operations.fail(operation, done.error_message or "Version creation failed")

        threading.Thread(target=deploy, name=f"create-{model}-{name}", daemon=True).start()
        return operation

    def delete_version_operation(
        self, model: str, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_version``, reported as a done operation (ML Engine's shape)."""
        project = project or self.project
        self.delete_version(model, name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_VERSION", model, name), None)

    def delete_model_operation(
        self, name: str, *, project: str | None = None, actor: str | None = None
    ) -> OperationRecord:
        """``delete_model``, reported as a done operation (ML Engine's shape)."""
        project = project or self.project
        self.delete_model(name, project=project, actor=actor)
        return self._operations.succeed(self._operations.start(project, "DELETE_MODEL", name), None)

    def get_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """An operation by its id (the last part of its name). Raises NotFound."""
        return self._operations.get(project or self.project, operation_id)

    def list_operations(self, *, project: str | None = None) -> list[OperationRecord]:
        """The project's operations, oldest first."""
        return self._operations.list_operations(project or self.project)

    def cancel_operation(self, operation_id: str, *, project: str | None = None) -> OperationRecord:
        """Operations cannot be cancelled here: a done one has nothing left to
        stop, and a version being created is deleted once it is READY.

        Raises:
            FailedPrecondition: Always, saying which case applies.
        """
        operation = self.get_operation(operation_id, project=project)
        if operation.done:
            raise FailedPrecondition(f"Operation {operation_id!r} is already done")
        raise FailedPrecondition(
            f"Operation {operation_id!r} creates version {operation.version!r} and cannot be stopped; "
            "delete the version once the operation is done"
        )

    def get_version(self, model: str, name: str, *, project: str | None = None) -> VersionRecord:
        """A version. Raises NotFound, listing the model's versions."""
        return self._registry.get_version(project or self.project, model, name)

    def list_versions(self, model: str, *, project: str | None = None) -> list[VersionRecord]:
        """A model's versions, oldest first. Raises NotFound."""
        return self._registry.list_versions(project or self.project, model)

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
        return self._registry.update_version(
            project or self.project,
            model,
            name,
            self._actor(actor),
            description,
            labels,
            etag,
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
            FailedPrecondition: The version is not READY.
        """
        project = project or self.project
        candidate = self._registry.get_version(project, model, name)
        if candidate.state == "READY":
            # Loaded before it takes traffic: a version that cannot load never becomes the default.
            self._predictors.get(
                (candidate.resource_name, candidate.artifact_uri),
                lambda: self._deployer.load_predictor(candidate),
            )
        record = self._registry.set_default_version(project, model, name, self._actor(actor))
        self._forget(project, model)
        return record

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
        project = project or self.project
        record = self._registry.delete_version(project, model, name, self._actor(actor))
        self._forget(project, model)
        self._deployer.delete_files(record)

    # prediction

    def predict(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        project: str | None = None,
    ) -> list[Any]:
        """Predict with a version (the model's default unless named).

        ``instances`` follows ML Engine's rules; the answer has one JSON-ready
        prediction per instance. The version stays loaded for later calls.

        Raises:
            InvalidArgument: An instance breaks the rules (the message names
                its index and field), or the model rejected the batch.
            NotFound: No such model or version.
            FailedPrecondition: No default version, or the version is not READY.
        """
        record, predictor, logging_ = self._predictor(project or self.project, model, version)
        kwargs = {"signature_name": signature_name} if signature_name else {}
        if not logging_.sampled():
            predictions = run_prediction(predictor, instances, **kwargs)
        else:
            try:
                predictions = run_prediction(predictor, instances, **kwargs)
            except MlnbError as e:
                self._log_prediction(record, logging_, instances, error=e.message)
                raise
            self._log_prediction(record, logging_, instances, predictions)
        self._note_use(record)
        return predictions

    def predict_each(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Like ``predict``, but one bad instance does not fail the batch:
        ``{"predictions": [...], "errors": [{"index", "field", "message"}]}``,
        with ``None`` in place of each bad instance's prediction."""
        record, predictor, logging_ = self._predictor(project or self.project, model, version)
        kwargs = {"signature_name": signature_name} if signature_name else {}
        answer = predict_each(predictor, instances, **kwargs)
        if logging_.sampled():
            self._log_prediction(record, logging_, instances, answer)
        self._note_use(record)
        return answer

    def prediction_log(
        self, model: str, *, limit: int = 100, project: str | None = None
    ) -> list[dict[str, Any]]:
        """The last requests and responses logged for a model with
        ``online_prediction_logging``, oldest first."""
        return self._prediction_log.read(project or self.project, model, limit)

    def _log_prediction(
        self,
        record: VersionRecord,
        logging_: _Logging,
        instances: Any,
        predictions: Any = None,
        error: str | None = None,
    ) -> None:
        try:
            self._prediction_log.write(
                record.project, record.model, record.name, instances, predictions, error, logging_.console
            )
        except (OSError, TypeError) as e:
            # Logging is bookkeeping: it must never fail a prediction.
            log.warning("Could not log a prediction of %s: %s", record.resource_name, e)

    def _predictor(
        self, project: str, model: str, version: str | None
    ) -> tuple[VersionRecord, Predictor, _Logging]:
        record, logging_ = self._resolve(project, model, version)
        predictor = self._predictors.get(
            (record.resource_name, record.artifact_uri), lambda: self._deployer.load_predictor(record)
        )
        return record, predictor, logging_

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
        path = Path(model_dir)
        if not path.exists():
            raise FailedPrecondition(f"The model folder {str(path)!r} does not exist")
        adapter = self._adapters.get(framework) if framework else self._adapters.detect(path)
        predictor = adapter.load(path, LoadOptions())
        kwargs = {"signature_name": signature_name} if signature_name else {}
        return run_prediction(predictor, instances, **kwargs)

    def check_instances(self, instances: Any) -> None:
        """Check instances against ML Engine's rules without predicting.

        Raises:
            InvalidArgument: Naming the instance index and field at fault.
        """
        decode_instances(instances)

    def loaded_versions(self) -> int:
        """How many versions this process keeps loaded for prediction."""
        return len(self._predictors)

    def frameworks(self) -> list[str]:
        """Names of the framework adapters available, plugins included."""
        return self._adapters.names()

    def close(self) -> None:
        """Write pending lastUseTime values and close database connections."""
        self._flush_last_use(force=True)
        self._db.dispose()

    # internals

    def _resolve(self, project: str, model: str, version: str | None) -> tuple[VersionRecord, _Logging]:
        key = (project, model, version)
        cached = self._resolved.get(key)
        clock = time.monotonic()
        if cached is not None and cached[0] > clock:
            return cached[1], cached[2]
        model_record = self._registry.get_model(project, model)
        if version is None:
            default = model_record.default_version
            if default is None:
                raise FailedPrecondition(
                    f"Model {model!r} has no default version to predict with; create one: "
                    f"mlnb versions create v1 --model {model} --origin MODEL_DIR"
                )
            record = default
        else:
            record = self._registry.get_version(project, model, version)
        if record.state != "READY":
            detail = f": {record.error_message}" if record.error_message else ""
            raise FailedPrecondition(
                f"Version {record.name!r} of model {model!r} is {record.state}{detail}; "
                "only READY versions serve predictions"
            )
        logging_ = _Logging.of(model_record, record)
        self._resolved[key] = (clock + self.settings.resolve_ttl_s, record, logging_)
        self._flush_last_use()
        return record, logging_

    def _forget(self, project: str, model: str) -> None:
        for key in [k for k in self._resolved if k[:2] == (project, model)]:
            del self._resolved[key]
        prefix = f"projects/{project}/models/{model}/"
        live = {v.artifact_uri for v in self._safe_versions(project, model)}
        self._predictors.discard(lambda k: str(k[0]).startswith(prefix) and k[1] not in live)  # type: ignore[index]

    def _safe_versions(self, project: str, model: str) -> list[VersionRecord]:
        try:
            return self._registry.list_versions(project, model)
        except MlnbError:
            return []

    def _note_use(self, record: VersionRecord) -> None:
        self._last_use[(record.project, record.model, record.name)] = now()

    def _flush_last_use(self, force: bool = False) -> None:
        if not self._last_use or (not force and time.monotonic() - self._last_flush < _LAST_USE_FLUSH_S):
            return
        with self._lock:
            pending, self._last_use = self._last_use, {}
            self._last_flush = time.monotonic()
        try:
            self._registry.touch_versions(pending)
        except MlnbError as e:
            # Recording use is bookkeeping: it must never fail a prediction.
            log.warning("Could not record lastUseTime: %s", e)
