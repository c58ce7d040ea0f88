"""Served explanations against calling ``shap`` in process, on the same
models and instances.

Three models of 20 features: an XGBoost classifier (100 trees, depth 6;
mlnb serves exact TreeSHAP from XGBoost's ``pred_contribs``, shap's
``TreeExplainer`` in process), a scikit-learn pipeline (scaler and
logistic regression; mlnb serves sampled Shapley with 10 paths against a
zero baseline, shap's ``PermutationExplainer`` in process with 10
permutations against the same baseline) and a small Keras network (mlnb
serves integrated gradients with 50 steps, shap's ``GradientExplainer``
in process with 50 samples: expected gradients, the nearest method shap
has). mlnb answers over HTTP on 127.0.0.1 (``mlnb server``, one
process); one request at a time, alternating with the in-process call,
``--seconds`` per cell, at least 3 requests.

    .venv/bin/python bench/explain.py [--seconds 3]

The table gives p50 latency and instances explained a second for 1 and
100 instances a request, mlnb's model calls a request, ``Engine.explain``'s
p50 in this process (the served figure less HTTP and JSON), and the ratio
of the served p50 to shap's. Aim (issue 19): served TreeSHAP within 1.5 times the
in-process call for 100 instances; sampled Shapley in a bounded number of
model calls a request, not one a permutation step.
"""

from __future__ import annotations

import argparse
import http.client
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

import numpy as np
import orjson

import mlnb
from mlnb.runtime.ports import free_port

BIN = Path(sys.executable).parent
FEATURES = 20
PAUSE_S = 0.02


def wait_ready(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}")


def timed_in_turn(calls: list[Callable[[], Any]], seconds: float) -> tuple[list[list[float]], Any]:
    """Latencies of each of ``calls``, called in turn for ``seconds`` (at
    least 3 times each, not counting a pause before each), so that whatever else the machine does weighs on
    all alike; and the first call's last result."""
    latencies: list[list[float]] = [[] for _ in calls]
    result = None
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at or len(latencies[0]) < 3:
        for index, call in enumerate(calls):
            # A pause between calls: OpenMP's threads (XGBoost's, BLAS's) spin
            # for a while after their work, on the cores the next call needs.
            time.sleep(PAUSE_S)
            started = time.perf_counter()
            value = call()
            latencies[index].append(time.perf_counter() - started)
            result = value if index == 0 else result
    return latencies, result


Case = tuple[Path, Callable[[np.ndarray], Any]]


def xgboost_case(root: Path, x: np.ndarray, y: np.ndarray) -> Case:
    import shap
    import xgboost as xgb

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6}, xgb.DMatrix(x, label=y), num_boost_round=100
    )
    root.mkdir(parents=True)
    booster.save_model(str(root / "model.json"))
    trees = shap.TreeExplainer(booster)
    return root, trees.shap_values


def pipeline_case(root: Path, x: np.ndarray, y: np.ndarray) -> Case:
    import joblib
    import shap
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    root.mkdir(parents=True)
    joblib.dump(pipeline, root / "model.joblib")
    permutation = shap.explainers.Permutation(pipeline.predict_proba, np.zeros((1, FEATURES)))
    evals = 10 * (2 * FEATURES + 1)  # 10 permutations, as mlnb's 10 paths
    return root, lambda rows: permutation(rows, max_evals=evals, silent=True)


