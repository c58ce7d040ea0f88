"""Training jobs as real processes: states, the environment trainers see,
logs, failures, cancellation, the queue, and runners that die."""

from __future__ import annotations

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
from support import jobs as support_jobs
from support import trainers

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from mlnb.runtime.processes import process_alive

pytestmark = [pytest.mark.integration]


@pytest.fixture
def job_settings(home: Path) -> Settings:
    return support_jobs.job_settings(home, max_running_jobs=4)


@pytest.fixture
def jobs(job_settings: Settings) -> Iterator[Engine]:
    engine = Engine(job_settings)
    yield engine
    support_jobs.cancel_and_close(engine)


@pytest.fixture
def trainer(tmp_path: Path) -> Path:
    return trainers.write_trainer(tmp_path / "src")


def env_lines(engine: Engine, job_id: str) -> dict[str, dict[str, Any]]:
    found = {}
    for entry in engine.job_logs(job_id):
        if entry.message.startswith("ENV "):
            found[entry.replica] = json.loads(entry.message[4:])
    return found


def test_a_job_runs_with_ml_engine_environment(jobs: Engine, trainer: Path, tmp_path: Path) -> None:
    job_dir = tmp_path / "out"
    spec = {
        "scaleTier": "CUSTOM",
        "masterType": "m",
        "workerType": "w",
        "parameterServerType": "p",
        "workerCount": "2",
        "parameterServerCount": "1",
    }
    submitted = jobs.submit_training_job(
        "train_1",
        spec,
        package_path=trainer,
        module_name="trainer.task",
        job_dir=job_dir,
        args=["--steps", "3"],
        labels={"team": "ml"},
    )
    assert submitted.state == "QUEUED"
    job = jobs.wait_job("train_1", timeout=60)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.create_time <= job.start_time <= job.end_time  # type: ignore[operator]
    assert job.labels == {"team": "ml"}
    envs = env_lines(jobs, "train_1")
    assert set(envs) == {"master-replica-0", "worker-replica-0", "worker-replica-1", "ps-replica-0"}
    master = envs["master-replica-0"]
    cluster = master["tf_config"]["cluster"]
    assert len(cluster["master"]) == 1 and len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1
    ports = [address.rsplit(":", 1)[1] for addresses in cluster.values() for address in addresses]
    assert len(set(ports)) == 4 and all(a.startswith("127.0.0.1:") for v in cluster.values() for a in v)
    assert master["tf_config"]["task"] == {"type": "master", "index": 0, "trial": ""}
    assert envs["worker-replica-1"]["tf_config"]["task"]["index"] == 1
    assert master["tf_config"]["environment"] == "cloud"
    assert master["tf_config"]["job"]["python_module"] == "trainer.task"
    assert master["job_id"] == "train_1"
    assert master["job_dir"] == str(job_dir)
    assert master["argv"] == ["--steps", "3", "--job-dir", str(job_dir)]
    assert (job_dir / "master-replica-0.done").exists()
    steps = [
        e
        for e in jobs.job_logs("train_1")
        if e.replica == "master-replica-0" and e.message.startswith("step")
    ]
    assert [e.message for e in steps] == ["step 0", "step 1", "step 2"]
    assert all(e.time.endswith("Z") for e in steps)
    body = job.to_api()
    assert body["jobId"] == "train_1" and body["trainingInput"]["pythonModule"] == "trainer.task"


