"""Batch prediction throughput and peak memory: mlnb's batch prediction job
with 1 and 2 workers, against the single-process limit and MLflow's batch
path, on the same scikit-learn model and the same instances.

The input is ``--instances`` JSON lines of 20 numbers each (default one
million). Every figure is wall time from start to results written, in
processes of their own (imports and model loading included for all):

- limit: one process reads the JSON lines with orjson in chunks, predicts
  each chunk, and writes JSON lines (the fastest single process measured
  here); ``pandas``: the same with ``pandas.read_json(lines=True)``;
- mlnb: ``Engine.submit_prediction_job`` to SUCCEEDED, on a job host that
  is already running; peak memory is the largest worker's;
- MLflow: ``mlflow models predict`` (local env manager) on a CSV copy of the
  same data, as its batch path does not read JSON lines.

    .venv/bin/python bench/batch.py [--instances 1000000]

Aims (issue 5): mlnb with one worker at 80 % or more of the limit, with two
workers at 1.4 times the limit or more, peak memory under 500 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent


def write_inputs(root: Path, count: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    jsonl, csv = root / "instances.jsonl", root / "instances.csv"
    with jsonl.open("w") as j, csv.open("w") as c:
        c.write(",".join(f"f{i}" for i in range(20)) + "\n")
        for start in range(0, count, 100_000):
            block = np.round(rng.normal(size=(min(100_000, count - start), 20)), 4)
            j.write("\n".join("[" + ",".join(map(str, row)) + "]" for row in block.tolist()) + "\n")
            c.write("\n".join(",".join(map(str, row)) for row in block.tolist()) + "\n")
    return jsonl, csv


def train(root: Path) -> tuple[Path, Path]:
    """The same logistic regression as a joblib folder and an MLflow folder."""
    import joblib
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    features = pd.DataFrame(rng.normal(size=(2000, 20)), columns=[f"f{i}" for i in range(20)])
    labels = (features.sum(axis=1) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(features.to_numpy(), labels)
    plain = root / "model"
    plain.mkdir()
    joblib.dump(model, plain / "model.joblib")
    mlflow.sklearn.save_model(model, str(root / "mlflow-model"))
    return plain, root / "mlflow-model"


LIMIT = """
import sys, orjson, joblib, numpy as np
model = joblib.load(sys.argv[1] + "/model.joblib")
with open(sys.argv[2], "rb") as src, open(sys.argv[3], "wb") as out:
    while True:
        lines = src.readlines(8 << 20)
        if not lines:
            break
        rows = np.asarray(orjson.loads(b"[" + b",".join(lines) + b"]"))
        out.write(b"\\n".join(orjson.dumps({"prediction": p}) for p in model.predict(rows).tolist()) + b"\\n")
"""

PANDAS = """
import sys, orjson, joblib, pandas as pd
model = joblib.load(sys.argv[1] + "/model.joblib")
with open(sys.argv[3], "wb") as out:
    for frame in pd.read_json(sys.argv[2], lines=True, chunksize=100_000):
        rows = frame.to_numpy()
        out.write(b"\\n".join(orjson.dumps({"prediction": p}) for p in model.predict(rows).tolist()) + b"\\n")
"""


def run_measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of a command and its children."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(
            f"{command[:3]} failed: {process.stderr.read().decode()[-2000:] if process.stderr else ''}"
        )
    return seconds, usage.ru_maxrss / 1024


def run_mlnb(engine: object, plain: Path, jsonl: Path, root: Path, workers: int) -> tuple[float, float]:
    from mlnb.api import Engine

    assert isinstance(engine, Engine)
    job_id = f"bench_{workers}_{int(time.time() * 1000)}"
    started = time.perf_counter()
    engine.submit_prediction_job(
        job_id,
        model_dir=plain,
        input_paths=[jsonl],
        output_path=root / job_id,
        data_format="JSON",
        max_worker_count=workers,
    )
    job = engine.wait_job(job_id, timeout=3600)
    seconds = time.perf_counter() - started
    if job.state != "SUCCEEDED":
        raise SystemExit(f"mlnb job {job_id} {job.state}: {job.error_message}")
    peaks = [
        float(m.group(1))
        for e in engine.job_logs(job_id)
        if (m := re.search(r"peak memory (\d+) MB", e.message))
    ]
    return seconds, max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--skip-mlflow", action="store_true", help="Leave MLflow's row out.")
    args = parser.parse_args()

    from mlnb.api import Engine

    with tempfile.TemporaryDirectory(prefix="mlnb-bench-batch-") as tmp:
        root = Path(tmp)
        jsonl, csv = write_inputs(root, args.instances)
        plain, mlflow_model = train(root)
        engine = Engine(home=str(root / "home"), job_host_idle_s=600)
        # A first small job starts the job host, as a busy machine has it.
        warm = root / "warm.jsonl"
        warm.write_text("[" + ",".join(["0.1"] * 20) + "]\n")
        engine.submit_prediction_job(
            "warm", model_dir=plain, input_paths=[warm], output_path=root / "warm-out", data_format="JSON"
        )
        engine.wait_job("warm", timeout=600)

        python = sys.executable
        rows: list[tuple[str, float, float]] = []
        script = root / "limit.py"
        script.write_text(textwrap.dedent(LIMIT))
        rows.append(
            (
                "limit (orjson, chunked)",
                *run_measured([python, str(script), str(plain), str(jsonl), str(root / "limit.out")]),
            )
        )
        script = root / "pandas_path.py"
        script.write_text(textwrap.dedent(PANDAS))
        rows.append(
            (
                "pandas read_json",
                *run_measured([python, str(script), str(plain), str(jsonl), str(root / "pandas.out")]),
            )
        )
        for workers in (1, 2):
            rows.append(
                (
                    f"mlnb, {workers} worker{'s' if workers > 1 else ''}",
                    *run_mlnb(engine, plain, jsonl, root, workers),
                )
            )
        if not args.skip_mlflow:
            command = [str(BIN / "mlflow"), "models", "predict", "-m", str(mlflow_model), "-i", str(csv),
                       "-t", "csv", "-o", str(root / "mlflow.out"), "--env-manager", "local"]  # fmt: skip
            rows.append(("MLflow models predict (CSV)", *run_measured(command)))
        engine.close()

    limit = args.instances / rows[0][1]
    cores = os.cpu_count()
    print(f"\n{args.instances:,} instances of 20 numbers, scikit-learn LogisticRegression, {cores} cores\n")
    print(f"| {'path':<28} | {'seconds':>8} | {'instances/s':>12} | {'vs limit':>8} | {'peak MB':>8} |")
    print(f"| {'-' * 28} | {'-' * 8} | {'-' * 12} | {'-' * 8} | {'-' * 8} |")
    for name, seconds, peak in rows:
        rate = args.instances / seconds
        print(f"| {name:<28} | {seconds:8.2f} | {rate:12,.0f} | {rate / limit:8.2f} | {peak:8.0f} |")


if __name__ == "__main__":
    main()