def keras_case(root: Path, x: np.ndarray, y: np.ndarray) -> Case:
    import keras
    import shap

    keras.utils.set_random_seed(0)
    network = keras.Sequential(
        [
            keras.Input(shape=(FEATURES,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    network.fit(x, y, epochs=2, verbose=0)
    root.mkdir(parents=True)
    network.save(root / "model.keras")
    gradients = shap.GradientExplainer(network, np.zeros((1, FEATURES), dtype="float32"))
    return root, lambda rows: gradients.shap_values(rows.astype("float32"), nsamples=50)


CASES = {
    "xgboost": ("xgboost TreeSHAP", xgboost_case),
    "pipeline": ("pipeline sampled Shapley", pipeline_case),
    "keras": ("keras integrated gradients", keras_case),
}


def models(root: Path, chosen: list[str]) -> dict[str, Case]:
    """Each chosen model's folder and shap's in-process explanation of it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, FEATURES))
    y = (x[:, :5].sum(axis=1) + 0.5 * x[:, 5] * x[:, 6] > 0).astype(int)
    return {CASES[name][0]: CASES[name][1](root / name, x, y) for name in chosen}


class Served:
    """``mlnb server`` in a process of its own over ``home``, explaining over HTTP."""

    def __init__(self, home: Path) -> None:
        port = free_port()
        env = {**os.environ, "MLNB_HOME": str(home)}
        self.process = subprocess.Popen([str(BIN / "mlnb"), "server", "--port", str(port)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_ready(port)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def explain(self, model: str, body: bytes) -> dict[str, Any]:
        """One explain request of ``body`` (encoded once, outside the timing)."""
        path = f"/v1/projects/default/models/{model}:explain"
        try:
            self.connection.request("POST", path, body=body)
        except (BrokenPipeError, ConnectionResetError):  # a keep-alive the server closed: once more
            self.connection.close()
            self.connection.request("POST", path, body=body)
        response = self.connection.getresponse()
        answer = orjson.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"{model}: {response.status} {answer}")
        return answer  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def deploy(home: Path, cases: dict[str, Case]) -> dict[str, str]:
    """Each case's model, deployed into ``home``: the model names."""
    engine = mlnb.Engine(home=str(home))
    names = {}
    for index, (case, (folder, _)) in enumerate(cases.items()):
        names[case] = f"m{index}"
        engine.create_model(names[case])
        record = engine.create_version(names[case], "v1", folder)
        if record.error_message:
            raise SystemExit(f"{case}: {record.error_message}")
    engine.close()
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--models",
        default="xgboost,pipeline,keras",
        help="Which of xgboost, pipeline, keras to measure (comma-separated).",
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.models.split(",")]
    unknown = sorted(set(chosen) - set(CASES))
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    root = Path(tempfile.mkdtemp(prefix="mlnb-bench-explain-"))
    server: Served | None = None
    try:
        print("Training the models ...", file=sys.stderr)
        cases = models(root / "models", chosen)
        names = deploy(root / "home", cases)
        server = Served(root / "home")
        rows = np.random.default_rng(1).normal(size=(100, FEATURES))
        # Every model loaded on both sides before anything is measured (the
        # server loads TensorFlow for the Keras model: seconds of CPU).
        lists = {count: rows[:count].tolist() for count in (1, 100)}
        bodies = {count: orjson.dumps({"instances": lists[count]}) for count in (1, 100)}
        engine = mlnb.Engine(home=str(root / "home"))
        for case, (_, in_process) in cases.items():
            server.explain(names[case], bodies[1])
            engine.explain(names[case], rows[:1].tolist())
            in_process(rows[:1])
        table = []
        for case, (_, in_process) in cases.items():
            print(f"Measuring {case} ...", file=sys.stderr)
            for count in (1, 100):
                (ours, local, theirs), answer = timed_in_turn(
                    [
                        lambda b=bodies[count], m=names[case]: server.explain(m, b),  # type: ignore[union-attr]
                        lambda b=lists[count], m=names[case]: engine.explain(m, b),
                        lambda b=rows[:count], f=in_process: f(b),
                    ],
                    args.seconds,
                )
                table.append((case, count, ours, local, theirs, answer))
        engine.close()
        print_table(table)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def print_table(rows: list[tuple[str, int, list[float], list[float], list[float], dict[str, Any]]]) -> None:
    header = ("model and method", "n", "served p50 ms", "served inst/s", "model calls",
              "Engine p50 ms", "shap p50 ms", "shap inst/s", "served/shap")  # fmt: skip
    lines = [header]
    for case, count, ours, local, theirs, answer in rows:
        ours_p50, theirs_p50 = statistics.median(ours), statistics.median(theirs)
        lines.append((
            case, str(count), f"{ours_p50 * 1000:.1f}", f"{count / ours_p50:.0f}", str(answer["modelCalls"]),
            f"{statistics.median(local) * 1000:.1f}",
            f"{theirs_p50 * 1000:.1f}", f"{count / theirs_p50:.0f}", f"{ours_p50 / theirs_p50:.2f}",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    print(
        "\nserved: over HTTP to one `mlnb server` process, one request at a time; Engine: "
        "Engine.explain in this process; shap: in this process.\nmlnb's sampled Shapley and shap's "
        "permutation explainer sample 10 orders each; integrated gradients (mlnb) and expected "
        "gradients (shap) differ in method."
    )


if __name__ == "__main__":
    main()
