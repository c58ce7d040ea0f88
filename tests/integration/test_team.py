"""Team mode on one test machine: several "machines" (homes and machine
ids of their own) share one database; job services take the team's queue
under leases; logs are read from machines that did not run the job; a
host that dies or is paused loses its jobs cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import model_factory, rest_server, trainers
from support.team import ServiceHost, machine, shared_database
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.jobs import JobService, LeaseLost
from mlnb.records import JobRecord, now
from mlnb.runtime.processes import process_alive
from mlnb.states import JobKind, JobState
from mlnb.store import Database, JobsTx

pytestmark = [pytest.mark.integration]

TRAINER_ARGS = ["--steps", "3", "--sleep", "0.2"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return shared_database(tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return shared_database(tmp_path)


@pytest.fixture
def trainer(tmp_path: Path) -> Path:
    return trainers.write_trainer(tmp_path / "src")


def engine_of(settings: Settings, engines: list[Engine]) -> Engine:
    engine = Engine(settings)
    engines.append(engine)
    return engine


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        for job in engine.list_jobs():
            if not job.ended:
                engine.cancel_job(job.job_id)
        engine.close()


def replica_pid(engine: Engine, job_id: str) -> int | None:
    for entry in engine.job_logs(job_id):
        if entry.message.startswith("ENV "):
            return int(json.loads(entry.message[4:])["pid"])
    return None


def service_lines(engine: Engine, job_id: str) -> list[str]:
    return [e.message for e in engine.job_logs(job_id) if e.replica == "service"]


def test_logs_stream_on_a_machine_that_did_not_run_the_job(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine]
) -> None:
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url), engines)
    server = engine_of(machine(tmp_path, "server", sqlite_url), engines)
    laptop.submit_training_job(
        "remote_logs", package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS
    )

    followed = [e.message for e in server.job_logs("remote_logs", follow=True)]

    assert server.get_job("remote_logs").state == "SUCCEEDED"
    assert [m for m in followed if m.startswith("step")] == ["step 0", "step 1", "step 2"]
    assert followed[-1] == "Job succeeded"
    assert not (server.settings.paths.jobs / "default" / "remote_logs").exists()  # nothing local to read
    # A reader resumes where an earlier one stopped, by its position.
    first = server.job_log_tail("remote_logs")
    everything = first.read()
    assert server.job_log_tail("remote_logs", position=first.position).read() == []
    assert server.job_log_tail("remote_logs", position=len(everything) - 1).read() == everything[-1:]
    # The CLI of the other machine prints them too.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLNB_")} | server.settings.to_env()
    printed = subprocess.run(
        [sys.executable, "-m", "mlnb", "jobs", "stream-logs", "remote_logs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert "step 2" in printed.stdout and "Job succeeded" in printed.stdout


def test_team_hosts_share_the_queue_and_never_run_a_job_twice(
    tmp_path: Path, database_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    for name in ("host-1", "host-2"):
        hosts.append(ServiceHost(machine(tmp_path, name, database_url, host_max_jobs=2)))
    laptop = engine_of(machine(tmp_path, "laptop", database_url, job_host="service"), engines)
    names = [f"team_{n}" for n in range(6)]
    for name in names:
        laptop.submit_training_job(name, package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS)

    ended = [laptop.wait_job(name, timeout=300) for name in names]

    assert [job.state for job in ended] == ["SUCCEEDED"] * 6, [job.error_message for job in ended]
    for name in names:
        assert service_lines(laptop, name).count("Job is running") == 1
    assert {job.runner_host for job in ended} == {"host-1", "host-2"}
    assert not (laptop.settings.paths.run / "jobhost.log").exists()  # the laptop started no host


def test_a_job_whose_host_is_killed_is_ended_by_another_host_and_its_replica_stops(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    lease = {"job_dead_after_s": 5.0}
    for name in ("host-1", "host-2"):
        hosts.append(ServiceHost(machine(tmp_path, name, sqlite_url, **lease)))
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service", **lease), engines)
    laptop.submit_training_job(
        "orphaned",
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "3000", "--sleep", "0.1"],
    )
    pid = wait_for(lambda: replica_pid(laptop, "orphaned"), "the replica to start")
    holder = laptop.get_job("orphaned").runner_host
    doomed, survivor = sorted(hosts, key=lambda h: h.settings.machine_id != holder)

    os.kill(doomed.pid, signal.SIGKILL)

    # Readers see it ended once the lease ran out, without writing...
    job = wait_for(lambda: (j := laptop.get_job("orphaned")).ended and j, "the lease to run out", timeout=120)
    assert job.state == "FAILED"
    assert f"on {holder} stopped renewing its lease" in (job.error_message or "")
    # ...and the other host records it.
    wait_for(lambda: any("ended default/orphaned FAILED" in line for line in survivor.lines), "the reap")
    # The replica did not outlive its host.
    wait_for(lambda: not process_alive(pid), "the replica to die with its host")
    assert "Job succeeded" not in service_lines(laptop, "orphaned")


def test_a_host_that_wakes_after_losing_its_lease_stops_the_job_and_records_nothing(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    lease = {"job_dead_after_s": 5.0}
    host = ServiceHost(machine(tmp_path, "host-1", sqlite_url, **lease))
    hosts.append(host)
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service", **lease), engines)
    laptop.submit_training_job(
        "paused", package_path=trainer, module_name="trainer.task", args=["--steps", "3000", "--sleep", "0.1"]
    )
    pid = wait_for(lambda: replica_pid(laptop, "paused"), "the replica to start")

    os.kill(host.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: laptop.get_job("paused").ended, "the lease to run out", timeout=120)
        assert len(laptop.reap_jobs()) == 1  # an explicit reap records it
    finally:
        os.kill(host.pid, signal.SIGCONT)

    wait_for(lambda: not process_alive(pid), "the woken host to stop the replica")
    wait_for(
        lambda: any("This host stopped the job's processes" in m for m in service_lines(laptop, "paused")),
        "the woken host to say why it stopped",
    )
    job = laptop.get_job("paused")
    assert job.state == "FAILED" and "stopped renewing its lease" in (job.error_message or "")
    assert "Job succeeded" not in service_lines(laptop, "paused")


def test_the_local_queue_limit_counts_only_this_machines_jobs(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine]
) -> None:
    one_slot = {"max_running_jobs": 1}
    first = engine_of(machine(tmp_path, "desk-1", sqlite_url, **one_slot), engines)
    second = engine_of(machine(tmp_path, "desk-2", sqlite_url, **one_slot), engines)
    first.submit_training_job(
        "long_one",
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "3000", "--sleep", "0.1"],
    )
    wait_for(lambda: first.get_job("long_one").state == "RUNNING", "the first machine's job to run")

    second.submit_training_job(
        "beside_it", package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS
    )

    assert second.wait_job("beside_it", timeout=120).state == "SUCCEEDED"
    assert first.get_job("long_one").state == "RUNNING"
    assert not any("Waiting for a slot" in m for m in service_lines(second, "beside_it"))


def test_reads_show_a_dead_hosts_job_ended_and_only_a_reap_records_it(engine: Engine) -> None:
    db = Database(engine.settings.database_url)
    host_side = JobService(db, dead_after_s=0.5, machine="host-machine")
    reader = JobService(db, dead_after_s=0.5, machine="reader")
    host_side.create_job(JobRecord("default", "held", JobKind.TRAINING, JobState.QUEUED, now()))
    [claimed] = host_side.claim("host-x", os.getpid(), [host_side.queue])
    assert claimed.lease_holder == "host-x" and claimed.lease_expires is not None

    def stored() -> JobState:
        with db.session() as session:
            found = JobsTx(session).get_job("default", "held")
            assert found is not None
            return found.state

    assert reader.get_job("default", "held").state == "QUEUED"  # the lease holds for now
    wait_for(lambda: reader.get_job("default", "held").ended, "the lease to run out", timeout=30)
    assert reader.get_job("default", "held").state == "FAILED"
    assert [j.job_id for j in reader.list_jobs("default", ["FAILED"])] == ["held"]
    assert stored() == "QUEUED"  # reading wrote nothing

    [reaped] = reader.reap()
    assert reaped.state == "FAILED" and reaped.lease_holder is None and stored() == "FAILED"
    assert "host-x on host-machine stopped renewing its lease" in (reaped.error_message or "")
    with pytest.raises(LeaseLost, match="no longer this host's"):
        host_side.heartbeat("default", "held", "host-x")


def test_the_rest_server_of_another_machine_pages_a_jobs_log(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine]
) -> None:
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url), engines)
    laptop.submit_training_job(
        "rest_logs", package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS
    )
    laptop.wait_job("rest_logs", timeout=120)
    path = "/v1/projects/default/jobs/rest_logs:logs"
    for url in rest_server.serve(machine(tmp_path, "server", sqlite_url)):
        status, whole = rest_server.call_http(url, "GET", path)
        assert status == 200 and whole["jobEnded"] is True
        messages = [e["message"] for e in whole["entries"]]
        assert "step 2" in messages and messages[-1] == "Job succeeded"
        assert whole["nextOffset"] == len(messages)
        # Pages of two, each from where the last one ended, add up to the whole.
        paged: list[str] = []
        offset = 0
        while True:
            status, page = rest_server.call_http(url, "GET", f"{path}?offset={offset}&pageSize=2")
            assert status == 200 and len(page["entries"]) <= 2
            paged += [e["message"] for e in page["entries"]]
            if not page["entries"]:
                break
            offset = page["nextOffset"]
        assert paged == messages
        status, error = rest_server.call_http(url, "GET", f"{path}?offset=-1")
        assert status == 400 and "offset must be a whole number" in error["error"]["message"]
        status, error = rest_server.call_http(url, "GET", "/v1/projects/default/jobs/nope:logs")
        assert status == 404


def test_a_stopped_host_hands_back_the_jobs_it_had_not_started(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    first = ServiceHost(machine(tmp_path, "host-1", sqlite_url, max_running_jobs=1, host_max_jobs=2))
    hosts.append(first)
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service"), engines)
    long_args = ["--steps", "3000", "--sleep", "0.1"]
    laptop.submit_training_job("running", package_path=trainer, module_name="trainer.task", args=long_args)
    wait_for(lambda: laptop.get_job("running").state == "RUNNING", "the first job to run")
    laptop.submit_training_job("waiting", package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS)
    wait_for(
        lambda: any("Waiting for a slot" in m for m in service_lines(laptop, "waiting")), "the slot wait"
    )

    first.stop()

    running, waiting = laptop.get_job("running"), laptop.get_job("waiting")
    assert running.state == "FAILED" and "job host was stopped" in (running.error_message or "")
    assert waiting.state == "QUEUED" and waiting.lease_holder is None
    hosts.append(ServiceHost(machine(tmp_path, "host-2", sqlite_url)))
    done = laptop.wait_job("waiting", timeout=120)
    assert done.state == "SUCCEEDED" and done.runner_host == "host-2"


def test_a_draining_host_lets_its_running_job_finish_and_hands_back_the_rest(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    settings = machine(tmp_path, "host-1", sqlite_url, max_running_jobs=1, host_max_jobs=2, host_drain_s=300)
    first = ServiceHost(settings)
    hosts.append(first)
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service"), engines)
    short_args = ["--steps", "15", "--sleep", "0.2"]
    laptop.submit_training_job("running", package_path=trainer, module_name="trainer.task", args=short_args)
    wait_for(lambda: laptop.get_job("running").state == "RUNNING", "the first job to run")
    laptop.submit_training_job("waiting", package_path=trainer, module_name="trainer.task", args=TRAINER_ARGS)
    wait_for(
        lambda: any("Waiting for a slot" in m for m in service_lines(laptop, "waiting")), "the slot wait"
    )

    first.process.send_signal(signal.SIGTERM)  # a rolling update

    wait_for(lambda: any("draining" in line for line in first.lines), "the host to drain")
    waiting = wait_for(lambda: (j := laptop.get_job("waiting")).lease_holder is None and j, "the hand-back")
    assert waiting.state == "QUEUED"
    assert laptop.wait_job("running", timeout=120).state == "SUCCEEDED"
    assert first.process.wait(timeout=60) == 0  # it left once its job ended
    assert laptop.get_job("waiting").state == "QUEUED"  # it took nothing new meanwhile
    hosts.append(ServiceHost(machine(tmp_path, "host-2", sqlite_url)))
    done = laptop.wait_job("waiting", timeout=120)
    assert done.state == "SUCCEEDED" and done.runner_host == "host-2"


def test_a_second_stop_ends_the_drain_and_stops_the_running_job(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    first = ServiceHost(machine(tmp_path, "host-1", sqlite_url, host_drain_s=300))
    hosts.append(first)
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service"), engines)
    long_args = ["--steps", "3000", "--sleep", "0.1"]
    laptop.submit_training_job("long", package_path=trainer, module_name="trainer.task", args=long_args)
    wait_for(lambda: laptop.get_job("long").state == "RUNNING", "the job to run")

    first.process.send_signal(signal.SIGTERM)
    wait_for(lambda: any("draining" in line for line in first.lines), "the host to drain")
    assert laptop.get_job("long").state == "RUNNING"  # the drain lets it run
    first.process.send_signal(signal.SIGTERM)

    job = laptop.wait_job("long", timeout=120)
    assert job.state == "FAILED" and "job host was stopped" in (job.error_message or "")
    assert first.process.wait(timeout=60) == 0


def test_a_job_is_cancelled_from_a_machine_that_did_not_submit_it(
    tmp_path: Path, sqlite_url: str, trainer: Path, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    hosts.append(ServiceHost(machine(tmp_path, "host-1", sqlite_url)))
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service"), engines)
    server = engine_of(machine(tmp_path, "server", sqlite_url), engines)
    laptop.submit_training_job(
        "cancel_elsewhere",
        package_path=trainer,
        module_name="trainer.task",
        args=["--steps", "3000", "--sleep", "0.1", "--ignore-sigterm"],
    )
    pid = wait_for(lambda: replica_pid(server, "cancel_elsewhere"), "the replica to start")

    assert server.cancel_job("cancel_elsewhere").state == "CANCELLING"

    job = laptop.wait_job("cancel_elsewhere", timeout=120)
    assert job.state == "CANCELLED" and job.error_message is None
    assert not process_alive(pid)  # SIGTERM ignored: SIGKILL after the grace


def test_predictions_logged_by_another_machines_server_are_read_here(
    tmp_path: Path, sqlite_url: str, engines: list[Engine]
) -> None:
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url), engines)
    origin, _ = model_factory.sklearn_pipeline_dir(tmp_path / "model")
    laptop.create_model("logged", online_prediction_logging=True)
    laptop.create_version("logged", "v1", origin)
    rows = [[5.1, 3.5, 1.4, 0.2]]
    for url in rest_server.serve(machine(tmp_path, "server", sqlite_url)):
        for _ in range(3):
            status, _answer = rest_server.call_http(
                url, "POST", "/v1/projects/default/models/logged:predict", {"instances": rows}
            )
            assert status == 200
        # The server sends its entries in batches, from a thread.
        wait_for(lambda: len(laptop.prediction_log("logged")) == 3, "the server's entries in the store")
    entries = laptop.prediction_log("logged")
    assert [e["instances"] for e in entries] == [rows] * 3 and all(e["version"] == "v1" for e in entries)
    assert not (tmp_path / "server" / "prediction-logs").exists()  # nothing kept on the server's disk


def test_a_team_host_sees_nothing_of_the_submitters_disk(
    tmp_path: Path, sqlite_url: str, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    host = ServiceHost(machine(tmp_path, "host-1", sqlite_url))
    hosts.append(host)
    if not host.isolated:
        pytest.skip("mount namespaces are not available here (they need root)")
    package = tmp_path / "src" / "looker"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(
        "import json, sys\nprint('SEEN ' + json.dumps(sorted(__import__('os').listdir(sys.argv[1]))))\n"
    )
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service"), engines)
    laptop.submit_training_job("look", package_path=package, module_name="looker.task", args=[str(tmp_path)])
    job = laptop.wait_job("look", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    messages = [entry.message for entry in laptop.job_logs("look")]
    [seen] = [json.loads(m[5:]) for m in messages if m.startswith("SEEN ")]
    # The trainer ran from the package staged in the artifact store: the
    # laptop's home and the package's source folder are not on this machine.
    assert seen == ["host-1", "shared-artifacts", "shared-db"]


def test_a_resumed_pipeline_follows_the_child_job_another_host_ran_on_after_its_host_died(
    tmp_path: Path, sqlite_url: str, engines: list[Engine], hosts: list[ServiceHost]
) -> None:
    package = tmp_path / "src" / "gated"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    # Its gate is named in its code, not in its arguments: a pipeline's step
    # key covers the files its arguments name, and the gate appears.
    gate = tmp_path / "shared-artifacts" / "gate"  # a file every machine sees
    (package / "task.py").write_text(
        "import os, sys, time\n"
        f"while '--wait' in sys.argv and not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.05)\n"
        "print('trained', flush=True)\n"
    )
    lease = {"job_dead_after_s": 5.0}
    laptop = engine_of(machine(tmp_path, "laptop", sqlite_url, job_host="service", **lease), engines)
    seeder = ServiceHost(machine(tmp_path, "seeder", sqlite_url, **lease))
    hosts.append(seeder)
    laptop.submit_training_job("seed", package_path=package, module_name="gated.task")
    seed = laptop.wait_job("seed", timeout=120)  # stages the package the child job runs
    assert seed.state == "SUCCEEDED", seed.error_message
    seeder.stop()
    # A host that takes only pipelines and rollouts (they hold no slot): the
    # pipeline's child job waits for another host.
    conductor = ServiceHost(machine(tmp_path, "conductor", sqlite_url, host_max_jobs=0, **lease))
    hosts.append(conductor)
    child = {
        "trainingInput": {
            "packageUris": seed.training_input["packageUris"],
            "pythonModule": "gated.task",
            "args": ["--wait"],
        }
    }
    laptop.submit_job("adopt", "pipeline", {"steps": [{"name": "train", "job": child}]})

    def child_is(state: str) -> bool | None:
        found = [j for j in laptop.list_jobs() if j.job_id == "adopt_train"]
        return (found and found[0].state == state) or None

    wait_for(lambda: child_is("QUEUED"), "the child job to be queued", timeout=120)
    hosts.append(ServiceHost(machine(tmp_path, "worker", sqlite_url, host_max_jobs=1, **lease)))
    wait_for(lambda: child_is("RUNNING"), "the child job to run on the worker", timeout=120)
    assert laptop.get_job("adopt").runner_host == "conductor"
    assert laptop.get_job("adopt_train").runner_host == "worker"

    os.kill(conductor.pid, signal.SIGKILL)  # the pipeline's host; its child runs on
    failed = wait_for(lambda: (j := laptop.get_job("adopt")).ended and j, "the lease to run out", timeout=120)
    assert failed.state == "FAILED"
    assert laptop.get_job("adopt_train").state == "RUNNING"

    gate.touch()
    laptop.resume_job("adopt")
    resumed = laptop.wait_job("adopt", timeout=180)
    assert resumed.state == "SUCCEEDED", resumed.error_message
    assert laptop.get_job("adopt_train").state == "SUCCEEDED"
    assert not [j.job_id for j in laptop.list_jobs() if j.job_id.startswith("adopt_train_")]  # no twin
    logs = [e.message for e in laptop.job_logs("adopt")]
    assert "Step train: following job adopt_train, which an earlier run started" in logs
