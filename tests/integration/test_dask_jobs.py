"""Jobs on a real Dask cluster: a scheduler and two workers started on
127.0.0.1 as processes; a two-replica training job, a notebook job and a
cancellation run on them with the same states and logs as local jobs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import notebook_factory, trainers

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.runtime.ports import free_port
from mlnb.runtime.processes import process_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def dask_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cluster's folder: the workers' directories, and a log per process."""
    return tmp_path_factory.mktemp("dask")


@pytest.fixture(scope="module")
def dask_scheduler(dask_folder: Path) -> Iterator[str]:
    folder = dask_folder
    dask = str(Path(sys.executable).parent / "dask")
    port = str(free_port())
    address = f"tcp://127.0.0.1:{port}"
    commands = {
        "scheduler": [dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        **{
            name: [
                dask,
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "2",
                "--no-dashboard",
                "--name",
                name,
                "--local-directory",
                str(folder / name),
            ]
            for name in ("w1", "w2")
        },
    }
    from distributed import Client

    with contextlib.ExitStack() as stack:
        processes = []
        for name, command in commands.items():
            log = stack.enter_context(open(folder / f"{name}.log", "wb"))
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        try:
            with Client(address, timeout=30) as client:
                client.wait_for_workers(2, timeout=60)
            yield address
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def engine(home: Path, dask_scheduler: str) -> Iterator[Engine]:
    settings = Settings.resolve(
        env={},
        home=str(home),
        dask_scheduler=dask_scheduler,
        job_heartbeat_s=0.3,
        cancel_grace_s=1.0,
        job_host_idle_s=3.0,
    )
    engine = Engine(settings)
    yield engine
    engine.close()


def test_a_two_replica_job_runs_on_two_workers(engine: Engine, tmp_path: Path, dask_folder: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    spec = {"scaleTier": "CUSTOM", "masterType": "a", "workerType": "b", "workerCount": 1}
    engine.submit_training_job(
        # Quiet for a second between steps: the host waits for log lines.
        "dask_train",
        spec,
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "3", "--sleep", "1"],
    )
    job = engine.wait_job("dask_train", timeout=180)
    assert job.state == "SUCCEEDED", job.error_message
    entries = list(engine.job_logs("dask_train"))
    started = [e.message for e in entries if "started on tcp://" in e.message]
    assert len(started) == 2
    hosts = {m.split(" started on ")[1].split(" ")[0] for m in started}
    assert len(hosts) == 2  # one replica on each worker
    steps = [(e.replica, e.message) for e in entries if e.message.startswith("step")]
    assert ("master-replica-0", "step 2") in steps and ("worker-replica-0", "step 2") in steps
    # The rendezvous and the log reader wait without failing calls on the
    # scheduler, which would log each one as an ERROR in the team's cluster.
    log = (dask_folder / "scheduler.log").read_text()
    assert "Exception while handling op" not in log, log[-3000:]


def test_the_scheduler_spreads_single_replica_jobs_and_each_runs_once_placed(
    engine: Engine, tmp_path: Path
) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    names = [f"dask_spread_{n}" for n in range(6)]
    for name in names:
        engine.submit_training_job(
            name, package_path=trainer, module_name="trainer.task", args=["--steps", "20", "--sleep", "0.1"]
        )
    jobs = [engine.wait_job(name, timeout=300) for name in names]
    assert [job.state for job in jobs] == ["SUCCEEDED"] * 6, [job.error_message for job in jobs]
    workers = set()
    for name in names:
        messages = [e.message for e in engine.job_logs(name)]
        workers |= {m.split(" started on ")[1].split(" ")[0] for m in messages if " started on tcp://" in m}
        # RUNNING once the replica runs: its address is published first.
        placed = next(i for i, m in enumerate(messages) if m.startswith("Every replica is placed"))
        assert placed < messages.index("Job is running")
        tf_config = next(json.loads(m[4:])["tf_config"] for m in messages if m.startswith("ENV "))
        assert "rendezvous" not in json.dumps(tf_config["cluster"])
    assert len(workers) == 2  # none was pinned to the first worker


def test_a_projects_cap_on_cluster_jobs_holds_the_rest_back(engine: Engine, tmp_path: Path) -> None:
    capped = Engine(engine.settings.replace(cluster_max_jobs=1))
    trainer = trainers.write_trainer(tmp_path / "src")
    for name in ("capped_1", "capped_2"):
        capped.submit_training_job(
            name, package_path=trainer, module_name="trainer.task", args=["--steps", "10", "--sleep", "0.1"]
        )
    first, second = (capped.wait_job(name, timeout=300) for name in ("capped_1", "capped_2"))
    assert first.state == second.state == "SUCCEEDED", (first.error_message, second.error_message)
    assert first.cluster == second.cluster == engine.settings.dask_scheduler  # recorded where they ran
    assert first.end_time <= second.start_time  # type: ignore[operator]
    waited = [e.message for e in capped.job_logs("capped_2") if e.message.startswith("Waiting for a slot")]
    assert waited == ["Waiting for a slot: at most 1 jobs of project default run on the cluster at once"]
    capped.close()


def test_a_failing_replica_on_a_cluster_named_per_job_fails_the_job(
    home: Path, dask_scheduler: str, tmp_path: Path
) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    engine = Engine(Settings.resolve(env={}, home=str(home), job_heartbeat_s=0.3, job_host_idle_s=3.0))
    engine.submit_training_job(
        "dask_fail",
        package_path=trainer,
        module_name="trainer.task",
        args=["--exit", "7"],
        cluster=dask_scheduler,
    )
    job = engine.wait_job("dask_fail", timeout=180)
    assert any("Running on the Dask cluster" in e.message for e in engine.job_logs("dask_fail"))
    assert job.cluster == dask_scheduler
    assert job.state == "FAILED"
    assert "master-replica-0 exited with a non-zero status of 7" in (job.error_message or "")
    assert "something went wrong" in (job.error_message or "")
    assert "step 1" in (job.error_message or "")  # stdout's last lines too


def test_a_notebook_job_runs_on_dask(engine: Engine, tmp_path: Path) -> None:
    source = notebook_factory.parameterised_notebook(tmp_path / "nb" / "report.ipynb")
    engine.submit_notebook_job("dask_nb", source, parameters={"divisor": 8})
    job = engine.wait_job("dask_nb", timeout=180)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.progress == {"done": 4, "total": 4, "unit": "cells"}
    assert Path(job.notebook_input["outputNotebook"]).exists()  # type: ignore[index]
    assert any("value 1.25" in e.message for e in engine.job_logs("dask_nb"))


def test_cancel_on_dask_stops_the_replicas(engine: Engine, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    engine.submit_training_job(
        "dask_cancel",
        {"scaleTier": "STANDARD_1"},
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "900", "--sleep", "0.1", "--ignore-sigterm"],
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(e.message.startswith("step") for e in engine.job_logs("dask_cancel")) >= 4:
            break
        time.sleep(0.2)
    engine.cancel_job("dask_cancel")
    job = engine.wait_job("dask_cancel", timeout=120)
    assert job.state == "CANCELLED"
    count = len(list(engine.job_logs("dask_cancel")))
    time.sleep(1.0)
    assert len(list(engine.job_logs("dask_cancel"))) == count  # nothing runs any more


def test_the_tasks_of_a_killed_job_host_stop_their_trainers(engine: Engine, tmp_path: Path) -> None:
    trainer = trainers.write_trainer(tmp_path / "src")
    engine.submit_training_job(
        "dask_orphan",
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "3000", "--sleep", "0.1", "--ignore-sigterm"],
    )
    deadline = time.monotonic() + 120
    while not (pids := _replica_pids(engine, "dask_orphan")):
        assert time.monotonic() < deadline, "timed out waiting for the trainer to start on a worker"
        time.sleep(0.2)
    host = engine.get_job("dask_orphan").runner_pid
    assert host is not None

    os.kill(host, signal.SIGKILL)

    # The scheduler lets the dead client's tasks go; each task sees that and
    # stops its trainer (SIGTERM, ignored here, then SIGKILL after the grace).
    deadline = time.monotonic() + 60
    while any(process_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "the trainer on the Dask worker outlived its job host"
        time.sleep(0.2)
    job = engine.wait_job("dask_orphan", timeout=60)
    assert job.state == "FAILED" and "The job host process" in (job.error_message or "")


def _replica_pids(engine: Engine, job_id: str) -> list[int]:
    return [
        int(json.loads(e.message[4:])["pid"]) for e in engine.job_logs(job_id) if e.message.startswith("ENV ")
    ]


def test_a_batch_prediction_job_runs_on_two_workers(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_model[0])
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] * 10
    for n in range(4):
        (inputs / f"part-{n}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    engine.submit_prediction_job(
        "dask_batch",
        model="iris",
        input_paths=[str(inputs / "*.jsonl")],
        output_path=tmp_path / "out",
        data_format="JSON",
        max_worker_count=2,
    )
    job = engine.wait_job("dask_batch", timeout=180)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.prediction_output is not None and job.prediction_output["predictionCount"] == "80"
    logs = list(engine.job_logs("dask_batch"))
    # Each worker replica ran as a task on its own Dask worker.
    started = [e.message for e in logs if "started on tcp://" in e.message]
    assert len({m.split(" started on ")[1].split(" ")[0] for m in started}) == 2, started
    done = [e for e in logs if e.message.startswith("Shard ")]
    assert {e.replica for e in done} == {"worker-replica-0", "worker-replica-1"} and len(done) == 4


def test_a_tuning_job_runs_its_trials_on_the_cluster(engine: Engine, tmp_path: Path) -> None:
    trainer = trainers.write_tuned_trainer(tmp_path / "src")
    spec = {
        "args": ["--curve-trials", "yes"],
        "hyperparameters": {
            "hyperparameterMetricTag": "accuracy",
            "maxTrials": 4,
            "maxParallelTrials": 2,
            "params": [{"parameterName": "C", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1.0}],
        },
    }
    engine.submit_training_job("dask_tune", spec, package_path=trainer, module_name="tuner.task")
    job = engine.wait_job("dask_tune", timeout=600)
    assert job.state == "SUCCEEDED", job.error_message
    output = job.training_output
    assert output is not None and output["completedTrialCount"] == "4"
    # The real cloudml-hypertune's reports came back: every trial has its metric.
    assert all("objectiveValue" in t["finalMetric"] for t in output["trials"]), output["trials"]
    started = [e.message for e in engine.job_logs("dask_tune") if "started on tcp://" in e.message]
    assert len(started) == 4  # each trial's replica ran as a task on the cluster
    # Each trial wrote its metric file in its task's folder on the worker,
    # and the file came back through Dask: the host and workers share no path.
    metric_files = [
        e.message[12:] for e in engine.job_logs("dask_tune") if e.message.startswith("METRIC_FILE ")
    ]
    assert len(metric_files) == 4
    assert not any(path.startswith(str(engine.settings.home)) for path in metric_files), metric_files
