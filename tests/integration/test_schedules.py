"""Schedules: due runs fire once each, however many hosts look, with their
template filled; a paused schedule fires nothing; missed runs follow the
schedule's rule; runs wait for running ones; the team's job hosts and a
machine's on-demand host fire them; REST speaks ``projects.schedules``."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import jobs as support_jobs
from support import trainers
from support.rest_server import call_http, serve
from support.team import ServiceHost, machine, shared_database
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.records import ScheduleRun, now
from mlnb.schedules_api import run_job_id

pytestmark = pytest.mark.integration

SHORT = ["--steps", "2", "--sleep", "0.05"]


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    # The team's queue and no job host: jobs stay queued, and the test fires
    # the schedules itself, as a host's loop would.
    engine = Engine(support_jobs.job_settings(home, job_host="service"))
    yield engine
    support_jobs.cancel_and_close(engine)


def staged_package(engine: Engine, tmp_path: Path) -> list[str]:
    """A trainer package staged in the artifact store (by a seed job), as a
    template names it."""
    trainer = trainers.write_trainer(tmp_path / "src")
    seed = engine.submit_training_job("seed", package_path=trainer, module_name="trainer.task", args=SHORT)
    assert seed.training_input is not None
    return list(seed.training_input["packageUris"])


@pytest.fixture
def package(engine: Engine, tmp_path: Path) -> list[str]:
    return staged_package(engine, tmp_path)


@pytest.fixture
def team_url(tmp_path: Path) -> str:
    return shared_database(tmp_path)


@pytest.fixture
def laptop(tmp_path: Path, team_url: str) -> Iterator[Engine]:
    """A machine of the team that submits to the team's hosts, and runs none."""
    engine = Engine(machine(tmp_path, "laptop", team_url, job_host="service"))
    yield engine
    support_jobs.cancel_and_close(engine)


def ended_runs(engine: Engine, name: str, count: int) -> list[ScheduleRun] | None:
    """The schedule's runs once there are ``count`` and each one's job has ended."""
    runs = engine.schedule_runs(name)
    ended = len(runs) == count and all(run.job_state in ("SUCCEEDED", "FAILED", "CANCELLED") for run in runs)
    return runs if ended else None


def template(package: list[str], **labels: str) -> dict[str, Any]:
    return {
        "trainingInput": {"packageUris": package, "pythonModule": "trainer.task", "args": SHORT},
        "labels": labels,
    }


def test_due_runs_fire_once_each_from_two_hosts_with_the_template_filled(
    engine: Engine, home: Path, package: list[str]
) -> None:
    labels = {"day": "{{ run_time | %Y%m%d }}", "at": "{{ run_time | %H%M%S }}", "n": "r{{ run_number }}"}
    engine.create_schedule(
        "every2", {"interval": "2s", "maxConcurrentRuns": 10, "jobTemplate": template(package, **labels)}
    )
    other = Engine(engine.settings)  # a second host of the same queue
    said: list[str] = []
    done = threading.Event()

    def host(of: Engine) -> None:
        while not done.is_set():
            said.extend(of.fire_schedules())
            done.wait(0.05)

    threads = [threading.Thread(target=host, args=(e,)) for e in (engine, other)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(engine.schedule_runs("every2")) >= 3, "three runs", timeout=60)
    finally:
        done.set()
        for thread in threads:
            thread.join()
        other.close()

    runs = sorted(engine.schedule_runs("every2"), key=lambda r: r.run_time)
    times = [r.run_time for r in runs]
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(times)), times
    assert [r.job_id for r in runs] == [run_job_id("every2", t) for t in times]
    assert sum(line.endswith("submitted " + r.job_id) for r in runs for line in said) == len(runs)
    for number, run in enumerate(runs, start=1):
        job = engine.get_job(run.job_id)
        assert job.labels == {
            "day": f"{run.run_time:%Y%m%d}",
            "at": f"{run.run_time:%H%M%S}",
            "n": f"r{number}",
        }
        assert run.job_state == "QUEUED"
    record = engine.get_schedule("every2")
    assert record.run_count == len(runs) and record.next_run_time is not None
    assert record.next_run_time > runs[-1].run_time
    assert [r.job_id for r in record.recent_runs] == [r.job_id for r in reversed(runs)]


