"""The Engine's online prediction: versions resolved (a model's default
unless named), kept loaded, predicted with, their use recorded, and their
requests logged when the model asks for it."""

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
from mlnb.prediction import (
    DecodedInstances,
    PredictionLog,
    PredictorCache,
    ServedCounts,
    decode_instances,
    predict_each,
    run_prediction,
    to_jsonable,
)
from mlnb.prediction.instances import Reread
from mlnb.prediction.routing import TrafficRoute
from mlnb.prediction.served import Tally
from mlnb.prediction.shadow import ShadowSender
from mlnb.records import ModelRecord, VersionRecord, now
from mlnb.registry import ModelRegistry, VersionDeployer, nodes_kept_loaded
from mlnb.states import VersionState

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
# A resolved version serves at most this many resolve TTLs past the read
# that confirmed it, however slow the background re-read is.
_STALE_PERIODS = 3
# Instances a model call of an evaluation (a data set, not a request).
_SCORED_PART = 4096


class PredictionAPI:
    """Online prediction, the part of :class:`mlnb.Engine` that owns what a
    process keeps for serving: loaded predictors, resolved versions, pending
    ``lastUseTime`` values and the prediction log's writer."""

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry,
        deployer: VersionDeployer,
        adapters: AdapterRegistry,
        predictors: PredictorCache,
        prediction_log: PredictionLog,
        served: ServedCounts,
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._deployer = deployer
        self._adapters = adapters
        self._predictors = predictors
        self._prediction_log = prediction_log
        self._served = served
        self._resolved: dict[tuple[str, str, str | None], tuple[float, VersionRecord, _Logging]] = {}
        # Each model's traffic split, read with its default (a model without
        # one has none here): requests to the model are routed by it.
        self._routes: dict[tuple[str, str], TrafficRoute] = {}
        self._shadows: dict[tuple[str, str], dict[str, Any]] = {}  # read with the split
        self._route_fields: dict[tuple[str, str], str] = {}
        self._shadow_sender = ShadowSender()
        self._refreshing: set[tuple[str, str, str | None]] = set()
        self._last_use: dict[tuple[str, str, str], datetime] = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def forget(self, project: str, model: str, live: set[str | None]) -> None:
        """Drop what this process knows of ``model``'s versions after a change
        to them: resolved versions, and loaded predictors of files that no
        version of it (``live``: their artifact URIs) holds any more."""
        for key in [k for k in self._resolved if k[:2] == (project, model)]:
            del self._resolved[key]
        self._routes.pop((project, model), None)
        self._shadows.pop((project, model), None)
        self._route_fields.pop((project, model), None)
        prefix = f"projects/{project}/models/{model}/"
        self._predictors.discard(lambda k: str(k[0]).startswith(prefix) and k[1] not in live)  # type: ignore[index]

    def load(self, record: VersionRecord) -> None:
        """Load a version now (before it takes traffic: a version that cannot
        load fails here, not in a request)."""
        self._loaded(record)

    def close(self) -> None:
        """Write pending ``lastUseTime`` values, shadow predictions,
        prediction log entries and served counts."""
        self._shadow_sender.close()
        self._flush_last_use(force=True)
        self._prediction_log.close()
        self._served.close()

    def predict(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        routing_key: str | None = None,
        project: str | None = None,
        counted: bool = True,
    ) -> list[Any]:
        """One request's predictions (``counted``: in the served counts; a
        server that gathered several requests into the call counts each
        request itself)."""
        record, predictor, logging_ = self._predictor(
            self.settings.project_of(project), model, version, routing_key
        )
        kwargs = _predict_kwargs(signature_name, parameters)
        logged = logging_.sampled()
        sent = instances.as_sent() if logged and isinstance(instances, DecodedInstances) else instances
        started = time.perf_counter()
        try:
            predictions = run_prediction(predictor, instances, **kwargs)
        except Exception as e:
            if counted:
                self._served.note(
                    record.project, record.model, record.name, time.perf_counter() - started, True
                )
            if logged and isinstance(e, MlnbError):
                self._log_prediction(record, logging_, sent, error=e.message, started=started)
            raise
        if counted:
            self._served.note(record.project, record.model, record.name, time.perf_counter() - started, False)
        if logged:
            self._log_prediction(record, logging_, sent, predictions, started=started)
        self._note_use(record)
        if version is None:
            self.shadow(record, instances, predictions)
        return predictions

    def served(self, project: str, model: str, since: datetime) -> dict[str, Any]:
        """``versions``: each version's figures since ``since`` from the
        served counts of every serving process; ``total``: all of them."""
        tallies = self._served.tallies(project, model, since)
        return {
            "versions": {version: tally.figures() for version, tally in sorted(tallies.items())},
            "total": Tally.summed(tallies.values()).figures(),
        }

    def note_served(self, project: str, model: str, version: str, seconds: float, failed: bool) -> None:
        """Count one request (see ``mlnb.prediction.served``)."""
        self._served.note(project, model, version, seconds, failed)

    def shadow(self, served: VersionRecord, instances: Any, predictions: list[Any]) -> None:
        """Send a copy of a request to the model to its shadow version, when
        it has one and this request is of its share (after ``served``
        answered with ``predictions``)."""
        shadow = self._shadows.get((served.project, served.model))
        if not shadow or shadow["version"] == served.name or not ShadowSender.chosen(shadow["percent"]):
            return
        self._shadow_sender.send(
            lambda: self._shadow_predict(served, shadow["version"], instances, predictions)
        )

    def _shadow_predict(
        self, served: VersionRecord, name: str, instances: Any, predictions: list[Any]
    ) -> None:
        sent = instances.as_sent() if isinstance(instances, DecodedInstances) else instances
        extra = {"shadowOf": served.name, "served": predictions}
        started = time.perf_counter()
        try:
            record, _ = self._resolve_one(served.project, served.model, name)
            answer: list[Any] | None = run_prediction(self._loaded(record), instances)
            error = None
        except Exception as e:  # the shadow's own code can raise anything: logged, never raised
            answer, error = None, e.message if isinstance(e, MlnbError) else f"{type(e).__name__}: {e}"
        latency_ms = (time.perf_counter() - started) * 1000
        self._prediction_log.write(
            served.project, served.model, name, sent, answer, error, latency_ms=latency_ms, extra=extra
        )

    def shadow_comparison(
        self, project: str, model: str, limit: int, version: str | None = None
    ) -> list[dict[str, Any]]:
        """The shadow's logged copies (of ``version``, or of any version),
        oldest first: each with what was served and what the shadow said."""
        entries = self._prediction_log.read(project, model, limit, version)
        return [e for e in entries if "shadowOf" in e]

    def predict_each(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        signature_name: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        record, predictor, logging_ = self._predictor(
            self.settings.project_of(project), model, version, routing_key
        )
        kwargs = _predict_kwargs(signature_name, parameters)
        started = time.perf_counter()
        try:
            answer = predict_each(predictor, instances, **kwargs)
        except Exception as e:  # refused as a whole: a failed request, logged as predict logs one
            self._served.note(record.project, record.model, record.name, time.perf_counter() - started, True)
            if isinstance(e, MlnbError) and logging_.sampled():
                self._log_prediction(record, logging_, instances, error=e.message, started=started)
            raise
        # A request with a failed instance is a failed request (what an error rate counts).
        failed = bool(answer["errors"])
        self._served.note(record.project, record.model, record.name, time.perf_counter() - started, failed)
        answer["version"] = record.name  # mlnb's: which version answered
        if version is None:
            self.shadow(record, instances, answer["predictions"])
        if logging_.sampled():
            # Its answer is kept beside the error.
            failed_said = "; ".join(e["message"] for e in answer["errors"]) or None
            predictions = answer["predictions"]  # None in place of a failed instance's
            self._log_prediction(record, logging_, instances, predictions, error=failed_said, started=started)
        self._note_use(record)
        return answer

    def explain(
        self,
        model: str,
        instances: Any,
        *,
        version: str | None = None,
        feature_names: Sequence[str] | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        record, predictor, _ = self._predictor(self.settings.project_of(project), model, version)
        decoded = instances if isinstance(instances, DecodedInstances) else decode_instances(instances, "key")
        # Imported here: a process that only predicts never loads it.
        from mlnb.explain import ExplanationConfig, explain_instances

        config = ExplanationConfig.from_api(record.explanation_config)
        answer = explain_instances(predictor, decoded.instances, config, feature_names)
        answer["predictions"] = run_prediction(predictor, decoded)
        answer["version"] = record.name
        self._note_use(record)
        return answer

    def scored(
        self, model: str, instances: list[Any], *, version: str | None = None, project: str | None = None
    ) -> tuple[VersionRecord, list[Any], Any, list[Any] | None]:
        """The version that answered, its predictions of ``instances`` and,
        for a classifier that has them, its class probabilities (instances,
        classes) and the classes in their order; for an evaluation, which
        wants the numbers behind the labels. In parts of a few thousand
        instances, checked as predictions are."""
        from mlnb.frameworks import Scorer

        record, predictor, _ = self._predictor(self.settings.project_of(project), model, version)
        classes = getattr(predictor, "classes", None)
        known = classes() if callable(classes) else None
        predictions: list[Any] = []
        probabilities: list[Any] = []
        for start in range(0, len(instances), _SCORED_PART):
            part = instances[start : start + _SCORED_PART]
            predictions += run_prediction(predictor, part, None)
            if known is not None and isinstance(predictor, Scorer):
                probabilities += to_jsonable(predictor.scores(part))
        self._note_use(record)
        return record, predictions, (probabilities if known is not None else None), known

    def prediction_log(
        self, model: str, *, limit: int = 100, version: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        return self._prediction_log.read(self.settings.project_of(project), model, limit, version)

    @property
    def prediction_log_writer(self) -> PredictionLog:
        """The prediction log this process writes (its reads send what is pending first)."""
        return self._prediction_log

    def _log_prediction(
        self,
        record: VersionRecord,
        logging_: _Logging,
        instances: Any,
        predictions: Any = None,
        error: str | None = None,
        started: float | None = None,
    ) -> None:
        # The model's time to answer, in this process: what a latency alert reads.
        latency_ms = (time.perf_counter() - started) * 1000 if started is not None else None
        try:
            self._prediction_log.write(
                record.project,
                record.model,
                record.name,
                instances,
                predictions,
                error,
                logging_.console,
                latency_ms,
            )
        except (MlnbError, OSError, TypeError) as e:
            # Logging is bookkeeping: it must never fail a prediction.
            log.warning("Could not log a prediction of %s: %s", record.resource_name, e)

    def _predictor(
        self, project: str, model: str, version: str | None, routing_key: str | None = None
    ) -> tuple[VersionRecord, Predictor, _Logging]:
        record, logging_ = self._resolve(project, model, version, routing_key)
        return record, self._loaded(record), logging_

    def _loaded(self, record: VersionRecord) -> Predictor:
        return self._predictors.get(
            (record.resource_name, record.artifact_uri),
            lambda: self._deployer.load_predictor(record),
            lambda: self._deployer.stored_bytes(record),
        )

    def routing_key_field(self, project: str, model: str) -> str | None:
        self._resolve_one(project, model, None)  # reads the model's traffic when not known
        return self._route_fields.get((project, model))

    def known_routing_key_field(self, project: str, model: str) -> tuple[bool, str | None]:
        """``(True, field)`` when this process knows the model's traffic
        without a read (what an event loop may call), else ``(False, None)``."""
        if not self._known(project, model, None):
            return False, None
        return True, self._route_fields.get((project, model))

    def ready(self, record: VersionRecord) -> bool:
        """Whether a prediction with ``record`` (by its name) would read
        nothing and load nothing: it is resolved, not too stale, and loaded."""
        return (
            self._known(record.project, record.model, record.name)
            and (record.resource_name, record.artifact_uri) in self._predictors
        )

    def serving_version(
        self,
        model: str,
        version: str | None = None,
        *,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> VersionRecord:
        return self._resolve(self.settings.project_of(project), model, version, routing_key)[0]

    def known_serving_version(
        self,
        model: str,
        version: str | None = None,
        *,
        routing_key: str | None = None,
        project: str | None = None,
    ) -> VersionRecord | None:
        project = self.settings.project_of(project)
        if not self._known(project, model, version):
            return None  # the caller reads it (off the event loop)
        record = self._resolve_one(project, model, version)[0]  # keeps the split fresh too
        route = self._routes.get((project, model)) if version is None else None
        if route is None:
            return record
        picked = route.pick(routing_key)
        if picked == record.name:
            return record
        if not self._known(project, model, picked):
            return None
        return self._resolve_one(project, model, picked)[0]

    def _known(self, project: str, model: str, version: str | None) -> bool:
        cached = self._resolved.get((project, model, version))
        return cached is not None and not self._too_stale(cached[0])

    def keep_loaded(self, worker: int) -> list[str]:
        wanted = [r for r in self._registry.ready_versions() if nodes_kept_loaded(r) > worker]
        # Pinned before loading, so that loading one cannot unload another.
        self._predictors.pin({(r.resource_name, r.artifact_uri) for r in wanted})
        return self._load_each(wanted)

    def warm_defaults(self) -> list[str]:
        """Load each model's default version, as many as the loaded-version
        bound leaves room for beside the pinned ones: the first requests
        after a start then find them loaded. Returns the resource names."""
        room = self.settings.predictor_cache_size - len(self._predictors)
        defaults = [r for r in self._registry.ready_versions() if r.is_default]
        return self._load_each(defaults[: max(0, room)])

    def _load_each(self, records: list[VersionRecord]) -> list[str]:
        """Load each version, skipping (and logging) one that fails; the
        resource names of those loaded."""
        names = []
        for record in records:
            try:
                self._loaded(record)
            except Exception as e:  # the model's own loading code can raise anything
                log.warning("Could not load %s: %s", record.resource_name, e)
                continue
            names.append(record.resource_name)
        return names

    def local_predict(
        self,
        model_dir: str | Path,
        instances: Any,
        *,
        framework: str | None = None,
        signature_name: str | None = None,
    ) -> list[Any]:
        path = Path(model_dir)
        if not path.exists():
            raise FailedPrecondition(f"The model folder {str(path)!r} does not exist")
        adapter = self._adapters.get(framework) if framework else self._adapters.detect(path)
        predictor = adapter.load(path, LoadOptions())
        kwargs = {"signature_name": signature_name} if signature_name else {}
        return run_prediction(predictor, instances, **kwargs)

    def check_instances(
        self,
        instances: Any,
        *,
        may_hold_booleans: bool = True,
        numbers_only: bool = False,
        reread: Reread | None = None,
    ) -> DecodedInstances:
        return decode_instances(
            instances, may_hold_booleans=may_hold_booleans, numbers_only=numbers_only, reread=reread
        )

    def takes_arrays(self, record: VersionRecord) -> bool:
        """Whether ``record``'s predictor is loaded and takes a numeric
        array as it is (no lists needed)."""
        predictor = self._predictors.peek((record.resource_name, record.artifact_uri))
        return bool(getattr(predictor, "accepts_arrays", False))

    def loaded_versions(self) -> int:
        return len(self._predictors)

    def loaded_changes(self) -> int:
        return self._predictors.changes

    def _resolve(
        self, project: str, model: str, version: str | None, routing_key: str | None = None
    ) -> tuple[VersionRecord, _Logging]:
        """The version that answers a request: the one named, else one of
        the model's traffic split (by ``routing_key``'s hash when given),
        else its default."""
        record, logging_ = self._resolve_one(project, model, version)
        if version is None:
            route = self._routes.get((project, model))
            if route is not None:
                name = route.pick(routing_key)
                if name != record.name:
                    return self._resolve_one(project, model, name)
        return record, logging_

    def _resolve_one(self, project: str, model: str, version: str | None) -> tuple[VersionRecord, _Logging]:
        """The version to predict with and its logging, read at most once a
        TTL. Past the TTL the version known so far keeps serving while a
        background thread reads again and loads a changed version (a new
        default) before it takes traffic; but never longer than
        ``_STALE_PERIODS`` TTLs past the read that confirmed it: then (a
        slow or loaded database) the request reads it itself, so a deleted
        version stops answering within that bound."""
        key = (project, model, version)
        cached = self._resolved.get(key)
        if cached is None:
            return self._read_version(key)
        if self._too_stale(cached[0]):
            return self._read_version(key, cached[1], load_changed=False)
        if cached[0] <= time.monotonic():
            self._refresh_soon(key, cached[1])
        return cached[1], cached[2]

    def _too_stale(self, expires: float) -> bool:
        ttl = self.settings.resolve_ttl_s
        return time.monotonic() > expires + (_STALE_PERIODS - 1) * ttl

    def _refresh_soon(self, key: tuple[str, str, str | None], known: VersionRecord) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._read_version(key, known)
            except MlnbError:
                self._resolved.pop(key, None)  # the next request reads again and meets the error itself
            finally:
                self._refreshing.discard(key)

        threading.Thread(target=refresh, name=f"resolve-{key[1]}", daemon=True).start()

    def _note_traffic(self, model: ModelRecord) -> None:
        """Keep a model's split and shadow: read with its default, and as often."""
        key = (model.project, model.name)
        if model.traffic_split:
            self._routes[key] = TrafficRoute(model.traffic_split)
        else:
            self._routes.pop(key, None)
        if model.shadow:
            self._shadows[key] = model.shadow
        else:
            self._shadows.pop(key, None)
        if model.routing_key_field:
            self._route_fields[key] = model.routing_key_field
        else:
            self._route_fields.pop(key, None)

    def _read_version(
        self, key: tuple[str, str, str | None], known: VersionRecord | None = None, load_changed: bool = True
    ) -> tuple[VersionRecord, _Logging]:
        """Read which version serves ``key`` and remember it for a TTL.

        A version that changed from ``known`` (a new default) is loaded
        before it takes traffic: here (``load_changed``, a background
        refresh), or else by a background refresh while ``known``, which
        this read confirmed, goes on serving.

        Raises:
            NotFound, FailedPrecondition: No such model or version, or none READY.
        """
        project, model, version = key
        started = time.monotonic()  # what the read confirms is as of its start
        model_record = self._registry.get_model(project, model)
        if version is None:
            self._note_traffic(model_record)
            default = model_record.default_version
            if default is None:
                raise FailedPrecondition(
                    f"Model {model!r} has no default version to predict with; create a version first"
                )
            record = default
        else:
            record = self._registry.get_version(project, model, version)
        if record.state != VersionState.READY:
            detail = f": {record.error_message}" if record.error_message else ""
            raise FailedPrecondition(
                f"Version {record.name!r} of model {model!r} is {record.state}{detail}; "
                "only READY versions serve predictions"
            )
        logging_ = _Logging.of(model_record, record)
        changed = known is None or (known.resource_name, known.artifact_uri) != (
            record.resource_name,
            record.artifact_uri,
        )
        if known is not None and changed:
            previous = self._resolved.get(key)
            if previous is not None and self.settings.resolve_ttl_s > 0:
                # Confirmed by this read: the known version serves on while
                # the new one loads.
                self._resolved[key] = (started + self.settings.resolve_ttl_s, previous[1], previous[2])
                if not load_changed:
                    self._refresh_soon(key, known)
                    return previous[1], previous[2]
            try:
                self._loaded(record)  # loaded before it takes traffic
            except Exception as e:  # the model's own loading code can raise anything
                log.warning("Could not load %s ahead of its traffic: %s", record.resource_name, e)
        if self.settings.resolve_ttl_s > 0:
            self._resolved[key] = (started + self.settings.resolve_ttl_s, record, logging_)
        self._flush_last_use()
        return record, logging_

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


def _predict_kwargs(signature_name: str | None, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a model's ``predict`` is given beside the instances."""
    kwargs = {k: v for k, v in (parameters or {}).items() if k not in ("instances", "signature_name")}
    if signature_name:
        kwargs["signature_name"] = signature_name
    return kwargs
