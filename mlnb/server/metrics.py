"""Prometheus metrics of one server: requests, errors and latency per model
and version, loaded versions, and predictions in flight."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServerMetrics:
    """A registry of its own per app, so that several apps in one process
    (tests, several servers) do not share counters."""

    def __init__(self, loaded_versions: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
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
        self.in_flight = Gauge(
            "mlnb_predict_in_flight", "Predict requests being served", registry=self.registry
        )
        loaded = Gauge("mlnb_loaded_versions", "Versions loaded in this process", registry=self.registry)
        loaded.set_function(loaded_versions)

    @contextmanager
    def predicting(self, model: str, version: str | None) -> Iterator[dict[str, object]]:
        """Time one predict request; the caller sets ``outcome["code"]`` and
        ``outcome["instances"]``."""
        outcome: dict[str, object] = {"code": 500, "instances": 0}
        label = version or "default"
        started = time.perf_counter()
        self.in_flight.inc()
        try:
            yield outcome
        finally:
            self.in_flight.dec()
            self.latency.labels(model, label).observe(time.perf_counter() - started)
            self.requests.labels(model, label, str(outcome["code"])).inc()
            count = outcome["instances"]
            if isinstance(count, int) and count:
                self.instances.labels(model, label).inc(count)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