def test_a_paused_schedule_fires_nothing_and_resumes_from_now(engine: Engine, package: list[str]) -> None:
    engine.create_schedule("paused", {"interval": "1s", "jobTemplate": template(package)})
    paused = engine.pause_schedule("paused")
    assert paused.state == "PAUSED" and paused.next_run_time is not None
    wait_for(lambda: now() > paused.next_run_time + timedelta(seconds=1), "a due time to pass")  # type: ignore[operator]
    assert engine.fire_schedules() == []
    resumed = engine.resume_schedule("paused")
    assert (
        resumed.state == "ACTIVE"
        and resumed.next_run_time is not None
        and resumed.next_run_time >= now() - timedelta(seconds=1)
    )
    wait_for(engine.fire_schedules, "the resumed schedule to fire")
    runs = engine.schedule_runs("paused")
    assert len(runs) == 1 and runs[0].run_time >= resumed.next_run_time
    assert engine.get_schedule("paused").skipped_runs == 0  # what fell due while paused is not "missed"


@pytest.mark.parametrize(("rule", "ran"), [("RUN_ONCE", 1), ("SKIP", 0)])
def test_runs_missed_while_no_host_ran_follow_the_rule(
    engine: Engine, package: list[str], rule: str, ran: int
) -> None:
    # Three due times (start, start + 1 s, start + 2 s) before the end, the
    # last one more than missedAfter ago by the time a host looks.
    start = (now() + timedelta(seconds=1)).replace(microsecond=0)
    end = start + timedelta(seconds=2.5)
    body = {
        "interval": "1s",
        "startTime": start.isoformat(),
        "endTime": end.isoformat(),
        "missedRuns": rule,
        "missedAfter": "1s",
        "jobTemplate": template(package),
    }
    engine.create_schedule("missed", body)
    wait_for(lambda: now() > end + timedelta(seconds=1.5), "every due time to be missed")
    said = engine.fire_schedules()
    runs = engine.schedule_runs("missed")
    assert len(runs) == ran
    record = engine.get_schedule("missed")
    assert record.state == "ENDED" and record.next_run_time is None
    assert record.skipped_runs == 3 - ran and record.run_count == ran
    if ran:
        assert runs[0].run_time == start + timedelta(seconds=2)
    assert any("ended" in line for line in said), said


def test_a_run_due_while_one_still_runs_is_skipped(engine: Engine, package: list[str]) -> None:
    engine.create_schedule("single", {"interval": "1s", "jobTemplate": template(package)})
    wait_for(engine.fire_schedules, "the first run")
    first = engine.schedule_runs("single")[0]
    wait_for(lambda: (engine.fire_schedules(), engine.get_schedule("single").skipped_runs)[1] > 0, "a skip")
    record = engine.get_schedule("single")
    assert [r.job_id for r in engine.schedule_runs("single")] == [first.job_id]  # its job is still queued
    assert "1 run(s) still running (maxConcurrentRuns 1)" in (record.last_message or "")


