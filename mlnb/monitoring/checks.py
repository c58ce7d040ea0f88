"""Drift checks: a version's served instances measured against its
baseline, the figures kept with the baseline (the server's gauges read
them), and an alert (a history event, and a JSON POST to the baseline's
webhook, Slack-compatible) when the set of alarms (the drifted features,
and the error rate past ``maxErrorRate``) changes to a non-empty one:
once, however many hosts check. The p99 of the model's time to answer the
logged requests is an alarm past ``maxLatencyP99Ms`` too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlnb.errors import FailedPrecondition
from mlnb.monitoring.drift import DEFAULT_PSI_THRESHOLD, drift
from mlnb.records import ModelEvent, format_time, now
from mlnb.runtime.webhooks import post_json

if TYPE_CHECKING:
    from mlnb.prediction import PredictionLog
    from mlnb.store import Database

__all__ = ["DEFAULT_WINDOW", "check_drift", "served_drift"]

DEFAULT_WINDOW = 1000
# The alarm of a version failing more of its requests than its alerting allows.
ERROR_RATE = "error rate"
# The alarm of a version answering its logged requests slower than its alerting allows.
LATENCY = "latency p99"


def served_drift(
    baseline: dict[str, Any], entries: Sequence[dict[str, Any]], version: str, threshold: float
) -> dict[str, Any]:
    """Drift of the logged requests of ``version`` among ``entries`` (the
    prediction log's, oldest first) from ``baseline``."""
    mine = [e for e in entries if e.get("version") == version]
    profile = baseline["profile"]
    instances = [i for e in mine for i in (e.get("instances") or [])]
    predictions = [p for e in mine for p in (e.get("predictions") or []) if p is not None]
    answer = drift(profile, instances, list(profile.get("features", {})), threshold)
    if predictions and profile.get("predictions"):
        answer["predictions"] = drift(profile["predictions"], predictions, None, threshold)
    latencies = [float(e["latencyMs"]) for e in mine if "latencyMs" in e]
    return answer | {
        "version": version,
        "kind": "drift",
        "requests": len(mine),
        "errorRequests": sum(1 for e in mine if "error" in e),
        "latencyP99Ms": _p99(latencies),
        "since": mine[0]["time"] if mine else None,
    }


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.quantile(values, 0.99))


def check_drift(
    database: Database, prediction_log: PredictionLog, project: str, model: str, version: str
) -> dict[str, Any]:
    """Check one version now: its drift (as ``served_drift``), whether an
    alert went out, and the webhook's delivery.

    Raises:
        FailedPrecondition: The version has no baseline.
    """
    from mlnb.store import BaselinesTx, RegistryTx

    with database.session() as session:
        baseline = BaselinesTx(session).get(project, model, version)
    if baseline is None:
        raise FailedPrecondition(f"Version {version!r} of model {model!r} has no baseline to check against")
    alerting = baseline.get("alerting") or {}
    threshold = float(alerting.get("psiThreshold", DEFAULT_PSI_THRESHOLD))
    entries = prediction_log.read(project, model, int(alerting.get("window", DEFAULT_WINDOW)), version)
    answer = served_drift(baseline, entries, version, threshold)
    figures = {name: f["psi"] for name, f in answer["features"].items() if "psi" in f}
    error_rate = answer["errorRequests"] / answer["requests"] if answer["requests"] else 0.0
    # What is wrong now: the drifted features, and the error rate past its bound.
    alarms = list(answer["drifted"])
    max_error_rate = alerting.get("maxErrorRate")
    if max_error_rate is not None and error_rate > float(max_error_rate):
        alarms.append(ERROR_RATE)
    p99, max_p99 = answer["latencyP99Ms"], alerting.get("maxLatencyP99Ms")
    if max_p99 is not None and p99 is not None and p99 > float(max_p99):
        alarms.append(LATENCY)
    check = {
        "time": format_time(now()),
        "rows": answer["rows"],
        "drifted": answer["drifted"],
        "psi": figures,
        "errorRate": error_rate,
    }
    if p99 is not None:
        check["latencyP99Ms"] = p99
    with database.session(write=True) as session:
        before = BaselinesTx(session).record_check(project, model, version, check, alarms)
        alert = bool(alarms) and set(alarms) != set(before or [])
        if alert:
            details = {
                "alarms": alarms,
                "drifted": answer["drifted"],
                "psi": figures,
                "threshold": threshold,
                "errorRate": error_rate,
                "latencyP99Ms": p99,
                "rows": answer["rows"],
            }
            event = ModelEvent(project, model, now(), "mlnb monitoring", "DRIFT_ALERT", version, details)
            RegistryTx(session).append_event(event)
    delivery = None
    if alert and alerting.get("webhook"):
        body = _alert_body(project, model, version, answer, figures, threshold, alarms, error_rate)
        delivery = post_json(str(alerting["webhook"]), body)
    return answer | {"alerted": alert, "alarms": alarms, "errorRate": error_rate, "delivery": delivery}


def _alert_body(
    project: str,
    model: str,
    version: str,
    answer: dict[str, Any],
    figures: dict[str, float],
    threshold: float,
    alarms: list[str],
    error_rate: float,
) -> dict[str, Any]:
    said = []
    if answer["drifted"]:
        moved = ", ".join(f"{name} (PSI {figures[name]:.2f})" for name in answer["drifted"])
        said.append(f"has drifted: {moved} (threshold {threshold})")
    if ERROR_RATE in alarms:
        said.append(f"fails {error_rate:.1%} of its logged requests")
    if LATENCY in alarms:
        said.append(f"answers its logged requests in {answer['latencyP99Ms']:.1f} ms at p99")
    return {
        "text": f"mlnb: version {version} of model {model} ({project}) " + "; ".join(said),
        "project": project,
        "model": model,
        "version": version,
        "alarms": alarms,
        "drifted": answer["drifted"],
        "psi": figures,
        "errorRate": error_rate,
        "latencyP99Ms": answer["latencyP99Ms"],
        "rows": answer["rows"],
    }
