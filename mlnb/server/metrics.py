"""Prometheus metrics of one server: requests, errors and latency per model
and version, loaded versions, and predictions in flight.

A server of several worker processes (``mlnb server --workers N``) runs
prometheus-client in its multiprocess mode: ``serve`` gives the workers a
shared folder (``PROMETHEUS_MULTIPROC_DIR``) before they start, each worker
writes its values there, and ``/metrics`` from any worker sums them all."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_ENV) or None


def drift_exposition(checks: list[dict[str, Any]]) -> bytes:
    """The versions' last drift checks (kept in the store by whichever host
    checked) as gauges in Prometheus's text format: each feature's PSI, the
    count of drifted features, the share of failed logged requests and their
    latency's p99, per
    model and version (each family's lines together)."""
    if not checks:
        return b""
    families = {
        "mlnb_drift_psi": "The population stability index of a feature at the version's last drift check",
        "mlnb_drift_features": "Features past the threshold at the last check",
        "mlnb_logged_error_rate": "The share of failed requests among those the last check read",
        "mlnb_logged_latency_p99_ms": "The p99 of the model's time to answer the requests the check read",
    }
    samples: dict[str, list[str]] = {name: [] for name in families}
    for check in checks:
        version = f'model="{_label(check["model"])}",version="{_label(check["version"])}"'
        last = check["lastCheck"]
        for feature, psi in sorted(last.get("psi", {}).items()):
            samples["mlnb_drift_psi"].append(
                f'mlnb_drift_psi{{{version},feature="{_label(feature)}"}} {float(psi)}'
            )
        samples["mlnb_drift_features"].append(
            f"mlnb_drift_features{{{version}}} {len(last.get('drifted', []))}"
        )
        if "errorRate" in last:
            samples["mlnb_logged_error_rate"].append(
                f"mlnb_logged_error_rate{{{version}}} {float(last['errorRate'])}"
            )
        if "latencyP99Ms" in last:
            samples["mlnb_logged_latency_p99_ms"].append(
                f"mlnb_logged_latency_p99_ms{{{version}}} {float(last['latencyP99Ms'])}"
            )
    lines = []
    for name, text in families.items():
        if samples[name]:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", *samples[name]]
    return ("\n".join(lines) + "\n").encode()


# The model and version labels of a request for a model or version that
# does not exist (404): one series for them all, so that names anyone may
# send cannot grow the metrics (and each worker's files) without end.
UNKNOWN = "(unknown)"


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_MAX_SERIES_CACHED = 4096


@dataclass(frozen=True)
class _PredictSeries:
    """The children of the predict metrics for one model, version and outcome."""

    latency: Any
    requests: Any
    instances: Any
    answered_latency: Any | None
    answered: Any | None


class ServerMetrics:
    """A registry of its own per app, so that several apps in one process
    (tests, several servers) do not share counters."""

    def __init__(self, loaded_versions: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self._loaded_versions = loaded_versions
        self.requests = Counter(
            "mlnb_predict_requests", "Predict requests", ["model", "version", "code"], registry=self.registry
        )
        self.instances = Counter(
            "mlnb_predict_instances", "Instances predicted", ["model", "version"], registry=self.registry
        )
        self.latency = Histogram(
            "mlnb_predict_latency_seconds",
            "Predict request latency",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # By the version that answered (a request to the model has its
        # traffic split's or default's name here, "default" above).
        self.answered = Counter(
            "mlnb_version_requests",
            "Predict requests by the version that answered",
            ["model", "version", "code"],
            registry=self.registry,
        )
        self.answered_latency = Histogram(
            "mlnb_version_latency_seconds",
            "Predict request latency by the version that answered",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mlnb_predict_in_flight",
            "Predict requests being served",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.explain_requests = Counter(
            "mlnb_explain_requests", "Explain requests", ["model", "version", "code"], registry=self.registry
        )
        self.explain_latency = Histogram(
            "mlnb_explain_latency_seconds",
            "Explain request latency",
            ["model", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.loaded = Gauge(
            "mlnb_loaded_versions",
            "Versions loaded, summed over the worker processes",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.frozen = Gauge(
            "mlnb_gc_frozen_objects",
            "Objects kept out of the garbage collector's passes (gc.freeze), summed over the workers",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._predict_series: dict[tuple[str, str, str | None, object], _PredictSeries] = {}
        self.note_loaded()

    def note_loaded(self, frozen_objects: int | None = None) -> None:
        """Record how many versions this process has loaded now (and, when
        given, how many objects its heap freezer froze): at each render, and
        every few seconds from the worker's keep-loaded loop, so that the
        other workers' counts in a multiprocess render are at most that old
        (not on every request: it is bookkeeping). The frozen count is told,
        never asked of ``gc``: asking walks the whole frozen heap with the
        GIL held, which stalled every request every two seconds."""
        self.loaded.set(self._loaded_versions())
        if frozen_objects is not None:
            self.frozen.set(frozen_objects)

    @contextmanager
    def predicting(self, model: str, version: str | None) -> Iterator[dict[str, object]]:
        """Time one predict request; the caller sets ``outcome["code"]``,
        ``outcome["instances"]`` and, once known, ``outcome["answered"]``
        (the version that answered)."""
        outcome: dict[str, object] = {"code": 500, "instances": 0}
        label = version or "default"
        started = time.perf_counter()
        self.in_flight.inc()
        try:
            yield outcome
        finally:
            self.in_flight.dec()
            spent = time.perf_counter() - started
            answered = outcome.get("answered") or version
            if outcome["code"] == 404:
                model, label, answered = UNKNOWN, UNKNOWN, None
            series = self._series(
                model, label, answered if isinstance(answered, str) else None, outcome["code"]
            )
            series.latency.observe(spent)
            series.requests.inc()
            if series.answered_latency is not None and series.answered is not None:
                series.answered_latency.observe(spent)
                series.answered.inc()
            count = outcome["instances"]
            if isinstance(count, int) and count:
                series.instances.inc(count)

    def _series(self, model: str, label: str, answered: str | None, code: object) -> _PredictSeries:
        """A request's time series, looked up once per outcome (``labels``
        takes a lock and builds keys: five a request were a tenth of mlnb's
        own time on the serving path)."""
        key = (model, label, answered, code)
        found = self._predict_series.get(key)
        if found is None:
            if len(self._predict_series) >= _MAX_SERIES_CACHED:
                self._predict_series.clear()  # names come from requests: bounded
            status = str(code)
            found = _PredictSeries(
                self.latency.labels(model, label),
                self.requests.labels(model, label, status),
                self.instances.labels(model, label),
                self.answered_latency.labels(model, answered) if answered else None,
                self.answered.labels(model, answered, status) if answered else None,
            )
            self._predict_series[key] = found
        return found

    @contextmanager
    def explaining(self, model: str, version: str | None) -> Iterator[dict[str, object]]:
        """Time one explain request; the caller sets ``outcome["code"]``."""
        outcome: dict[str, object] = {"code": 500}
        label = version or "default"
        started = time.perf_counter()
        try:
            yield outcome
        finally:
            if outcome["code"] == 404:
                model = label = UNKNOWN
            self.explain_latency.labels(model, label).observe(time.perf_counter() - started)
            self.explain_requests.labels(model, label, str(outcome["code"])).inc()

    def render(self) -> bytes:
        """The text exposition: of every worker process when there are several."""
        self.note_loaded()
        folder = _multiprocess_dir()
        if folder is None:
            return bytes(generate_latest(self.registry))
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=folder)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(combined))

    @staticmethod
    def process_exits() -> None:
        """Drop this process's live gauges from the shared folder."""
        if _multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