def test_max_runs_ends_a_schedule_and_run_now_runs_beside_it(engine: Engine, package: list[str]) -> None:
    engine.create_schedule(
        "twice", {"interval": "1s", "maxRuns": 2, "maxConcurrentRuns": 5, "jobTemplate": template(package)}
    )
    wait_for(
        lambda: engine.fire_schedules() and engine.get_schedule("twice").state == "ENDED",
        "two runs",
        timeout=30,
    )
    record = engine.get_schedule("twice")
    assert record.run_count == 2 and record.last_message == "It ran its maxRuns (2)"
    with pytest.raises(FailedPrecondition, match="has ended"):
        engine.resume_schedule("twice")
    job = engine.run_schedule("twice")
    runs = engine.schedule_runs("twice")
    assert len(runs) == 3 and runs[0].job_id == job.job_id and runs[0].to_api()["manual"] is True
    assert job.job_id == run_job_id("twice", runs[0].run_time) + "_now"
    assert engine.get_schedule("twice").run_count == 2  # a run-now run is not a scheduled one

    # Listed with their newest runs (one read for all), as each reads alone.
    engine.create_schedule("never_run", {"interval": "1d", "jobTemplate": template(package)})
    listed = {s.name: s for s in engine.list_schedules(newest_run=True)}
    assert listed["never_run"].recent_runs == ()
    assert listed["twice"].recent_runs == engine.get_schedule("twice", runs=1).recent_runs
    assert listed["twice"].recent_runs[0].job_id == job.job_id and listed["twice"].recent_runs[0].job_state
    assert engine.list_schedules()[0].recent_runs == ()  # without newest_run: the schedules alone


def test_bad_schedules_are_refused_saying_why(engine: Engine, package: list[str]) -> None:
    good = template(package)
    cases = [
        ({"jobTemplate": good}, "exactly one of cron"),
        ({"cron": "0 2 * *", "jobTemplate": good}, "is not a cron expression"),
        ({"interval": "0.5s", "jobTemplate": good}, "at least 1s"),
        ({"interval": "6h", "timeZone": "Mars/Olympus", "jobTemplate": good}, "not an IANA time zone"),
        ({"interval": "6h"}, "needs a jobTemplate"),
        ({"interval": "6h", "jobTemplate": {**good, "jobId": "x"}}, "has jobId"),
        ({"interval": "6h", "jobTemplate": template(package, a="{{ nothing }}")}, "names no value"),
        (
            {"interval": "6h", "jobTemplate": template(package, a="{{ schedule | %Y }}")},
            "which is not a time",
        ),
        ({"interval": "6h", "maxRuns": 0, "jobTemplate": good}, "maxRuns must be a whole number"),
        ({"interval": "6h", "missedRuns": "LATER", "jobTemplate": good}, "RUN_ONCE or SKIP"),
        ({"interval": "6h", "inputWait": "soon", "jobTemplate": good}, "schedule.inputWait: 'soon' is not"),
        ({"interval": "6h", "missedAfter": "0.5s", "jobTemplate": good}, "missedAfter must be at least 1s"),
        ({"interval": "6h", "colour": "red", "jobTemplate": good}, "unknown field(s): colour"),
    ]
    for body, message in cases:
        with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
            engine.create_schedule("bad", body)
    assert engine.list_schedules() == []


def test_a_run_whose_job_cannot_be_submitted_says_why(engine: Engine, package: list[str]) -> None:
    # A label filled with a whole time breaks the label rules: the job is refused.
    engine.create_schedule(
        "broken", {"interval": "1s", "jobTemplate": template(package, at="{{ run_time }}")}
    )
    wait_for(lambda: engine.fire_schedules() or engine.schedule_runs("broken"), "a run")
    run = engine.schedule_runs("broken")[0]
    assert run.job_state is None and run.error and run.error.startswith("Label 'at' has value")
    assert run.to_api()["state"] == "FAILED"
    assert "could not submit its job" in (engine.get_schedule("broken").last_message or "")


