"""Online serving throughput and latency: mlnb's REST server against a bare
Starlette endpoint (the floor of the stack) and MLflow's scoring server,
side by side on the same models.

All serve the same models (a scikit-learn logistic regression on 20
features; an XGBoost classifier for mlnb and MLflow), one worker process
each, on 127.0.0.1. A bounded asyncio load generator (keep-alive
connections, ``--seconds`` per cell, no more) sends ``{"instances": [...]}``
requests of 1 and of 100 instances at concurrency 1 and 16; the table gives
p50 and p99 latency, requests per second, and mlnb's ratio to each. A last
table measures routing: the same version through an alias and behind a
50/50 split against a direct request (with wrk where it is installed).
The load generator shares the machine's cores with the
servers: on 2 cores its own cost caps every column.

    .venv/bin/python bench/serve.py [--seconds 5] [--rounds 1] [--no-xgboost] [--no-wrk]

Where ``wrk`` is on the PATH, the logistic regression's cells are driven
again by wrk (one C thread, the same connections and bodies) in a second
table: a client that costs less than the asyncio one, so that the servers'
own costs show more.

Aims (issue 4): at concurrency 16 with 1-instance requests, 4 times MLflow's
throughput. Aims (issue 21): p99 at concurrency 16 within 2 times the bare
endpoint's; 100-instance requests at 0.9 of its throughput; c=1 p50 within
1.5 times; a routed request no more than 5% over a direct one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import model_factory

import mlnb
from mlnb.runtime.ports import free_port

BIN = Path(sys.executable).parent


def wait_ready(port: int, path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}")


async def one_connection(port: int, request: bytes, stop_at: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"bad answer: {head[:100]!r}")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


def drive(
    port: int, path: str, instances: list[list[float]], concurrency: int, seconds: float
) -> dict[str, float]:
    body = json.dumps({"instances": instances}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []

    async def run() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(one_connection(port, request, stop_at, latencies) for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rps": len(latencies) / elapsed,
        "ips": len(latencies) * len(instances) / elapsed,
    }


def drive_wrk(
    port: int, path: str, instances: list[list[float]], concurrency: int, seconds: float
) -> dict[str, float]:
    """``drive`` with wrk: one thread, ``concurrency`` keep-alive
    connections, the same body, for ``seconds``."""
    body = json.dumps({"instances": instances})
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{body}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,\n'
        "    latency:percentile(50), latency:percentile(99), summary.errors.status))\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds:g}s",
                "-s",
                file.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        os.unlink(file.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk said nothing usable: {done.stdout[-500:]} {done.stderr[-500:]}")
    requests, duration_us, p50_us, p99_us, bad = (int(x) for x in line.split()[1:])
    if bad:
        raise SystemExit(f"{bad} answers were not 2xx on {path}")
    return {
        "p50_ms": p50_us / 1000,
        "p99_ms": p99_us / 1000,
        "rps": requests / (duration_us / 1e6),
        "ips": requests * len(instances) / (duration_us / 1e6),
    }


def logistic_20(root: Path) -> tuple[Path, Path, list[list[float]]]:
    """The issue's model: a LogisticRegression on 20 features, as an MLflow
    folder (mlnb and MLflow serve it) and a pickle (the bare server's);
    and rows to send."""
    import pickle

    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 20))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    mlflow.sklearn.save_model(model, str(root / "mlflow"))
    (root / "model.pkl").write_bytes(pickle.dumps(model))
    return root / "mlflow", root / "model.pkl", features.round(4).tolist()


def registered(root: Path, models: dict[str, Path], folder: Path) -> Path:
    """An mlnb home with each model's v1 (``@champion`` naming the logistic
    regression's), and ``routed``: the logistic regression twice behind a
    50/50 split (what routing costs)."""
    home = root / "home"
    engine = mlnb.Engine(home=str(home))
    for name, model_folder in models.items():
        engine.create_model(name)
        engine.create_version(name, "v1", model_folder)
    engine.create_model("routed")
    engine.create_version("routed", "v1", folder)
    engine.create_version("routed", "v2", folder)
    engine.set_traffic_split("routed", {"v1": 50, "v2": 50})
    engine.set_alias("logistic20", "champion", "v1")
    engine.close()
    return home


Row = tuple[
    str, int, int, dict[str, float], dict[str, float] | None, dict[str, float], list[tuple[float, float]]
]


def measure(
    ports: dict[str, int],
    mlflow_ports: dict[str, int],
    rows_of: dict[str, list[list[float]]],
    seconds: float,
    driver: Any = drive,
    rounds: int = 1,
) -> list[Row]:
    """Each cell measured ``rounds`` times, the servers one after another
    in each round, each in turn first (what drifts on a shared machine
    over a run, its heat, the other processes, weighs on each alike). A
    cell's figures are the medians over its rounds, and its mlnb/bare
    ratios are taken within each round."""
    rows = []
    for name, port in mlflow_ports.items():
        for count in (1, 100):
            instances = (rows_of[name] * 2)[:count]
            for concurrency in (1, 16):
                targets = {
                    "mlnb": (ports["mlnb"], f"/v1/projects/default/models/{name}:predict"),
                    "mlflow": (port, "/invocations"),
                }
                if name == "logistic20":
                    targets["bare"] = (ports["bare"], "/predict")
                runs: dict[str, list[dict[str, float]]] = {server: [] for server in targets}
                for number in range(rounds):
                    for server in _in_turn(targets, number):
                        target_port, path = targets[server]
                        runs[server].append(driver(target_port, path, instances, concurrency, seconds))
                paired = zip(runs["mlnb"], runs["bare"], strict=True) if "bare" in runs else ()
                # Within each round: mlnb's throughput and p50 latency over bare's.
                ratios = [(a["rps"] / b["rps"], a["p50_ms"] / b["p50_ms"]) for a, b in paired]
                rows.append((
                    name, count, concurrency, _median(runs["mlnb"]),
                    _median(runs["bare"]) if "bare" in runs else None, _median(runs["mlflow"]), ratios,
                ))  # fmt: skip
    return rows


def _in_turn(labels: dict[str, Any], number: int) -> list[str]:
    """The order of round ``number``: each label first in its turn."""
    order = list(labels)
    turn = number % len(order)
    return order[turn:] + order[:turn]


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {figure: statistics.median(run[figure] for run in runs) for figure in runs[0]}


def asgi_costs(home: Path, pickled: Path, rows: list[list[float]], rounds: int, requests: int = 1000) -> None:
    """Each app's own work a request, called in this process without a
    socket or a client (what neither a network nor a load generator
    blurs): mlnb's routes with 1 instance, a version and the bare endpoint
    with 100 too, ``requests`` requests each a round, one at a time, each
    in turn first. The least
    of the rounds, as timeit gives: what the work costs when nothing else
    on the machine got in its way."""
    import pickle

    from bare_server import build_app

    from mlnb.server.app import create_app

    bodies = {count: json.dumps({"instances": (rows * 2)[:count]}).encode() for count in (1, 100)}

    async def call(app: Any, path: str, body: bytes) -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }  # fmt: skip
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise SystemExit(f"{path} answered {status}")

    async def per_request(app: Any, path: str, body: bytes) -> float:
        for _ in range(200):  # warm: caches, the batcher's costs
            await call(app, path, body)
        started = time.perf_counter()
        for _ in range(requests):
            await call(app, path, body)
        return (time.perf_counter() - started) / requests * 1e6

    async def run() -> dict[str, list[float]]:
        engine = mlnb.Engine(home=str(home))
        app = create_app(engine=engine, freeze_heap=True)  # as mlnb server's
        bare = build_app(pickle.loads(pickled.read_bytes()))  # noqa: S301 - the benchmark's own file
        base = "/v1/projects/default/models"
        version = f"{base}/logistic20/versions/v1:predict"
        targets = {
            "mlnb, a version": (app, version, 1),
            "mlnb, @champion": (app, f"{base}/logistic20/versions/@champion:predict", 1),
            "mlnb, the default": (app, f"{base}/logistic20:predict", 1),
            "mlnb, 50/50 split": (app, f"{base}/routed:predict", 1),
            "bare": (bare, "/predict", 1),
            "mlnb, 100 instances": (app, version, 100),
            "bare, 100 instances": (bare, "/predict", 100),
        }
        costs: dict[str, list[float]] = {label: [] for label in targets}
        try:
            async with app.router.lifespan_context(app):
                while not app.state.ready.is_set():
                    await asyncio.sleep(0.05)
                for number in range(rounds):
                    for label in _in_turn(targets, number):
                        target, path, count = targets[label]
                        costs[label].append(await per_request(target, path, bodies[count]))
        finally:
            engine.close()
        return costs

    costs = {label: min(figures) for label, figures in asyncio.run(run()).items()}
    print(f"\neach app's own work a request, in process (one at a time, least of {rounds} runs):")
    for label, cost in costs.items():
        hundred = label.endswith("100 instances")
        floor = costs["bare, 100 instances" if hundred else "bare"]
        of = "" if hundred else f", {cost / costs['mlnb, a version']:.3f} of a version's"
        print(f"  {label:>19}: {cost:5.0f} µs, {cost - floor:+4.0f} over bare{of}")


def measure_routing(
    port: int, one: list[list[float]], seconds: float, rounds: int, driver: Callable[..., dict[str, float]]
) -> None:
    """The same version asked directly, through an alias and behind a
    50/50 split, each route in turn first; each against the direct
    request of its round. ``driver`` is wrk where it is installed: at 16
    connections the asyncio client is the busier side of the two cores,
    and its own swings spread the ratios (0.88 to 0.99 for the alias,
    whose routing costs nothing measurable in process)."""
    base = "/v1/projects/default/models"
    routes = {
        "direct (v1)": f"{base}/logistic20/versions/v1:predict",
        "@champion": f"{base}/logistic20/versions/@champion:predict",
        "50/50 split": f"{base}/routed:predict",
    }
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in routes}
    for number in range(rounds):
        for label in _in_turn(routes, number):
            runs[label].append(driver(port, routes[label], one, 16, seconds))
    print(f"\nrouting (1 instance, concurrency 16, driven by {'wrk' if driver is drive_wrk else 'asyncio'}):")
    for label, figures in runs.items():
        paired = zip(figures, runs["direct (v1)"], strict=True)
        middle = _median(figures)
        print(
            f"  {label:>12}: {middle['rps']:.0f} requests/s, p99 {middle['p99_ms']:.2f} ms, "
            f"{_spread([run['rps'] / direct['rps'] for run, direct in paired])} of direct"
        )
    print("  (a split over two versions also halves what concurrent requests batch together)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-xgboost", action="store_true", help="Measure the logistic regression only.")
    parser.add_argument("--no-wrk", action="store_true", help="No second table driven by wrk.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Measure each cell this many times, the servers in turn first: medians, and the "
        "spread of the mlnb/bare ratio.",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlnb-bench-serve-"))
    processes: list[subprocess.Popen[bytes]] = []

    def start(command: list[str], env: dict[str, str] | None = None) -> int:
        port = free_port()
        flag = "-p" if command[0].endswith("mlflow") else "--port"
        out = subprocess.DEVNULL
        processes.append(subprocess.Popen([*command, flag, str(port)], env=env, stdout=out, stderr=out))
        return port

    try:
        folder, pickled, rows_20 = logistic_20(root / "logistic")
        models = {"logistic20": folder}
        rows_of = {"logistic20": rows_20, "routed": rows_20}
        if not args.no_xgboost:
            models["xgboost"] = model_factory.mlflow_xgboost_dir(root / "xgboost")[0]
            rows_of["xgboost"] = model_factory.iris()[0].tolist()
        home = registered(root, models, folder)
        ports = {
            "mlnb": start([str(BIN / "mlnb"), "server"], {**os.environ, "MLNB_HOME": str(home)}),
            "bare": start(
                [sys.executable, str(Path(__file__).with_name("bare_server.py")), "--model", str(pickled)]
            ),
        }
        # MLflow starts `uvicorn` through the shell: it must be on PATH.
        path_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        mlflow_ports = {
            name: start(
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(model_folder),
                    "-h",
                    "127.0.0.1",
                    "--env-manager",
                    "local",
                    "-w",
                    "1",
                ],
                path_env,
            )
            for name, model_folder in models.items()
        }
        wait_ready(ports["mlnb"], "/healthz")
        wait_ready(ports["bare"], "/ping")
        for name, port in mlflow_ports.items():  # the first request loads a model: not measured
            wait_ready(port, "/ping")
            drive(port, "/invocations", rows_of[name][:1], 1, 0.5)
        for name in [*models, "routed"]:
            drive(ports["mlnb"], f"/v1/projects/default/models/{name}:predict", rows_of[name][:1], 1, 0.5)
        drive(ports["bare"], "/predict", rows_20[:1], 1, 0.5)
        print_table(measure(ports, mlflow_ports, rows_of, args.seconds, rounds=args.rounds))
        with_wrk = bool(shutil.which("wrk")) and not args.no_wrk
        if with_wrk:
            print("\nthe logistic regression again, driven by wrk (1 thread):")
            logistic = {"logistic20": mlflow_ports["logistic20"]}
            print_table(measure(ports, logistic, rows_of, args.seconds, driver=drive_wrk, rounds=args.rounds))
        routing_driver = drive_wrk if with_wrk else drive
        measure_routing(ports["mlnb"], rows_20[:1], args.seconds, args.rounds, routing_driver)
        asgi_costs(home, pickled, rows_20, max(5, args.rounds))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)


def print_table(rows: list[Row]) -> None:
    header = ("model", "n", "conc", "mlnb p50", "mlnb p99", "mlnb rps", "bare p50", "bare p99", "bare rps",
              "mlflow p50", "mlflow p99", "mlflow rps", "mlnb/bare", "p50/bare", "mlnb/mlflow")  # fmt: skip
    lines = [header]
    for name, count, concurrency, ours, bare, theirs, ratios in rows:
        lines.append((
            name, str(count), str(concurrency),
            f"{ours['p50_ms']:.2f}", f"{ours['p99_ms']:.2f}", f"{ours['rps']:.0f}",
            *(_cells(bare) if bare else ("-",) * 3),
            f"{theirs['p50_ms']:.2f}", f"{theirs['p99_ms']:.2f}", f"{theirs['rps']:.0f}",
            _spread([rps for rps, _ in ratios]),
            _spread([p50 for _, p50 in ratios]),
            f"{ours['rps'] / theirs['rps']:.2f}",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    rounds = len(rows[0][6]) if rows and rows[0][6] else 1
    print(
        "\nlatencies in ms; one worker process each; mlnb: POST /v1/projects/default/models/M:predict, "
        "bare: bench/bare_server.py (Starlette, orjson, the model in the event loop), "
        "MLflow: POST /invocations; same client, same bodies."
        + (
            f" Medians of {rounds} rounds; mlnb/bare (throughput) and p50/bare (mlnb's p50 latency over"
            " bare's): the median of the rounds' ratios [lowest-highest]."
            if rounds > 1
            else ""
        )
    )


def _spread(ratios: list[float]) -> str:
    """The median ratio, and its range when there were several rounds."""
    if not ratios:
        return "-"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"


def _cells(figures: dict[str, float]) -> tuple[str, str, str]:
    return f"{figures['p50_ms']:.2f}", f"{figures['p99_ms']:.2f}", f"{figures['rps']:.0f}"


if __name__ == "__main__":
    main()
