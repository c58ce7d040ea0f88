"""ML Engine's ``trainingInput.scheduling``: a job past its maxRunningTime is
stopped and FAILED, one not started within its maxWaitTime is FAILED, a
higher priority starts first among queued jobs, and a queued job says
where it stands (``jobPosition``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import jobs as support_jobs
from support import trainers
from support.waiting import wait_for

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import InvalidArgument
from mlnb.jobs import JobService
from mlnb.records import JobRecord, now
from mlnb.states import JobKind, JobState
from mlnb.store import Database

pytestmark = pytest.mark.integration

LONG = ["--steps", "600", "--sleep", "0.1"]
SHORT = ["--steps", "2", "--sleep", "0.05"]


@pytest.fixture
def settings(home: Path) -> Settings:
    return support_jobs.job_settings(home, max_running_jobs=1)  # one slot: jobs queue


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = Engine(settings)
    yield engine
    support_jobs.cancel_and_close(engine)


@pytest.fixture
def trainer(tmp_path: Path) -> Path:
    return trainers.write_trainer(tmp_path / "src")


def submit(
    engine: Engine, trainer: Path, job_id: str, args: list[str], scheduling: dict[str, object]
) -> None:
    engine.submit_training_job(
        job_id, {"scheduling": scheduling}, package_path=trainer, module_name="trainer.task", args=args
    )


def test_a_job_past_its_max_running_time_is_stopped(engine: Engine, trainer: Path) -> None:
    submit(engine, trainer, "bounded", LONG, {"maxRunningTime": "2s"})
    job = engine.wait_job("bounded", timeout=120)
    assert job.state == "FAILED"
    assert job.error_message == "The job ran longer than its maxRunningTime (2s); its processes were stopped"
    assert job.start_time is not None and job.end_time is not None
    assert (job.end_time - job.start_time).total_seconds() < 30  # not the minute the trainer wanted


def test_waiting_past_max_wait_time_fails_and_priority_goes_first(engine: Engine, trainer: Path) -> None:
    submit(engine, trainer, "holder", LONG, {})
    engine.submit_training_job("holder_check", package_path=trainer, module_name="trainer.task", args=SHORT)
    submit(engine, trainer, "impatient", SHORT, {"maxWaitTime": "1s"})
    submit(engine, trainer, "low", SHORT, {"priority": 0})
    submit(engine, trainer, "high", SHORT, {"priority": 900})
    impatient = engine.wait_job("impatient", timeout=120)
    assert impatient.state == "FAILED"
    assert impatient.error_message == "The job did not start within its maxWaitTime (1s)"
    engine.cancel_job("holder")
    jobs = {j: engine.wait_job(j, timeout=120) for j in ("holder_check", "low", "high")}
    assert all(job.state == "SUCCEEDED" for job in jobs.values()), jobs
    starts = {j: job.start_time for j, job in jobs.items()}
    # One slot: the priority-900 job started before the older jobs of priority 0.
    assert starts["high"] < starts["holder_check"] and starts["high"] < starts["low"]  # type: ignore[operator]
    assert starts["holder_check"] < starts["low"]  # type: ignore[operator]


def test_a_bad_scheduling_is_refused_at_submission(engine: Engine, trainer: Path) -> None:
    with pytest.raises(InvalidArgument, match="priority must be a whole number from 0 to 1000"):
        submit(engine, trainer, "bad_1", SHORT, {"priority": 2000})
    with pytest.raises(InvalidArgument, match="is not a duration"):
        submit(engine, trainer, "bad_2", SHORT, {"maxRunningTime": "soon"})
    with pytest.raises(InvalidArgument, match="unknown field"):
        submit(engine, trainer, "bad_3", SHORT, {"maxRetries": 3})
    assert engine.list_jobs() == []


def test_queued_jobs_stand_in_priority_order_and_expire(settings: Settings) -> None:
    # No host here: the jobs wait in the queue as they would for a team's hosts.
    database = Database(settings.database_url)
    service = JobService(database, 30.0, "machine-a")

    def queued(job_id: str, scheduling: dict[str, object]) -> JobRecord:
        return service.create_job(
            JobRecord(
                project="p",
                job_id=job_id,
                kind=JobKind.TRAINING,
                state=JobState.QUEUED,
                create_time=now() - timedelta(seconds=10),
                training_input={"pythonModule": "x", "scheduling": scheduling},
            )
        )

    queued("first", {})
    queued("urgent", {"priority": 500})
    queued("expiring", {"maxWaitTime": "5s"})
    queued("last", {"priority": 0, "maxWaitTime": "1h"})
    order = [j.job_id for j in service.waiting([service.queue])]
    assert order == ["urgent", "first", "expiring", "last"]
    assert [service.position(service.get_job("p", j)) for j in order] == [1, 2, 3, 4]
    (expired,) = service.expire_waiting([service.queue])
    assert expired.job_id == "expiring" and expired.state == JobState.FAILED
    assert expired.error_message == "The job did not start within its maxWaitTime (5s)"
    assert service.position(service.get_job("p", "last")) == 3
    assert replace(service.get_job("p", "urgent"), job_position=1).to_api()["jobPosition"] == "1"
    database.dispose()


def test_a_jobs_webhook_hears_of_its_end(engine: Engine, trainer: Path, tmp_path: Path) -> None:
    from support.waiting import wait_for
    from support.webhooks import WebhookListener

    listener = WebhookListener()
    try:
        body = {
            "notifications": {"webhook": listener.url, "on": ["FAILED"]},
            "scheduling": {"maxRunningTime": "1s"},
        }
        engine.submit_training_job("told", body, package_path=trainer, module_name="trainer.task", args=LONG)
        engine.submit_training_job(
            "quiet", {"notifications": {"webhook": listener.url, "on": ["FAILED"]}},
            package_path=trainer, module_name="trainer.task", args=SHORT,
        )  # fmt: skip
        assert engine.wait_job("told", timeout=120).state == "FAILED"
        assert engine.wait_job("quiet", timeout=120).state == "SUCCEEDED"
        (sent,) = wait_for(lambda: listener.received or None, "the webhook's one notification")
        assert sent["jobId"] == "told" and sent["state"] == "FAILED"
        assert sent["text"].startswith("mlnb: job told (default) FAILED after ")
        assert sent["text"].endswith(
            "The job ran longer than its maxRunningTime (1s); its processes were stopped"
        )
        # A host whose configuration names a webhook tells it of every job that names none.
        told_all = Engine(
            home=str(tmp_path / "other"),
            notify_webhook=listener.url,
            job_heartbeat_s=0.2,
            job_host_idle_s=3.0,
        )
        try:
            told_all.submit_training_job(
                "plain", package_path=trainer, module_name="trainer.task", args=SHORT
            )
            assert told_all.wait_job("plain", timeout=120).state == "SUCCEEDED"
        finally:
            told_all.close()
        wait_for(lambda: len(listener.received) == 2, "the second notification")
        assert listener.received[1]["jobId"] == "plain" and listener.received[1]["state"] == "SUCCEEDED"
        logs = [e.message for e in engine.job_logs("told")]
        assert "Notified of the job's end the webhook: delivered" in logs
    finally:
        listener.close()
    with pytest.raises(InvalidArgument, match=r"notifications\.webhook must be an http"):
        engine.submit_training_job(
            "bad_hook",
            {"notifications": {"webhook": "ftp://x"}},
            package_path=trainer,
            module_name="trainer.task",
        )


def test_a_failed_run_is_retried_with_backoff_each_attempt_kept(
    engine: Engine, trainer: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt-was-here"
    body = {"retries": {"maxRetries": 2, "backoff": "0.5s"}}
    engine.submit_training_job(
        "flaky",
        body,
        package_path=trainer,
        module_name="trainer.task",
        args=[*SHORT, "--fail-first", str(marker)],
    )
    job = engine.wait_job("flaky", timeout=120)
    assert job.state == "SUCCEEDED", job.error_message
    assert job.progress is not None and job.progress["attempt"] == 2
    (first,) = job.progress["attempts"]
    assert first["attempt"] == 1 and "failing the first attempt" in first["error"], first
    logs = [e.message for e in engine.job_logs("flaky")]
    assert any(m.startswith("Attempt 1 of 3 failed: ") for m in logs) and "Attempt 2 of 3" in logs
    # Every attempt failing: the last error, after 1 + maxRetries attempts.
    engine.submit_training_job(
        "broken", {"retries": {"maxRetries": 1, "backoff": "0.2s"}},
        package_path=trainer, module_name="trainer.task", args=[*SHORT, "--exit", "4"],
    )  # fmt: skip
    broken = engine.wait_job("broken", timeout=120)
    assert broken.state == "FAILED" and broken.progress is not None and broken.progress["attempt"] == 2
    assert len(broken.progress["attempts"]) == 1
    with pytest.raises(InvalidArgument, match="maxRetries must be a whole number from 0 to 10"):
        engine.submit_training_job(
            "bad_retries", {"retries": {"maxRetries": 50}}, package_path=trainer, module_name="trainer.task"
        )


def test_a_jobs_addresses_hear_of_its_end_by_email(home: Path, trainer: Path) -> None:
    from support.smtp import SmtpListener
    from support.waiting import wait_for

    smtp = SmtpListener()
    engine = Engine(support_jobs.job_settings(home, smtp_url=smtp.url, smtp_from="ml@example.com"))
    try:
        body = {"notifications": {"email": ["team@example.com", "lead@example.com"]}}
        engine.submit_training_job(
            "mailed", body, package_path=trainer, module_name="trainer.task", args=SHORT
        )
        assert engine.wait_job("mailed", timeout=120).state == "SUCCEEDED"
        (mail,) = wait_for(lambda: smtp.received or None, "the e-mail")
        assert mail["To"] == "team@example.com, lead@example.com" and mail["From"] == "ml@example.com"
        assert mail["Subject"].startswith("mlnb: job mailed (default) SUCCEEDED after ")
        assert "jobId: mailed" in mail.get_payload()
        # The runner says so once the server took the mail: maybe a moment after it did.
        said = "Notified of the job's end team@example.com, lead@example.com: delivered"
        wait_for(
            lambda: said in [e.message for e in engine.job_logs("mailed")], "the delivery in the job's log"
        )
        with pytest.raises(InvalidArgument, match=r"notifications\.email lists e-mail addresses"):
            engine.submit_training_job(
                "bad_mail", {"notifications": {"email": ["not an address"]}}, package_path=trainer,
                module_name="trainer.task",
            )  # fmt: skip
    finally:
        support_jobs.cancel_and_close(engine)
        smtp.close()


def test_jobs_that_ask_for_gpus_wait_for_free_ones_and_see_only_theirs(
    home: Path, trainer: Path, tmp_path: Path
) -> None:
    import json

    from support.waiting import wait_for

    # Two GPUs by configuration (this machine may have none): the queue
    # counts them as it would nvidia-smi's.
    engine = Engine(support_jobs.job_settings(home, max_running_jobs=4, gpus="0,1"))

    def seen_each(job_id: str) -> list[str]:
        lines = [e.message for e in engine.job_logs(job_id) if e.message.startswith("ENV ")]
        return [json.loads(line[4:])["cuda"] for line in lines]

    def seen(job_id: str) -> str | None:
        return next(iter(seen_each(job_id)), None)

    def submit_gpu(job_id: str, args: list[str], count: int = 1, **options: Any) -> None:
        accelerator = {"count": count, "type": "NVIDIA_TESLA_T4"}
        body = {
            "scaleTier": "CUSTOM",
            "masterType": "n1-standard-4",
            "masterConfig": {"acceleratorConfig": accelerator},
            **options,
        }
        engine.submit_training_job(job_id, body, package_path=trainer, module_name="trainer.task", args=args)

    held = ["--steps", "6000", "--sleep", "0.1"]  # ten minutes: held until cancelled
    try:
        submit_gpu("gpu_a", held)
        submit_gpu("gpu_b", held)
        devices = {j: wait_for(lambda j=j: seen(j), f"{j} to start") for j in ("gpu_a", "gpu_b")}
        assert sorted(devices.values()) == ["0", "1"]  # one each, never the same
        submit_gpu("gpu_c", SHORT)
        engine.submit_training_job("cpu_d", package_path=trainer, module_name="trainer.task", args=SHORT)
        assert engine.wait_job("cpu_d", timeout=120).state == "SUCCEEDED"  # a CPU job is not held up
        wait_for(
            lambda: any("it needs 1 of the GPUs 0, 1 free" in e.message for e in engine.job_logs("gpu_c")),
            "gpu_c to wait for a GPU",
        )
        assert engine.get_job("gpu_c").state == "QUEUED"
        engine.cancel_job("gpu_a")
        done = engine.wait_job("gpu_c", timeout=120)
        assert done.state == "SUCCEEDED" and seen("gpu_c") == devices["gpu_a"]  # the GPU gpu_a let go
        # A job run again after a failed attempt keeps the GPU it holds.
        first = tmp_path / "gpu_retry.first"
        submit_gpu(
            "gpu_retry", [*SHORT, "--fail-first", str(first)], retries={"maxRetries": 1, "backoff": "0.1s"}
        )
        again = engine.wait_job("gpu_retry", timeout=120)
        attempts = seen_each("gpu_retry")
        assert again.state == "SUCCEEDED" and len(attempts) == 2 and attempts[0] == attempts[1] is not None
        submit_gpu("gpu_many", SHORT, count=3)
        refused = engine.wait_job("gpu_many", timeout=120)
        assert refused.state == "FAILED"
        assert (
            refused.error_message
            == "The job asks for 3 GPU(s); this machine gives jobs 2 (0, 1: the gpus setting)"
        )
    finally:
        support_jobs.cancel_and_close(engine)


def test_a_batch_prediction_job_takes_scheduling_as_any_job(
    engine: Engine, trainer: Path, tmp_path: Path
) -> None:
    from support.model_factory import sklearn_pipeline_dir

    model_dir = sklearn_pipeline_dir(tmp_path / "model")[0]
    (tmp_path / "rows.json").write_text("[5.1, 3.5, 1.4, 0.2]\n")

    def batch(job_id: str, scheduling: dict[str, object]) -> JobRecord:
        return engine.submit_prediction_job(
            job_id,
            {"scheduling": scheduling},
            model_dir=model_dir,
            input_paths=[tmp_path / "rows.json"],
            output_path=tmp_path / "out" / job_id,
            data_format="JSON",
        )

    with pytest.raises(InvalidArgument, match="priority must be a whole number from 0 to 1000"):
        batch("bad_batch", {"priority": 2000})
    submit(engine, trainer, "holder", LONG, {})  # the one slot, taken before the batch job comes
    wait_for(lambda: engine.get_job("holder").state == "RUNNING", "the holder to run")
    waiting = batch("impatient_batch", {"maxWaitTime": "1s", "priority": 10})
    assert waiting.prediction_input is not None
    assert waiting.prediction_input["scheduling"] == {"maxWaitTime": "1s", "priority": 10}
    impatient = engine.wait_job("impatient_batch", timeout=120)
    assert impatient.state == "FAILED"
    assert impatient.error_message == "The job did not start within its maxWaitTime (1s)"