def test_a_run_waits_for_its_input_and_is_submitted_once_it_lands(engine: Engine, tmp_path: Path) -> None:
    from support.model_factory import sklearn_pipeline_dir

    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_pipeline_dir(tmp_path / "model")[0])
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    def batch(wait: str) -> dict[str, Any]:
        prediction = {
            "modelName": "iris",
            "dataFormat": "JSON",
            "inputPaths": [str(inbox / "{{ run_time | %Y%m%d }}_*.json")],
            "outputPath": str(tmp_path / "out" / "{{ job_id }}"),
        }
        return {
            "interval": "1s",
            "maxRuns": 1,
            "inputWait": wait,
            "jobTemplate": {"predictionInput": prediction},
        }

    engine.create_schedule("waits", batch("1m"))
    engine.create_schedule("gives_up", batch("2s"))
    assert engine.get_schedule("waits").spec["inputWait"] == "60s"

    def waiting(name: str) -> ScheduleRun | None:
        engine.fire_schedules()
        runs = engine.schedule_runs(name)
        return runs[0] if runs and runs[0].state == "WAITING" else None

    run = wait_for(lambda: waiting("waits"), "the run to wait for its input")
    assert run.to_api()["waitingFor"].endswith("matches no file") and run.error is None
    assert "waits for its input until" in (engine.get_schedule("waits").last_message or "")

    def refused() -> ScheduleRun | None:
        engine.fire_schedules()
        runs = engine.schedule_runs("gives_up")
        return runs[0] if runs and runs[0].error else None

    # No file for the second schedule: its wait runs out, and it is refused saying why.
    given_up = wait_for(refused, "the run without input to be refused", timeout=30)
    assert given_up.error is not None and given_up.error.endswith("after waiting 2s for it (inputWait)")
    assert given_up.to_api()["state"] == "FAILED" and "waitingFor" not in given_up.to_api()

    (inbox / f"{run.run_time:%Y%m%d}_a.json").write_text('{"instances": [[5.1, 3.5, 1.4, 0.2]]}\n')

    def submitted() -> ScheduleRun | None:
        engine.fire_schedules()
        runs = engine.schedule_runs("waits")
        return runs[0] if runs and runs[0].job_state else None

    done = wait_for(submitted, "the run to be submitted once its input landed", timeout=30)
    assert (done.job_id, done.job_state) == (run.job_id, "QUEUED")
    assert "waitingFor" not in done.to_api() and engine.get_job(run.job_id).prediction_input
    assert len(engine.schedule_runs("waits")) == 1


def test_a_run_left_recorded_by_a_dead_host_is_submitted_by_another(
    engine: Engine, package: list[str]
) -> None:
    from mlnb.store import Database, SchedulesTx

    engine.create_schedule("left", {"interval": "1h", "jobTemplate": template(package)})
    # As a host that recorded the run a minute ago and died before submitting it.
    due = (now() - timedelta(minutes=1)).replace(microsecond=0)
    run = ScheduleRun(run_time=due, job_id=run_job_id("left", due), fire_time=due)
    with Database(engine.settings.database_url).session(write=True) as session:
        SchedulesTx(session).add_run("default", "left", run)
    said = wait_for(engine.fire_schedules, "a host to submit the run left")
    assert said == [f"schedule default/left: submitted {run.job_id}, left by a host"]
    assert engine.schedule_runs("left")[0].job_state == "QUEUED"


def test_a_paused_schedule_holds_its_waiting_run_until_resumed(engine: Engine, tmp_path: Path) -> None:
    from support.model_factory import sklearn_pipeline_dir

    from mlnb.store import Database, SchedulesTx

    engine.create_model("iris")
    engine.create_version("iris", "v1", sklearn_pipeline_dir(tmp_path / "model")[0])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    prediction = {
        "modelName": "iris",
        "dataFormat": "JSON",
        "inputPaths": [str(inbox / "*.json")],
        "outputPath": str(tmp_path / "out" / "{{ job_id }}"),
    }
    spec = {"interval": "1h", "inputWait": "1h", "jobTemplate": {"predictionInput": prediction}}
    queue = engine.create_schedule("held", spec).queue
    # A run that waits for its input, its retry time come.
    due = (now() - timedelta(minutes=1)).replace(microsecond=0)
    run = ScheduleRun(run_time=due, job_id=run_job_id("held", due), fire_time=due)
    database = Database(engine.settings.database_url)
    try:
        with database.session(write=True) as session:
            SchedulesTx(session).add_run("default", "held", run)
            SchedulesTx(session).wait_run("default", "held", due, "inputPaths matches no file", due)
        assert engine.schedule_runs("held")[0].state == "WAITING"
        engine.pause_schedule("held")
        (inbox / "a.json").write_text('{"instances": [[5.1, 3.5, 1.4, 0.2]]}\n')
        # Paused, it submits nothing, however late a host asks.
        with database.session() as session:
            later = now() + timedelta(hours=1)
            assert SchedulesTx(session).unsubmitted([queue], later, later) == []
    finally:
        database.dispose()
    engine.resume_schedule("held")
    said = wait_for(engine.fire_schedules, "a host to submit the resumed schedule's waiting run")
    assert said == [f"schedule default/held: submitted {run.job_id}, its input came"]
    assert engine.schedule_runs("held")[0].job_state == "QUEUED"


