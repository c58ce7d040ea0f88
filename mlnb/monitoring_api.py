"""Monitoring, the part of :class:`mlnb.Engine` that keeps versions'
baselines and measures drift: of the instances a version served (sampled
into the prediction log) from its baseline, or skew of another labelled
set from it."""

from __future__ import annotations

from typing import Any

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.predict_api import PredictionAPI
from mlnb.records import VersionRecord, format_time, now
from mlnb.store import Database

__all__ = ["MonitoringAPI"]

# Prediction log entries read at most for one drift measurement.
MAX_ENTRIES = 100_000


class MonitoringAPI:
    """Baselines and drift."""

    def __init__(self, settings: Settings, database: Database, serving: PredictionAPI) -> None:
        self.settings = settings
        self._database = database
        self._serving = serving

    @staticmethod
    def describe(data: Any, target: str | None = None) -> dict[str, Any]:
        from mlnb.evaluation.data import table_of
        from mlnb.monitoring import profile

        instances, columns, _ = table_of(data, target)
        return profile(instances, columns)

    def set_baseline(
        self,
        model: str,
        data: Any = None,
        *,
        version: str | None = None,
        target: str | None = None,
        source: str | None = None,
        alerting: dict[str, Any] | None = None,
        served: int | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        from mlnb.monitoring import profile
        from mlnb.store import BaselinesTx

        watched = _alerting(alerting)
        if (data is None) == (served is None):
            raise InvalidArgument("Give the baseline's data, or the number of served instances to take")
        if served is not None:
            record = self._serving.serving_version(model, version, project=project)
            instances, predictions, name = self._first_served(record, served)
            columns = None
        else:
            from mlnb.evaluation.data import table_of

            instances, columns, name = table_of(data, target)
            scored = self._serving.scored(model, instances, version=version, project=project)
            record, predictions = scored[0], scored[1]
        body = profile(instances, columns) | {"predictions": profile(predictions)}
        when, who = now(), self.settings.actor_of(actor)
        with self._database.session(write=True) as session:
            BaselinesTx(session).put(
                record.project, record.model, record.name, when, who, source or name, body, watched
            )
        return {
            "version": record.name,
            "time": format_time(when),
            "actor": who,
            "source": source or name,
            "alerting": watched,
            "profile": body,
        }

    def _first_served(self, record: VersionRecord, count: int) -> tuple[list[Any], list[Any], str]:
        """The first ``count`` instances the version answered (its logged
        requests, failed ones left out), their predictions, and a name.

        Raises:
            FailedPrecondition: Fewer are logged.
        """
        if not 1 <= count <= MAX_ENTRIES:
            raise InvalidArgument(f"Take from 1 to {MAX_ENTRIES} served instances", field="served")
        log = self._serving.prediction_log_writer
        entries = log.read(record.project, record.model, count, record.name, from_start=True)
        answered = [e for e in entries if "error" not in e]
        instances = [i for e in answered for i in (e.get("instances") or [])][:count]
        predictions = [p for e in answered for p in (e.get("predictions") or [])][:count]
        if len(instances) < count:
            raise FailedPrecondition(
                f"Version {record.name!r} of model {record.model!r} has answered {len(instances)} logged "
                f"instances, not {count}: log its requests (the model's onlinePredictionLogging, the "
                "version's samplingPercentage) and try again when it has served more"
            )
        since = answered[0]["time"] if answered else ""
        return instances, predictions, f"the first {count} instances served (from {since})"

    def drift_checks(self) -> list[dict[str, Any]]:
        from mlnb.store import BaselinesTx

        with self._database.session() as session:
            return BaselinesTx(session).checks()

    def check_drift(
        self, model: str, *, version: str | None = None, project: str | None = None
    ) -> dict[str, Any]:
        from mlnb.monitoring.checks import check_drift

        record = self._serving.serving_version(model, version, project=project)
        return check_drift(
            self._database, self._serving.prediction_log_writer, record.project, record.model, record.name
        )

    def get_baseline(
        self, model: str, *, version: str | None = None, project: str | None = None
    ) -> dict[str, Any] | None:
        from mlnb.store import BaselinesTx

        record = self._serving.serving_version(model, version, project=project)
        with self._database.session() as session:
            found = BaselinesTx(session).get(record.project, record.model, record.name)
        if found is None:
            return None
        return {**found, "time": format_time(found["time"]), "version": record.name}

    def drift(
        self,
        model: str,
        *,
        version: str | None = None,
        last: int = 1000,
        data: Any = None,
        target: str | None = None,
        threshold: float | None = None,
        project: str | None = None,
    ) -> dict[str, Any]:
        """Drift of the last ``last`` logged requests of the version from
        its baseline, or, given ``data``, the skew of that data from it."""
        from mlnb.monitoring import DEFAULT_PSI_THRESHOLD, drift

        baseline = self.get_baseline(model, version=version, project=project)
        if baseline is None:
            name = self._serving.serving_version(model, version, project=project).name
            raise FailedPrecondition(
                f"Version {name!r} of model {model!r} has no baseline: set one with "
                f"mlnb monitor baseline --model {model} --version {name} --data FILE"
            )
        limit = threshold if threshold is not None else DEFAULT_PSI_THRESHOLD
        profile = baseline["profile"]
        columns = list(profile.get("features", {}))
        if data is not None:
            from mlnb.evaluation.data import table_of

            instances, _, source = table_of(data, target)
            answer = drift(profile, instances, columns, limit)
            return answer | {"version": baseline["version"], "kind": "skew", "source": source}
        from mlnb.monitoring.checks import served_drift

        entries = self._serving.prediction_log(
            model, limit=min(last, MAX_ENTRIES), version=baseline["version"], project=project
        )
        return served_drift(baseline, entries, baseline["version"], limit)


def _alerting(alerting: dict[str, Any] | None) -> dict[str, Any] | None:
    """How a version's drift is watched: ``psiThreshold``, ``window`` (the
    requests a check reads), ``webhook`` (an http(s) URL) and
    ``maxErrorRate`` (the share of failed requests past which it alerts)
    and ``maxLatencyP99Ms`` (the p99 of the model's time to answer them
    past which it alerts), checked.

    Raises:
        InvalidArgument: A bad value, named.
    """
    from mlnb.monitoring.checks import DEFAULT_WINDOW
    from mlnb.monitoring.drift import DEFAULT_PSI_THRESHOLD

    if alerting is None:
        return None
    unknown = set(alerting) - {"psiThreshold", "window", "webhook", "maxErrorRate", "maxLatencyP99Ms"}
    if unknown:
        raise InvalidArgument(f"alerting has unknown field(s) {', '.join(sorted(unknown))}")
    threshold = alerting.get("psiThreshold", DEFAULT_PSI_THRESHOLD)
    window = alerting.get("window", DEFAULT_WINDOW)
    webhook = alerting.get("webhook")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold <= 0:
        raise InvalidArgument("alerting.psiThreshold must be a positive number", field="psiThreshold")
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= MAX_ENTRIES:
        raise InvalidArgument(
            f"alerting.window must be a whole number from 1 to {MAX_ENTRIES}", field="window"
        )
    if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
        raise InvalidArgument("alerting.webhook must be an http:// or https:// URL", field="webhook")
    rate = alerting.get("maxErrorRate")
    if rate is not None and (
        not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate < 1
    ):
        raise InvalidArgument("alerting.maxErrorRate must be a share from 0 to 1", field="maxErrorRate")
    latency = alerting.get("maxLatencyP99Ms")
    if latency is not None and (
        not isinstance(latency, int | float) or isinstance(latency, bool) or not latency > 0
    ):
        raise InvalidArgument("alerting.maxLatencyP99Ms must be a positive number", field="maxLatencyP99Ms")
    watched: dict[str, Any] = {"psiThreshold": float(threshold), "window": window}
    if webhook:
        watched["webhook"] = webhook
    if rate is not None:
        watched["maxErrorRate"] = float(rate)
    if latency is not None:
        watched["maxLatencyP99Ms"] = float(latency)
    return watched
