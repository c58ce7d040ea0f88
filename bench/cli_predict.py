"""``mlnb predict`` of one instance from a shell, end to end (a fresh
process each time): alone, where the process loads the model itself, and
with the home's background server running (``Engine.start_server()``, as
``%ml server start`` and the sidebar start it), which
predicts with its model warm. Medians over ``--runs`` runs.

    .venv/bin/python bench/cli_predict.py [--runs 5]

Aim: under 0.5 s with the server running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import model_factory

from mlnb.api import Engine
from mlnb.runtime.ports import free_port

MLNB = str(Path(sys.executable).with_name("mlnb"))


def timed_predicts(home: Path, instances: Path, runs: int) -> float:
    """The median seconds of ``mlnb predict`` in a fresh process."""
    env = {**os.environ, "MLNB_HOME": str(home)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [MLNB, "predict", "--model", "iris", "--json-instances", str(instances)],
            env=env,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each row (default 5)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-cli-") as folder:
        root = Path(folder)
        home = root / "home"
        engine = Engine(home=str(home))
        origin, _ = model_factory.sklearn_pipeline_dir(root / "model")
        engine.deploy("iris", "v1", origin)
        instances = root / "instances.json"
        instances.write_text("[5.1, 3.5, 1.4, 0.2]\n")
        alone = timed_predicts(home, instances, options.runs)
        engine.start_server(port=free_port())
        try:
            timed_predicts(home, instances, 1)  # the server loads the model once
            served = timed_predicts(home, instances, options.runs)
        finally:
            engine.stop_server()
            engine.close()
    print("| path | median seconds | vs alone |")
    print("| --- | --- | --- |")
    print(f"| `mlnb predict`, no server: the process loads the model | {alone:.2f} | 1.00 |")
    print(f"| `mlnb predict`, the home's server running | {served:.2f} | {served / alone:.2f} |")


if __name__ == "__main__":
    main()
