"""Start-up a user feels: ``mlnb models list`` in a fresh process,
``%load_ext mlnb`` in a fresh IPython, and a small batch prediction job
(150 rows, a scikit-learn pipeline) from submit to SUCCEEDED, with the
worker's own "Model loaded in" figure, warm (workers forked from the job
host's warm parent, the default) and cold (``warm_imports = "none"``: a
fresh interpreter per worker). Medians over ``--runs`` runs; each batch
row runs on a job host that is already up.

    .venv/bin/python bench/startup.py [--runs 5]

Aims (issue 18): ``mlnb models list`` and ``%load_ext mlnb`` under 1 s; a
small scikit-learn model loaded by a batch worker in under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import model_factory

from mlnb.api import Engine

MLNB = str(Path(sys.executable).with_name("mlnb"))
LOAD_EXT = (
    "from IPython.testing.globalipapp import start_ipython\n"
    "start_ipython().run_line_magic('load_ext', 'mlnb')\n"
)


def median_seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def batch_jobs(root: Path, origin: Path, warm_imports: str, runs: int) -> tuple[float, float]:
    """Median seconds from submit to SUCCEEDED, and of the worker's load."""
    engine = Engine(home=str(root / f"home-{warm_imports}"), warm_imports=warm_imports)
    try:
        engine.deploy("iris", "v1", origin)
        source = root / "rows.jsonl"
        source.write_text("\n".join(json.dumps([5.1, 3.5, 1.4, 0.2]) for _ in range(150)) + "\n")
        walls, loads = [], []
        for run in range(runs + 1):  # the first run starts the job host
            name = f"small_{warm_imports.replace(',', '_').replace('.', '_')}_{run}"
            started = time.perf_counter()
            engine.submit_prediction_job(
                name, model="iris", input_paths=[source], output_path=root / name, data_format="JSON"
            )
            job = engine.wait_job(name, timeout=300)
            wall = time.perf_counter() - started
            if job.state != "SUCCEEDED":
                raise SystemExit(f"{name} ended {job.state}: {job.error_message}")
            load = _load_seconds(engine, name)
            if run:
                walls.append(wall)
                loads.append(load)
        return statistics.median(walls), statistics.median(loads)
    finally:
        engine.close()


def _load_seconds(engine: Engine, job: str) -> float:
    deadline = time.monotonic() + 30  # log lines reach the store in batches
    while time.monotonic() < deadline:
        for entry in engine.job_logs(job):
            found = re.match(r"Model loaded in ([\d.]+) s", entry.message)
            if found:
                return float(found.group(1))
        time.sleep(0.1)
    raise SystemExit(f"no load line in the log of {job}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each row (default 5)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlnb-bench-startup-") as folder:
        root = Path(folder)
        env = {**os.environ, "MLNB_HOME": str(root / "cli-home")}
        listing = median_seconds([MLNB, "models", "list"], env, options.runs)
        load_ext = median_seconds([sys.executable, "-c", LOAD_EXT], env, options.runs)
        origin, _ = model_factory.sklearn_pipeline_dir(root / "model")
        warm_wall, warm_load = batch_jobs(root, origin, "sklearn.pipeline,xgboost", options.runs)
        cold_wall, cold_load = batch_jobs(root, origin, "none", options.runs)
    print("| what | median seconds |")
    print("| --- | --- |")
    print(f"| `mlnb models list`, fresh process | {listing:.2f} |")
    print(f"| `%load_ext mlnb`, fresh IPython (start-up included) | {load_ext:.2f} |")
    print(f"| batch job of 150 rows, submit to SUCCEEDED, warm workers | {warm_wall:.2f} |")
    print(f"| its worker's model load, warm | {warm_load:.2f} |")
    print(f"| batch job of 150 rows, submit to SUCCEEDED, cold workers | {cold_wall:.2f} |")
    print(f"| its worker's model load, cold | {cold_load:.2f} |")


if __name__ == "__main__":
    main()
