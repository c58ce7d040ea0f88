"""Job overhead: how long mlnb adds around a trainer and a notebook.

For a training job with a cached trainer package it measures, from submit,
the time to the trainer's first line of output and to the job's SUCCEEDED,
against ``python -m MODULE`` run directly; for a notebook job, the time to
SUCCEEDED against plain ``papermill``. Medians over ``--runs`` runs.

    .venv/bin/python bench/job_overhead.py [--runs 5]

Aim (issue 3): under one second of overhead for a cached trainer package.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import notebook_factory, trainers

import mlnb
from mlnb.runtime.environments import prepare_environment
from mlnb.training import build_trainer_package

_POLL_S = 0.01


def direct_trainer(python: Path, cwd: Path) -> tuple[float, float]:
    """(first line, exit) of ``python -m trainer.task`` in the job's environment."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(python), "-m", "trainer.task", "--steps", "1"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        env={"TF_CONFIG": '{"task": {"type": "master", "index": 0}}', "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    process.stdout.readline()
    first = time.perf_counter() - started
    process.communicate()
    return first, time.perf_counter() - started


def mlnb_trainer(engine: mlnb.Engine, trainer: Path, job_id: str) -> tuple[float, float]:
    """(first trainer line, SUCCEEDED) of a training job, from submit."""
    started = time.perf_counter()
    engine.submit_training_job(
        job_id, package_path=trainer, module_name="trainer.task", args=["--steps", "1"]
    )
    first = None
    while True:
        if first is None and any(e.replica == "master-replica-0" for e in engine.job_logs(job_id)):
            first = time.perf_counter() - started
        job = engine.get_job(job_id)
        if job.ended:
            break
        time.sleep(_POLL_S)
    if job.state != "SUCCEEDED":
        raise SystemExit(f"{job_id} {job.state}: {job.error_message}")
    end = time.perf_counter() - started
    return (first if first is not None else end), end


def direct_papermill(source: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "papermill", str(source), str(out), "--no-progress-bar"],
                   check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def mlnb_notebook(engine: mlnb.Engine, source: Path, job_id: str) -> float:
    started = time.perf_counter()
    engine.submit_notebook_job(job_id, source)
    while not (job := engine.get_job(job_id)).ended:
        time.sleep(_POLL_S)
    if job.state != "SUCCEEDED":
        raise SystemExit(f"{job_id} {job.state}: {job.error_message}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = mlnb.Engine(home=str(root / "home"), job_heartbeat_s=0.2, job_host_idle_s=5.0)
        trainer = trainers.write_trainer(root / "src")
        python = prepare_environment(
            [build_trainer_package(trainer, engine.settings.paths.trainer_builds)],
            engine.settings.paths.trainer_envs,
        )
        source = notebook_factory.parameterised_notebook(root / "nb" / "bench.ipynb")
        mlnb_trainer(engine, trainer, "warm_up")  # the package is cached from here on
        rows: dict[str, list[float]] = {
            k: [] for k in ("d_first", "d_end", "m_first", "m_end", "d_nb", "m_nb")
        }
        for run in range(args.runs):
            first, end = direct_trainer(python, root)
            rows["d_first"].append(first)
            rows["d_end"].append(end)
            first, end = mlnb_trainer(engine, trainer, f"train_{run}")
            rows["m_first"].append(first)
            rows["m_end"].append(end)
            rows["d_nb"].append(direct_papermill(source, root / f"out_{run}.ipynb"))
            rows["m_nb"].append(mlnb_notebook(engine, source, f"nb_{run}"))
        engine.close()
    med = {k: statistics.median(v) for k, v in rows.items()}
    table = [
        ("training: first trainer line", med["d_first"], med["m_first"]),
        ("training: job ended", med["d_end"], med["m_end"]),
        ("notebook: job ended", med["d_nb"], med["m_nb"]),
    ]
    print(f"{'measure':<30} {'direct s':>9} {'mlnb s':>9} {'overhead s':>11} {'ratio':>7}")
    print(f"{'-' * 30} {'-' * 9} {'-' * 9} {'-' * 11} {'-' * 7}")
    for name, direct, through in table:
        print(f"{name:<30} {direct:9.3f} {through:9.3f} {through - direct:11.3f} {through / direct:7.2f}")
    print(f"\nmedians of {args.runs} runs; direct: python -m trainer.task in the job's environment, "
          "and plain papermill; mlnb: from submit, polling every 10 ms.")  # fmt: skip


if __name__ == "__main__":
    main()
