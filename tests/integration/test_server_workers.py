"""`mlnb server --workers 2` as a real command: keep-alive requests answer in
milliseconds (the listening socket is TCP, so connections get TCP_NODELAY;
without it every answer waited about 40 ms for Nagle's algorithm)."""

from __future__ import annotations

import http.client
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from support.rest_server import call_http, fetch_text, running_server

from mlnb.api import Engine

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_keep_alive_requests_to_two_workers_answer_in_milliseconds(home: Path) -> None:
    with running_server(home, 2) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        timings = []
        for _ in range(40):
            started = time.perf_counter()
            connection.request("GET", "/v1/projects/p/models")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            timings.append(time.perf_counter() - started)
        connection.close()
        # With Nagle's algorithm in the way the median was 44 ms; without, about 1 ms.
        assert statistics.median(timings) < 0.02, f"median {statistics.median(timings) * 1000:.1f} ms"


def _metric(text: str, name: str) -> float:
    """The sum of a metric's samples whose line starts with ``name``."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_workers_keep_versions_loaded_and_share_their_metrics(
    home: Path, sklearn_model: tuple[Path, Any]
) -> None:
    engine = Engine(home=str(home))
    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_model[0], auto_scaling={"minNodes": 2})
    engine.close()
    with running_server(home, 2) as port:
        server = f"http://127.0.0.1:{port}"
        # Both workers load v1 without a request: the loaded gauge sums them.
        deadline = time.monotonic() + 60
        while _metric(fetch_text(server, "/metrics"), "mlnb_loaded_versions") < 2:
            assert time.monotonic() < deadline, fetch_text(server, "/metrics")
            time.sleep(0.3)
        # A new connection for each request: the kernel spreads them over both workers,
        # and whichever answers /metrics reports the requests of both.
        for _ in range(20):
            status, body = call_http(
                server, "POST", "/v1/projects/default/models/iris:predict", {"instances": SAMPLES}
            )
            assert status == 200 and len(body["predictions"]) == 2
        text = fetch_text(server, "/metrics")
        assert _metric(text, 'mlnb_predict_requests_total{code="200",model="iris",version="default"}') == 20
        assert _metric(text, 'mlnb_predict_instances_total{model="iris",version="default"}') == 40
        assert _metric(text, "mlnb_loaded_versions") == 2
        # Each worker keeps what it imported and loaded out of the collector's
        # full passes (mlnb.server.heap): tens of thousands of objects each.
        assert _metric(text, "mlnb_gc_frozen_objects") > 2 * 20_000