def test_team_hosts_fire_a_schedule_once_per_run_and_run_its_jobs(
    tmp_path: Path, team_url: str, laptop: Engine, hosts: list[ServiceHost]
) -> None:
    for name in ("host-1", "host-2"):
        hosts.append(ServiceHost(machine(tmp_path, name, team_url)))
    body = {
        "interval": "2s",
        "maxRuns": 3,
        "maxConcurrentRuns": 3,
        "jobTemplate": template(staged_package(laptop, tmp_path), at="{{ run_time | %H%M%S }}"),
    }
    laptop.create_schedule("team_every2", body)
    # The schedule ends as its last run is recorded, before that run's job
    # is submitted: wait for the runs' jobs themselves.
    runs = wait_for(lambda: ended_runs(laptop, "team_every2", 3), "three runs' jobs to end", timeout=120)
    jobs = [laptop.get_job(run.job_id) for run in runs]
    assert [job.state for job in jobs] == ["SUCCEEDED"] * 3, [job.error_message for job in jobs]
    assert [job.labels["at"] for job in jobs] == [f"{run.run_time:%H%M%S}" for run in runs]

    def submitted() -> list[str]:
        return [
            line for host in hosts for line in host.lines if "schedule default/team_every2: submitted" in line
        ]

    said = wait_for(
        lambda: submitted() if len(submitted()) >= 3 else None, "the hosts to say what they submitted"
    )
    assert sorted(line.rsplit(" ", 1)[1] for line in said) == sorted(run.job_id for run in runs)
    assert not (laptop.settings.paths.run / "jobhost.log").exists()  # the laptop started no host


def test_the_on_demand_host_fires_a_machines_schedule(home: Path, tmp_path: Path) -> None:
    engine = Engine(support_jobs.job_settings(home))
    try:
        body = {
            "interval": "2s",
            "maxRuns": 2,
            "maxConcurrentRuns": 2,
            "jobTemplate": template(staged_package(engine, tmp_path)),
        }
        engine.create_schedule("local", body)
        runs = wait_for(lambda: ended_runs(engine, "local", 2), "two runs' jobs to end", timeout=120)
        assert engine.get_schedule("local").state == "ENDED"
        jobs = [engine.get_job(run.job_id) for run in runs]
        assert [job.state for job in jobs] == ["SUCCEEDED"] * 2
    finally:
        support_jobs.cancel_and_close(engine)


def _host_in(run: Path) -> int | None:
    """The pid of the job host whose working folder is ``run``, if one runs."""
    for proc in Path("/proc").iterdir():
        try:
            ours = proc.name.isdigit() and os.readlink(proc / "cwd") == str(run)
            if ours and _running(int(proc.name)) and b"mlnb.job_host" in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    return None


