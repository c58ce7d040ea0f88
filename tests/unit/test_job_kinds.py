"""The registry of job kinds: built-ins by name, a kind added by one
registration, and the messages for a kind that is missing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlnb.config import Settings
from mlnb.errors import InvalidArgument
from mlnb.jobs.kinds import JobKindRegistry
from mlnb.records import JobRecord
from mlnb.runtime import JobContext, LogWriter, Outcome
from mlnb.states import JobKind, JobState
from mlnb.training import TrainingExecution


@pytest.fixture
def log(tmp_path: Path) -> Iterator[LogWriter]:
    writer = LogWriter(tmp_path / "log.jsonl")
    yield writer
    writer.close()


def context(log: LogWriter, kind: str, **inputs: object) -> JobContext:
    job = JobRecord("p", "j", kind, JobState.QUEUED, datetime.now(UTC), **inputs)  # type: ignore[arg-type]
    home = log.path.parent
    return JobContext(job, Settings.resolve(env={}, home=str(home)), log, home / "job")


def test_the_built_in_kinds_are_registered_by_name() -> None:
    assert JobKindRegistry().names()[:4] == ["training", "tuning", "prediction", "notebook"]
    assert [str(k) for k in JobKind] == ["training", "tuning", "prediction", "notebook"]


def test_a_built_in_kind_makes_its_execution(log: LogWriter, tmp_path: Path) -> None:
    made = JobKindRegistry().create_execution(
        context(log, "training", training_input={"pythonModule": "trainer.task"})
    )
    assert isinstance(made, TrainingExecution)
    assert made.workdir == tmp_path / "job" / "work"


def test_a_kind_is_one_registration(log: LogWriter) -> None:
    class Finished:
        def __init__(self, context: JobContext) -> None:
            self.context = context

        def poll(self) -> Outcome:
            return Outcome(JobState.SUCCEEDED)

    registry = JobKindRegistry()
    registry.register("finished", execution=Finished)  # type: ignore[arg-type]
    made = registry.create_execution(context(log, "finished"))
    assert isinstance(made, Finished) and made.context.job.kind == "finished"
    assert "finished" in registry.names()


def test_an_unknown_kind_names_the_kinds_there_are(log: LogWriter) -> None:
    with pytest.raises(
        InvalidArgument, match="This mlnb cannot run dataflow jobs; it runs: training, tuning"
    ):
        JobKindRegistry().create_execution(context(log, "dataflow"))


def test_records_carry_the_enums_and_answer_plain_strings() -> None:
    job = JobRecord("p", "j", JobKind.TUNING, JobState.RUNNING, datetime.now(UTC))
    body = job.to_api()
    assert type(body["state"]) is str and body["state"] == "RUNNING"
    assert job.state == "RUNNING" and job.kind == "tuning"


def test_the_elapsed_time_runs_from_the_start_or_the_creation_to_the_end() -> None:
    created = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    waiting = JobRecord("p", "j", JobKind.TRAINING, JobState.QUEUED, created)
    assert waiting.elapsed_s(at=created.replace(second=30)) == 30.0
    started = created.replace(minute=1)
    running = JobRecord("p", "j", JobKind.TRAINING, JobState.RUNNING, created, start_time=started)
    assert running.elapsed_s(at=started.replace(second=5)) == 5.0
    ended = JobRecord(
        "p",
        "j",
        JobKind.TRAINING,
        JobState.SUCCEEDED,
        created,
        start_time=started,
        end_time=started.replace(second=9),
    )
    assert ended.elapsed_s(at=started.replace(minute=30)) == 9.0


def test_a_kind_without_a_spec_keeps_its_input_as_given() -> None:
    registry = JobKindRegistry()
    registry.register("report", execution=TrainingExecution.for_job)
    assert registry.check_input("report", {"pages": [1, 2]}) == {"pages": [1, 2]}
    with pytest.raises(InvalidArgument, match="jobInput must be an object, got str"):
        registry.check_input("report", "pages")


def test_a_kinds_name_follows_the_rule_and_is_no_built_ins() -> None:
    registry = JobKindRegistry()
    for bad in ("Report", "1report", "re port", "r" * 65, ""):
        with pytest.raises(InvalidArgument, match="A job kind's name is a lowercase letter"):
            registry.register(bad, execution=TrainingExecution.for_job)
    with pytest.raises(InvalidArgument, match="'training' is a built-in job kind"):
        registry.register("training", execution=TrainingExecution.for_job)
    with pytest.raises(InvalidArgument, match="notebook jobs take their own input, not jobInput"):
        registry.check_input("notebook", {})
    registry.register("r" * 64, execution=TrainingExecution.for_job)


def test_an_abandoned_hook_gets_the_settings_if_it_takes_them(tmp_path: Path) -> None:
    seen: list[object] = []

    def documented(job: JobRecord, database: object) -> str:
        seen.append(("two", job.job_id))
        return "undone"

    def with_settings(job: JobRecord, database: object, settings: Settings) -> str:
        seen.append(("three", settings.notify_webhook))
        raise RuntimeError("the store is away")

    class Finished:
        def __init__(self, context: JobContext) -> None: ...

    registry = JobKindRegistry()
    registry.register("documented", execution=Finished, abandoned=documented)  # type: ignore[arg-type]
    registry.register("with_settings", execution=Finished, abandoned=with_settings)  # type: ignore[arg-type]
    settings = Settings.resolve(env={}, home=str(tmp_path), notify_webhook="http://127.0.0.1:9/hook")
    job = JobRecord("p", "j", "documented", JobState.FAILED, datetime.now(UTC))
    assert registry.abandoned(job, None, settings) == "undone"  # type: ignore[arg-type]
    failing = JobRecord("p", "k", "with_settings", JobState.FAILED, datetime.now(UTC))
    said = registry.abandoned(failing, None, settings)  # type: ignore[arg-type]
    assert said == "cleaning up after it failed: RuntimeError: the store is away"
    assert seen == [("two", "j"), ("three", "http://127.0.0.1:9/hook")]