def test_chief_instead_of_master(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job(
        "chief_1", {"useChiefInTfConfig": True}, package_path=trainer, module_name="trainer.task"
    )
    assert jobs.wait_job("chief_1", timeout=60).state == "SUCCEEDED"
    envs = env_lines(jobs, "chief_1")
    assert list(envs) == ["chief-replica-0"] and "chief" in envs["chief-replica-0"]["tf_config"]["cluster"]


def test_job_fields_follow_the_discovery_document(jobs: Engine, trainer: Path) -> None:
    from support.ml_v1 import schema_properties

    jobs.submit_training_job("fields_1", package_path=trainer, module_name="trainer.task", labels={"a": "b"})
    job = jobs.wait_job("fields_1", timeout=60)
    extra = set(job.to_api()) - schema_properties("GoogleCloudMlV1__Job")
    assert extra <= {"progress", "notebookInput"}
    assert set(job.training_input or {}) <= schema_properties("GoogleCloudMlV1__TrainingInput")
    assert set(job.training_output or {}) <= schema_properties("GoogleCloudMlV1__TrainingOutput")
    assert job.training_output is not None and job.training_output["consumedMLUnits"] > 0


def test_a_failing_trainer_fails_the_job_with_its_last_lines(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job("fail_1", package_path=trainer, module_name="trainer.task", args=["--exit", "3"])
    job = jobs.wait_job("fail_1", timeout=60)
    assert job.state == "FAILED"
    assert "The replica master-replica-0 exited with a non-zero status of 3" in (job.error_message or "")
    assert "something went wrong in master-replica-0" in (job.error_message or "")
    assert "step 1" in (job.error_message or "")  # its stdout's last lines too


def test_a_trainer_that_fails_on_stdout_only_says_why(jobs: Engine, tmp_path: Path) -> None:
    package = tmp_path / "src" / "quiet"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("import sys\nprint('no data in the bucket', flush=True)\nsys.exit(6)\n")
    jobs.submit_training_job("fail_stdout", package_path=package, module_name="quiet.task")
    job = jobs.wait_job("fail_stdout", timeout=60)
    assert job.state == "FAILED"
    assert job.error_message == (
        "The replica master-replica-0 exited with a non-zero status of 6. "
        "Its last lines:\nno data in the bucket"
    )


def test_a_failing_worker_fails_the_job_and_stops_the_rest(jobs: Engine, trainer: Path) -> None:
    spec = {"scaleTier": "STANDARD_1"}
    args = ["--fail-replica", "worker-replica-1", "--exit", "2", "--steps", "50", "--sleep", "0.1"]
    jobs.submit_training_job("fail_2", spec, package_path=trainer, module_name="trainer.task", args=args)
    job = jobs.wait_job("fail_2", timeout=60)
    assert job.state == "FAILED"
    assert "worker-replica-1 exited with a non-zero status of 2" in (job.error_message or "")
    for info in env_lines(jobs, "fail_2").values():
        assert not process_alive(info["pid"])


def test_a_missing_module_fails_the_job(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job("nomod_1", package_path=trainer, module_name="trainer.nope")
    job = jobs.wait_job("nomod_1", timeout=60)
    assert job.state == "FAILED" and "No module named trainer.nope" in (job.error_message or "")


def test_a_package_that_does_not_build_fails_the_job_record(jobs: Engine, tmp_path: Path) -> None:
    package = trainers.write_trainer(tmp_path / "proj")
    (package.parent / "setup.py").write_text("this is not python(\n")
    job = jobs.submit_training_job("nobuild_1", package_path=package, module_name="trainer.task")
    assert job.state == "FAILED"
    assert "Building the trainer package" in (job.error_message or "")
    assert jobs.get_job("nobuild_1").state == "FAILED"


def test_a_project_with_setup_py_builds_and_installs(jobs: Engine, tmp_path: Path) -> None:
    package = trainers.write_trainer(tmp_path / "proj")
    (package.parent / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='my-trainer', version='1.2', packages=['trainer'])\n"
    )
    jobs.submit_training_job("setup_1", package_path=package, module_name="trainer.task")
    job = jobs.wait_job("setup_1", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    staged = Path(job.training_input["packageUris"][0]).name  # type: ignore[index]
    assert staged in ("my_trainer-1.2.tar.gz", "my-trainer-1.2.tar.gz")  # setuptools < 69 keeps the dash


def test_bad_submissions_are_refused_before_anything_runs(jobs: Engine, trainer: Path) -> None:
    with pytest.raises(InvalidArgument, match="Unknown scaleTier 'HUGE'"):
        jobs.submit_training_job("bad_1", package_path=trainer, module_name="trainer.task", scale_tier="HUGE")
    with pytest.raises(InvalidArgument, match="needs a module"):
        jobs.submit_training_job("bad_2", package_path=trainer)
    with pytest.raises(InvalidArgument, match="must begin with a letter"):
        jobs.submit_training_job("2bad", package_path=trainer, module_name="trainer.task")
    with pytest.raises(InvalidArgument, match="CUSTOM needs masterType"):
        jobs.submit_training_job(
            "bad_3", {"scaleTier": "CUSTOM"}, package_path=trainer, module_name="trainer.task"
        )
    assert jobs.list_jobs() == []
    jobs.submit_training_job("dup_1", package_path=trainer, module_name="trainer.task")
    with pytest.raises(AlreadyExists, match="job ids are never reused"):
        jobs.submit_training_job("dup_1", package_path=trainer, module_name="trainer.task")


def test_cancel_stops_every_replica(jobs: Engine, trainer: Path) -> None:
    args = ["--steps", "600", "--sleep", "0.1", "--ignore-sigterm"]
    jobs.submit_training_job(
        "cancel_1", {"scaleTier": "STANDARD_1"}, package_path=trainer, module_name="trainer.task", args=args
    )
    _wait_for(lambda: len(env_lines(jobs, "cancel_1")) == 4, "replicas to start")
    pids = [info["pid"] for info in env_lines(jobs, "cancel_1").values()]
    assert jobs.cancel_job("cancel_1").state == "CANCELLING"
    job = jobs.wait_job("cancel_1", timeout=30)
    assert job.state == "CANCELLED" and job.error_message is None
    # They ignored SIGTERM: SIGKILL after the grace period ended them.
    assert not any(process_alive(pid) for pid in pids)
    with pytest.raises(FailedPrecondition, match="has already ended \\(CANCELLED\\)"):
        jobs.cancel_job("cancel_1")


def test_the_queue_runs_jobs_in_order_within_the_limit(job_settings: Settings, trainer: Path) -> None:
    engine = Engine(job_settings.replace(max_running_jobs=1))
    for n in range(3):
        engine.submit_training_job(
            f"queue_{n}",
            package_path=trainer,
            module_name="trainer.task",
            args=["--steps", "3", "--sleep", "0.2"],
        )
    engine.cancel_job("queue_2")  # still queued: cancelled at once
    assert engine.get_job("queue_2").state == "CANCELLED"
    first, second = (engine.wait_job(f"queue_{n}", timeout=60) for n in range(2))
    assert first.state == second.state == "SUCCEEDED"
    assert first.end_time <= second.start_time  # type: ignore[operator]
    waiting = [e.message for e in engine.job_logs("queue_1") if e.replica == "service"]
    assert any("Waiting for a slot" in m for m in waiting)


def test_kill_9_of_a_replica_fails_the_job_naming_it(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job(
        "kill_replica",
        {"scaleTier": "STANDARD_1"},
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "600", "--sleep", "0.1"],
    )
    _wait_for(lambda: "worker-replica-0" in env_lines(jobs, "kill_replica"), "the worker to start")
    os.kill(env_lines(jobs, "kill_replica")["worker-replica-0"]["pid"], signal.SIGKILL)
    job = jobs.wait_job("kill_replica", timeout=30)
    assert job.state == "FAILED"
    assert "The replica worker-replica-0 was killed by signal 9 (SIGKILL)" in (job.error_message or "")


def test_kill_9_of_the_runner_fails_the_job_within_the_bound(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job(
        "kill_runner",
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "600", "--sleep", "0.1"],
    )
    _wait_for(lambda: "master-replica-0" in env_lines(jobs, "kill_runner"), "the master to start")
    replica_pid = env_lines(jobs, "kill_runner")["master-replica-0"]["pid"]
    runner_pid = jobs.get_job("kill_runner").runner_pid
    assert runner_pid is not None
    os.kill(runner_pid, signal.SIGKILL)
    # The bound: a reader sees the dead host at once (its pid is gone), long
    # before the heartbeat bound; the wait only gives a loaded machine time.
    job = jobs.wait_job("kill_runner", timeout=jobs.settings.job_dead_after_s)
    assert job.state == "FAILED" and "The job host process" in (job.error_message or "")
    _wait_for(lambda: not process_alive(replica_pid), "the orphaned replica to be killed")


def test_the_job_outlives_the_process_that_submitted_it(job_settings: Settings, trainer: Path) -> None:
    code = (
        "import sys, os, signal\n"
        "from mlnb.api import Engine\n"
        "from mlnb.config import Settings\n"
        "engine = Engine(Settings.resolve())\n"
        f"engine.submit_training_job('orphan_1', package_path={str(trainer)!r}, module_name='trainer.task',"
        " args=['--steps', '10', '--sleep', '0.1'])\n"
        "print('submitted', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, **job_settings.to_env()}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL and "submitted" in done.stdout
    assert Engine(job_settings).wait_job("orphan_1", timeout=60).state == "SUCCEEDED"


def test_logs_can_be_followed_while_the_job_runs(jobs: Engine, trainer: Path) -> None:
    jobs.submit_training_job(
        "follow_1", package_path=trainer, module_name="trainer.task", args=["--steps", "5", "--sleep", "0.2"]
    )
    messages = [e.message for e in jobs.job_logs("follow_1", follow=True)]
    assert jobs.get_job("follow_1").state == "SUCCEEDED"
    assert [m for m in messages if m.startswith("step")] == [f"step {i}" for i in range(5)]
    assert messages[-1] == "Job succeeded"


def test_an_unchanged_package_is_not_rebuilt(jobs: Engine, trainer: Path) -> None:
    from mlnb.training import build_trainer_package

    cache = jobs.settings.paths.trainer_builds
    first = build_trainer_package(trainer, cache)
    stamp = first.stat().st_mtime_ns
    assert build_trainer_package(trainer, cache) == first and first.stat().st_mtime_ns == stamp
    (trainer / "task.py").write_text((trainer / "task.py").read_text() + "\n# changed\n")
    assert build_trainer_package(trainer, cache) != first


def test_packages_of_the_same_files_under_other_names_are_two(jobs: Engine, tmp_path: Path) -> None:
    """Found by the sidebar's browser tests: `ticking/` was given the sdist
    built for `ticker/` (same files), and its job failed with 'No module
    named ticking'."""
    from mlnb.training import build_trainer_package

    cache = jobs.settings.paths.trainer_builds
    for name in ("ticker", "ticking"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        (tmp_path / name / "task.py").write_text("print('tick')\n")
    built = [build_trainer_package(tmp_path / name, cache) for name in ("ticker", "ticking")]
    assert [b.name for b in built] == ["ticker-0.0.0.tar.gz", "ticking-0.0.0.tar.gz"]


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_packages_add_built_archives_with_their_dependencies(jobs: Engine, tmp_path: Path) -> None:
    # A helper library built as a wheel by its own setup.py, installed next to the trainer.
    library = tmp_path / "helperlib"
    (library / "helper").mkdir(parents=True)
    (library / "helper" / "__init__.py").write_text("GREETING = 'hello from a wheel'\n")
    (library / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='helper', version='0.3', packages=['helper'])\n"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(library),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("helper-0.3-*.whl")
    trainer = trainers.write_trainer(tmp_path / "src")
    (trainer / "uses.py").write_text("import helper\nprint(helper.GREETING)\n")
    jobs.submit_training_job("pkgs_1", package_path=trainer, module_name="trainer.uses", packages=[wheel])
    job = jobs.wait_job("pkgs_1", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert [Path(p).name for p in job.training_input["packageUris"]] == ["trainer-0.0.0.tar.gz", wheel.name]  # type: ignore[index]
    assert any(e.message == "hello from a wheel" for e in jobs.job_logs("pkgs_1"))


def test_a_resubmission_after_an_edit_runs_the_new_package_while_the_host_runs(
    jobs: Engine, tmp_path: Path
) -> None:
    # A project with setup.py and install_requires takes seconds to build: a
    # job host that is already running must never see the job before its
    # package is staged (it once ran such a job with no package at all).
    package = trainers.write_trainer(tmp_path / "proj")
    setup = (
        "from setuptools import setup\n"
        "setup(name='edited', version='1', packages=['trainer'], install_requires=[{}])\n"
    )
    (package.parent / "setup.py").write_text(setup.format("'pyyaml'"))
    jobs.submit_training_job(
        "edit_1", package_path=package, module_name="trainer.task", args=["--steps", "1"]
    )
    _wait_for(lambda: jobs.get_job("edit_1").state == "RUNNING" or jobs.get_job("edit_1").ended, "the host")
    (package / "task.py").write_text((package / "task.py").read_text() + "\nprint('edited', flush=True)\n")
    (package.parent / "setup.py").write_text(setup.format("'pyyaml', 'packaging'"))

    seen_without_package: list[str] = []

    def watch() -> None:
        while not done.is_set():
            for job in jobs.list_jobs():
                if not job.ended and not (job.training_input or {}).get("packageUris"):
                    seen_without_package.append(f"{job.job_id} {job.state}")
            time.sleep(0.02)

    import threading

    done = threading.Event()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        jobs.submit_training_job(
            "edit_2", package_path=package, module_name="trainer.task", args=["--steps", "1"]
        )
    finally:
        done.set()
        watcher.join()
    assert seen_without_package == []
    assert jobs.wait_job("edit_1", timeout=300).state == "SUCCEEDED"
    second = jobs.wait_job("edit_2", timeout=300)
    assert second.state == "SUCCEEDED", second.error_message
    assert any(e.message == "edited" for e in jobs.job_logs("edit_2"))