def _holds(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` holds ``folder`` open (a job host does once it serves)."""
    try:
        return any(os.readlink(fd) == str(folder) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a host that left and was not waited for yet is a zombie


def test_an_on_demand_host_kept_by_a_schedule_leaves_when_its_home_is_deleted(tmp_path: Path) -> None:
    home = tmp_path / "home-to-delete"
    # Idle for ten minutes before it would leave: only the home's deletion ends it here.
    engine = Engine(support_jobs.job_settings(home, job_host_idle_s=600.0))
    run = engine.settings.paths.run
    try:
        refused = {"predictionInput": {"modelName": "nothing", "inputPaths": ["x.json"], "outputPath": "out"}}
        engine.create_schedule("daily", {"interval": "1d", "jobTemplate": refused})
        pid = wait_for(lambda: _host_in(run), "the machine's on-demand host to start")
        wait_for(lambda: _holds(pid, run), "the host to be serving (holding its run folder)")
    finally:
        engine.close()
    # An active schedule keeps an on-demand host; a deleted home does not.
    shutil.rmtree(home)
    wait_for(lambda: not _running(pid), "the host of the deleted home to leave", timeout=60)


def test_a_schedule_tells_of_runs_missed_and_refused(home: Path, tmp_path: Path) -> None:
    from support.smtp import SmtpListener
    from support.webhooks import WebhookListener

    hook, smtp = WebhookListener(), SmtpListener()
    engine = Engine(support_jobs.job_settings(home, job_host="service", smtp_url=smtp.url))
    try:
        package = staged_package(engine, tmp_path)
        start = (now() + timedelta(seconds=1)).replace(microsecond=0)
        end = start + timedelta(seconds=1.5)  # two due times: start, start + 1 s
        missed = {
            "interval": "1s",
            "startTime": start.isoformat(),
            "endTime": end.isoformat(),
            "missedRuns": "SKIP",
            "missedAfter": "1s",
            "notifications": {"webhook": hook.url},
            "jobTemplate": template(package),
        }
        engine.create_schedule("missed", missed)
        refused = {
            "interval": "1s",
            "notifications": {"email": ["team@example.com"], "on": ["REFUSED"]},
            "jobTemplate": template(package, at="{{ run_time }}"),  # a label the rules refuse
        }
        engine.create_schedule("refused", refused)
        with pytest.raises(InvalidArgument, match=r"notifications\.on lists events among MISSED, REFUSED"):
            bad = {"interval": "1h", "notifications": {"on": ["SUCCEEDED"]}, "jobTemplate": template(package)}
            engine.create_schedule("bad", bad)
        wait_for(lambda: now() > end + timedelta(seconds=1.5), "the first schedule's due times to be missed")
        engine.fire_schedules()
        (told,) = wait_for(lambda: hook.received or None, "the webhook to hear of the missed runs")
        assert told["event"] == "MISSED" and told["schedule"] == "missed" and told["skipped"] == 2
        assert told["text"].startswith("mlnb: schedule missed (default) MISSED: 2 due time(s) passed")
        (mail,) = wait_for(lambda: smtp.received or None, "the e-mail of the refused run")
        assert mail["To"] == "team@example.com"
        assert mail["Subject"].startswith("mlnb: schedule refused (default) REFUSED: The run due ")
        assert "Label 'at' has value" in mail.get_payload()
    finally:
        support_jobs.cancel_and_close(engine)
        hook.close()
        smtp.close()


@pytest.fixture
def server(engine: Engine) -> Iterator[str]:
    yield from serve(engine.settings)


def test_rest_speaks_projects_schedules(server: str, package: list[str]) -> None:
    base = "/v1/projects/default/schedules"
    body = {"interval": "6h", "description": "nightly-ish", "jobTemplate": template(package)}
    if True:
        status, made = call_http(server, "POST", f"{base}?scheduleId=nightly", body)
        assert status == 200, made
        assert made["name"] == "projects/default/schedules/nightly" and made["interval"] == "21600s"
        assert made["state"] == "ACTIVE" and made["nextRunTime"].endswith("Z")
        status, error = call_http(server, "POST", f"{base}?scheduleId=nightly", body)
        assert status == 409 and error["error"]["status"] == "ALREADY_EXISTS"
        status, error = call_http(server, "POST", f"{base}?scheduleId=bad", {**body, "cron": "x"})
        assert status == 400 and "exactly one of cron" in error["error"]["message"]
        status, error = call_http(server, "POST", f"{base}?scheduleId=bad", {**body, "maxRuns": "many"})
        assert status == 400 and "schedule.maxRuns must be" in error["error"]["message"]
        status, listed = call_http(server, "GET", base)
        assert [s["name"] for s in listed["schedules"]] == ["projects/default/schedules/nightly"]
        status, patched = call_http(
            server,
            "PATCH",
            f"{base}/nightly?updateMask=cron,description",
            {"cron": "0 2 * * *", "description": "nightly"},
        )
        assert status == 200 and patched["cron"] == "0 2 * * *" and "interval" not in patched
        assert patched["description"] == "nightly" and patched["nextRunTime"].endswith("T02:00:00Z")
        status, paused = call_http(server, "POST", f"{base}/nightly:pause")
        assert (status, paused["state"]) == (200, "PAUSED")
        status, resumed = call_http(server, "POST", f"{base}/nightly:resume")
        assert (status, resumed["state"]) == (200, "ACTIVE")
        status, job = call_http(server, "POST", f"{base}/nightly:run")
        assert status == 200 and job["jobId"].startswith("nightly_") and job["state"] == "QUEUED"
        status, runs = call_http(server, "GET", f"{base}/nightly/runs")
        assert status == 200 and [r["jobId"] for r in runs["runs"]] == [job["jobId"]]
        assert runs["runs"][0]["state"] == "QUEUED" and runs["runs"][0]["manual"] is True
        status, got = call_http(server, "GET", f"{base}/nightly")
        assert status == 200 and got["recentRuns"][0]["jobId"] == job["jobId"]
        status, error = call_http(server, "POST", f"{base}/nightly:later")
        assert status == 404
        status, _ = call_http(server, "DELETE", f"{base}/nightly")
        assert status == 200
        status, error = call_http(server, "GET", f"{base}/nightly")
        assert status == 404 and error["error"]["status"] == "NOT_FOUND"


@pytest.mark.slow
def test_a_host_back_from_ten_seconds_away_runs_no_backlog(
    tmp_path: Path, team_url: str, laptop: Engine, hosts: list[ServiceHost]
) -> None:
    hosts.append(ServiceHost(machine(tmp_path, "host-1", team_url)))
    body = {
        "interval": "2s",
        "maxConcurrentRuns": 10,
        "missedAfter": "1s",
        "jobTemplate": template(staged_package(laptop, tmp_path)),
    }
    laptop.create_schedule("outage", body)
    wait_for(lambda: laptop.schedule_runs("outage"), "a first run", timeout=120)
    hosts.pop().stop()
    stopped = now()
    before = {run.job_id for run in laptop.schedule_runs("outage")}
    wait_for(lambda: now() > stopped + timedelta(seconds=10), "ten seconds without a host")
    hosts.append(ServiceHost(machine(tmp_path, "host-1", team_url)))
    restarted = now()
    wait_for(
        lambda: any(
            run.run_time > restarted + timedelta(seconds=2) for run in laptop.schedule_runs("outage")
        ),
        "runs after the restart",
        timeout=120,
    )
    runs = sorted(laptop.schedule_runs("outage"), key=lambda r: r.run_time)
    away = [run for run in runs if run.job_id not in before and run.run_time <= restarted]
    # RUN_ONCE: of the five or more due times that passed while no host
    # ran, one ran (late), the others are counted, not run as a burst.
    assert len(away) <= 1, away
    assert laptop.get_schedule("outage").skipped_runs >= 4
    assert all(b.run_time - a.run_time >= timedelta(seconds=2) for a, b in itertools.pairwise(runs))
