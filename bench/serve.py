"""Online serving throughput and latency: mlnb's REST server against MLflow's
scoring server, side by side on the same models.

Both serve the same MLflow model folders (a scikit-learn logistic regression
and an XGBoost classifier), one worker process each, on 127.0.0.1. A bounded
asyncio load generator (keep-alive connections, ``--seconds`` per cell, no
more) sends ``{"instances": [...]}`` requests of 1 and of 100 instances at
concurrency 1 and 16, and the table gives p50 and p99 latency, requests and
instances per second, and mlnb's ratio to MLflow.

    .venv/bin/python bench/serve.py [--seconds 5]

Aims (issue 4): at concurrency 16 with 1-instance requests, 4 times MLflow's
throughput; at concurrency 1, a p50 under 2 ms for the logistic regression.
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
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlnb-bench-serve-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        models = {
            "sklearn": model_factory.mlflow_sklearn_dir(root / "sklearn")[0],
            "xgboost": model_factory.mlflow_xgboost_dir(root / "xgboost")[0],
        }
        home = root / "home"
        engine = mlnb.Engine(home=str(home))
        for name, folder in models.items():
            engine.create_model(name)
            engine.create_version(name, "v1", folder)
        engine.close()
        env = {**os.environ, "MLNB_HOME": str(home)}
        mlnb_port = free_port()
        processes.append(subprocess.Popen([str(BIN / "mlnb"), "server", "--port", str(mlnb_port)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        wait_ready(mlnb_port, "/healthz")
        mlflow_ports = {}
        for name, folder in models.items():
            port = free_port()
            command = [str(BIN / "mlflow"), "models", "serve", "-m", str(folder), "-p", str(port),
                       "-h", "127.0.0.1", "--env-manager", "local", "-w", "1"]  # fmt: skip
            # MLflow starts `uvicorn` through the shell: it must be on PATH.
            path_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
            processes.append(
                subprocess.Popen(command, env=path_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            mlflow_ports[name] = port
        for port in mlflow_ports.values():
            wait_ready(port, "/ping")
        features = model_factory.iris()[0].tolist()
        for name in models:  # the first request loads the model: not measured
            drive(mlnb_port, f"/v1/projects/default/models/{name}:predict", features[:1], 1, 0.5)
            drive(mlflow_ports[name], "/invocations", features[:1], 1, 0.5)
        rows = []
        for name in models:
            for count in (1, 100):
                instances = (features * 2)[:count]
                for concurrency in (1, 16):
                    path = f"/v1/projects/default/models/{name}:predict"
                    ours = drive(mlnb_port, path, instances, concurrency, args.seconds)
                    theirs = drive(mlflow_ports[name], "/invocations", instances, concurrency, args.seconds)
                    rows.append((name, count, concurrency, ours, theirs))
        print_table(rows)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)


def print_table(rows: list[tuple[str, int, int, dict[str, float], dict[str, float]]]) -> None:
    header = ("model", "n", "conc", "mlnb p50", "mlnb p99", "mlnb rps", "mlnb inst/s",
              "mlflow p50", "mlflow p99", "mlflow rps", "rps ratio")  # fmt: skip
    lines = [header]
    for name, count, concurrency, ours, theirs in rows:
        lines.append((
            name, str(count), str(concurrency),
            f"{ours['p50_ms']:.2f}", f"{ours['p99_ms']:.2f}", f"{ours['rps']:.0f}", f"{ours['ips']:.0f}",
            f"{theirs['p50_ms']:.2f}", f"{theirs['p99_ms']:.2f}", f"{theirs['rps']:.0f}",
            f"{ours['rps'] / theirs['rps']:.2f}",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    print(
        "\nlatencies in ms; one worker process each; mlnb: POST /v1/projects/default/models/M:predict, "
        "MLflow: POST /invocations; same client, same bodies."
    )


if __name__ == "__main__":
    main()
