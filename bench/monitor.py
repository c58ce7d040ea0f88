"""Monitoring's costs: request sampling on the serving path, and drift over
a million logged instances.

1. The same LogisticRegression (20 features) served in-process by
   ``Engine.predict`` with the model's prediction logging off, at 1% and at
   100% sampling: predictions a second of one-instance requests, one
   thread, ``--seconds`` per cell, the three in turn, each round starting
   from the next (so that a loaded machine, or a late position, weighs on
   each alike), and each logging cell's ratio to no
   logging.
2. ``Engine.drift`` over 1,000,000 logged instances of 20 features
   (``--instances``; written into the store beforehand as 10,000 logged
   requests of 100 instances), against the version's baseline.

    .venv/bin/python bench/monitor.py [--seconds 3] [--instances 1000000]

Aims (issue 20): 1% sampling costs under 3% of the throughput; drift over
a million instances in under 10 s on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

import mlnb

FEATURES = 20
REQUEST_SIZE = 100


def throughput(engine: mlnb.Engine, model: str, rows: list[list[float]], seconds: float) -> float:
    count = 0
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < stop_at:
        engine.predict(model, [rows[count % len(rows)]])
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="Turns of the three sampling cells.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlnb-bench-monitor-"))
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(5000, FEATURES))
        y = (x[:, :3].sum(axis=1) > 0).astype(int)
        (root / "model").mkdir()
        joblib.dump(LogisticRegression().fit(x, y), root / "model" / "model.joblib")
        engine = mlnb.Engine(home=str(root / "home"))
        rates = {"off": None, "1%": 0.01, "100%": 1.0}
        for name, rate in rates.items():
            model = f"m{name.strip('%')}"
            engine.create_model(model, online_prediction_logging=rate is not None)
            config = {"samplingPercentage": rate} if rate is not None else None
            engine.create_version(model, "v1", root / "model", request_logging_config=config)
        rows = x[:1000].tolist()
        for name in rates:  # each model loaded before anything is timed
            engine.predict(f"m{name.strip('%')}", rows[:1])
        measured: dict[str, list[float]] = {name: [] for name in rates}
        names = list(rates)
        for round_ in range(args.rounds):
            # Each round starts from another cell: no cell always runs first or last.
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                measured[name].append(throughput(engine, f"m{name.strip('%')}", rows, args.seconds))
                # The log's pending entries written now, untimed: not in the next cell's time.
                engine.prediction_log(f"m{name.strip('%')}", limit=1)
        print(f"{'sampling':>9}  {'predictions/s':>13}  {'vs off':>7}")
        off = float(np.median(measured["off"]))
        for name, values in measured.items():
            value = float(np.median(values))
            print(f"{name:>9}  {value:13.0f}  {value / off:7.3f}")

        requests = args.instances // REQUEST_SIZE
        print(f"\nWriting {args.instances:,} logged instances ({requests:,} requests) ...", file=sys.stderr)
        engine.set_baseline("m100", x[:2000].tolist())
        logged = rng.normal(size=(args.instances, FEATURES))
        logged[:, 3] += 1.0  # one feature moved
        log = engine._serving._prediction_log  # the store filled as servers fill it
        for start in range(0, args.instances, REQUEST_SIZE):
            part = logged[start : start + REQUEST_SIZE]
            log.write("default", "m100", "v1", part.tolist(), [0] * len(part))
        log.close()
        started = time.perf_counter()
        answer = engine.drift("m100", last=requests)
        elapsed = time.perf_counter() - started
        print(f"\ndrift over {answer['rows']:,} instances of {FEATURES} features: {elapsed:.1f} s "
              f"(drifted: {', '.join(answer['drifted']) or 'none'})")  # fmt: skip
        engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
