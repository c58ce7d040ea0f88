"""The part of the engine that keeps schedules and fires their runs.

A schedule is stored with the queue of the Engine that made it; the job
hosts of that queue fire it (``fire_due``, a chore of every host's loop).
Firing is exactly once across any number of hosts: under the database's
write lock a host re-reads the schedule, records the run keyed by its due
time (a second host finds the next run time moved, and the key taken),
moves the next run time, and only then submits the run's job, named from
the schedule and the due time. A host that dies between the two leaves a
run recorded and unsubmitted, which any host of the queue submits later
(a job of that name found made counts as submitted).

A run whose input is not there yet (``InputMissing``) waits when its
schedule has an ``inputWait``: it stays recorded and unsubmitted, with a
retry time, and any host of the queue tries it again from then on, until
its wait runs out and it is refused like any run whose job cannot be made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from mlnb.config import Settings
from mlnb.durations import format_duration
from mlnb.errors import AlreadyExists, FailedPrecondition, InputMissing, InvalidArgument, MlnbError, NotFound
from mlnb.jobs.service import JobService
from mlnb.naming import validate_labels, validate_name, validate_project
from mlnb.records import JobRecord, ScheduleRecord, ScheduleRun, now
from mlnb.runtime.notifications import SCHEDULE_EVENTS, Channels, Notifications
from mlnb.schedules import Cadence, ScheduleSpec, check_template, fill_template, plan_firing
from mlnb.states import ENDED
from mlnb.store import Database, SchedulesTx

__all__ = ["SchedulesAPI", "run_job_id"]

# A schedule's name leaves room for a run's suffix within a job id's 128.
_MAX_SCHEDULE_NAME = 100
# A run recorded this long ago and still neither submitted nor refused: its
# host died in between, and another submits it.
_ORPHANED_AFTER = timedelta(seconds=30)
# How often a host looks for such runs, and for runs whose retry time came.
_SWEEP_EVERY = timedelta(seconds=5)
# A waiting run is tried again every tenth of its wait, within these.
_RETRY_BOUNDS_S = (5.0, 60.0)
_RECENT_RUNS = 10

# (job id, Job body, queue, project) -> the submitted job.
SubmitJob = Callable[[str, dict[str, Any], str, str], JobRecord]


def run_job_id(schedule: str, run_time: datetime, manual: bool = False) -> str:
    """``{schedule}_{YYYYmmdd_HHMMSS}`` (UTC): one job id per due time (a
    run-now run's ends in ``_now``)."""
    return f"{schedule}_{run_time.astimezone(UTC):%Y%m%d_%H%M%S}" + ("_now" if manual else "")


class SchedulesAPI:
    """Schedules in the metadata store, and their firing.

    Args:
        submit: Submits a run's Job body as ordinary jobs are submitted,
            into the given queue (the schedule's).
        queue: The queue of this engine's submissions: its schedules' too.
    """

    def __init__(
        self, settings: Settings, db: Database, jobs: JobService, submit: SubmitJob, queue: str
    ) -> None:
        self.settings = settings
        self._db = db
        self._jobs = jobs
        self._submit = submit
        self._queue = queue

    # The resource ---------------------------------------------------------

    def create_schedule(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> ScheduleRecord:
        project = self.settings.project_of(project)
        validate_project(project)
        validate_name("schedule", name)
        if len(name) > _MAX_SCHEDULE_NAME:
            raise InvalidArgument(
                f"The schedule name {name[:20]}... is {len(name)} characters long; the most allowed is "
                f"{_MAX_SCHEDULE_NAME} (a run's job id adds its time)"
            )
        labels = dict(labels or body.get("labels") or {})
        validate_labels(labels)
        spec = _checked(ScheduleSpec.from_api(body))
        created = now()
        record = ScheduleRecord(
            project=project,
            name=name,
            spec=spec.to_api(),
            state="ACTIVE",
            create_time=created,
            update_time=created,
            description=str(description or body.get("description") or ""),
            labels=labels,
            queue=self._queue,
            next_run_time=Cadence(spec, created).first(created),
        )
        if record.next_run_time is None:
            record = dataclasses.replace(record, state="ENDED", last_message="Its end time has passed")
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            if tx.get(project, name) is not None:
                raise AlreadyExists(f"A schedule named {name!r} exists already in project {project!r}")
            tx.add(record)
        return record

    def get_schedule(
        self, name: str, *, runs: int = _RECENT_RUNS, project: str | None = None
    ) -> ScheduleRecord:
        project = self.settings.project_of(project)
        with self._db.session() as session:
            tx = SchedulesTx(session)
            record = self._require(tx, project, name)
            newest = tx.runs(project, name, runs)
        return dataclasses.replace(record, recent_runs=tuple(self._with_states(project, newest)))

    def list_schedules(self, *, newest_run: bool = False, project: str | None = None) -> list[ScheduleRecord]:
        project = self.settings.project_of(project)
        with self._db.session() as session:
            tx = SchedulesTx(session)
            records = tx.listed(project)
            newest = tx.newest_runs(project) if newest_run else {}
        if not newest:
            return records
        runs = dict(zip(newest, self._with_states(project, list(newest.values())), strict=True))
        return [dataclasses.replace(r, recent_runs=(runs[r.name],)) if r.name in runs else r for r in records]

    def schedule_runs(self, name: str, *, limit: int = 100, project: str | None = None) -> list[ScheduleRun]:
        project = self.settings.project_of(project)
        with self._db.session() as session:
            tx = SchedulesTx(session)
            self._require(tx, project, name)
            runs = tx.runs(project, name, limit)
        return self._with_states(project, runs)

    def update_schedule(
        self, name: str, body: Mapping[str, Any], update_mask: Iterable[str], *, project: str | None = None
    ) -> ScheduleRecord:
        """Change the fields of ``update_mask`` (``description``, ``labels``,
        and the schedule's own: a changed cadence moves the next run time)."""
        project = self.settings.project_of(project)
        mask = [field.strip() for field in update_mask if field.strip()]
        if not mask:
            raise InvalidArgument("updateMask is required: name the fields to change")
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            record = self._require(tx, project, name)
            changes: dict[str, Any] = {"update_time": now()}
            if "description" in mask:
                changes["description"] = str(body.get("description") or "")
            if "labels" in mask:
                changes["labels"] = validate_labels(dict(body.get("labels") or {}))
            own = [field for field in mask if field not in ("description", "labels")]
            if own:
                spec = _checked(ScheduleSpec.from_api(record.spec).updated(body, own))
                changes["spec"] = spec.to_api()
                if record.state == "ACTIVE" and {
                    "cron",
                    "interval",
                    "timeZone",
                    "startTime",
                    "endTime",
                } & set(own):
                    changes["next_run_time"] = Cadence(spec, record.create_time).first(now())
            record = dataclasses.replace(record, **changes)
            tx.update(record)
        return record

    def delete_schedule(self, name: str, *, project: str | None = None) -> None:
        """Delete a schedule and its run history (its jobs stay)."""
        project = self.settings.project_of(project)
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            self._require(tx, project, name)
            tx.delete(project, name)

    def pause_schedule(self, name: str, *, project: str | None = None) -> ScheduleRecord:
        return self._set_state(name, "PAUSED", project)

    def resume_schedule(self, name: str, *, project: str | None = None) -> ScheduleRecord:
        """Resume a paused schedule: its next run is the first due from now
        (what fell due while it was paused is not run)."""
        return self._set_state(name, "ACTIVE", project)

    def _set_state(self, name: str, state: str, project: str | None) -> ScheduleRecord:
        project = self.settings.project_of(project)
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            record = self._require(tx, project, name)
            if record.state == "ENDED":
                raise FailedPrecondition(
                    f"The schedule {name!r} has ended ({record.last_message or 'its runs are done'}); "
                    "update its endTime or maxRuns, or make a new one"
                )
            if record.state == state:
                return record
            changes: dict[str, Any] = {"state": state, "update_time": now()}
            if state == "ACTIVE":
                changes["next_run_time"] = Cadence(
                    ScheduleSpec.from_api(record.spec), record.create_time
                ).first(now())
            record = dataclasses.replace(record, **changes)
            tx.update(record)
        return record

    def run_schedule(self, name: str, *, project: str | None = None) -> JobRecord:
        """Run the schedule's job now, beside its cadence (whatever its
        state; not counted in ``runCount``).

        Raises:
            AlreadyExists: It was run now in the same second already.
        """
        project = self.settings.project_of(project)
        at = now()
        run = ScheduleRun(run_time=at, job_id=run_job_id(name, at, manual=True), fire_time=at, manual=True)
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            record = self._require(tx, project, name)
            try:
                self._jobs.get_job(project, run.job_id)
            except NotFound:
                tx.add_run(project, name, run)
            else:
                raise AlreadyExists(f"The schedule {name!r} was run now this second already ({run.job_id})")
        # Run now is asked for by someone waiting for the answer: its input
        # is there, or it is refused at once.
        job, error = self._submit_run(record, run, may_wait=False)
        if job is None:
            raise FailedPrecondition(f"The run's job could not be submitted: {error}")
        return job

    # Firing (a job host's chore) -----------------------------------------

    def any_active(self, queues: Iterable[str]) -> bool:
        """Whether ``queues`` have an active schedule (an on-demand host
        stays while its machine has one)."""
        with self._db.session() as session:
            return SchedulesTx(session).any_active(queues)

    def fire_due(self, queues: Iterable[str]) -> list[str]:
        """Fire the due runs of the schedules of ``queues``, and submit the
        runs a dead host left unsubmitted; what was done, in words."""
        queues = list(queues)
        at = now()
        with self._db.session() as session:
            tx = SchedulesTx(session)
            due = tx.due(queues, at)
            left = tx.unsubmitted(queues, at - _ORPHANED_AFTER, at) if self._sweep_due(at) else []
        said = []
        for record in due:
            said.extend(self._fire(record.project, record.name, at))
        for record, run in left:
            job, _ = self._submit_run(record, run)
            if job is not None:
                why = "its input came" if run.waiting_for else "left by a host"
                said.append(f"schedule {record.project}/{record.name}: submitted {run.job_id}, {why}")
        return said

    _last_sweep = datetime.min.replace(tzinfo=UTC)

    def _sweep_due(self, at: datetime) -> bool:
        # Runs left by a dead host are rare, and waiting runs are retried
        # seconds apart: looked for once a sweep period, not every tick.
        if at - self._last_sweep < _SWEEP_EVERY:
            return False
        self._last_sweep = at
        return True

    def _fire(self, project: str, name: str, at: datetime) -> list[str]:
        said: list[str] = []
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            record = tx.get(project, name)  # again, under the write lock: another host may have fired it
            if (
                record is None
                or record.state != "ACTIVE"
                or record.next_run_time is None
                or record.next_run_time > at
            ):
                return said
            spec = ScheduleSpec.from_api(record.spec)
            firing = plan_firing(Cadence(spec, record.create_time), record.next_run_time, at)
            skipped, skip_said = firing.not_run, ""
            if skipped:
                skip_said = f"{skipped} due time(s) passed while no host ran it, not run ({spec.missed_runs})"
            run = None
            if firing.run_time is not None:
                running = self._running_runs(tx, project, name)
                if running >= spec.max_concurrent_runs:
                    skipped += 1
                    skip_said = "; ".join(
                        filter(
                            None,
                            [
                                skip_said,
                                f"the run due {firing.run_time:%Y-%m-%d %H:%M:%S} UTC was skipped: {running} "
                                f"run(s) still running (maxConcurrentRuns {spec.max_concurrent_runs})",
                            ],
                        )
                    )
                else:
                    run = ScheduleRun(
                        run_time=firing.run_time, job_id=run_job_id(name, firing.run_time), fire_time=at
                    )
                    tx.add_run(project, name, run)
            run_count = record.run_count + (1 if run is not None else 0)
            state, next_run, end_said = "ACTIVE", firing.next_run_time, ""
            if next_run is None:
                state, end_said = "ENDED", "Its end time has passed"
            elif spec.max_runs is not None and run_count >= spec.max_runs:
                state, next_run, end_said = "ENDED", None, f"It ran its maxRuns ({spec.max_runs})"
            message = "; ".join(filter(None, [_sentence(skip_said), end_said])) or record.last_message
            record = dataclasses.replace(
                record,
                state=state,
                next_run_time=next_run,
                last_run_time=run.run_time if run is not None else record.last_run_time,
                run_count=run_count,
                skipped_runs=record.skipped_runs + skipped,
                last_message=message,
                update_time=at,
            )
            tx.update(record)
        if skipped:
            said.append(f"schedule {project}/{name}: {_sentence(skip_said)}")
            self._tell(record, "MISSED", _sentence(skip_said), {"skipped": skipped})
        if run is not None and self._submit_run(record, run)[0] is not None:
            said.append(f"schedule {project}/{name}: submitted {run.job_id}")
        if state == "ENDED":
            said.append(f"schedule {project}/{name} ended: {end_said}")
        return said

    def _running_runs(self, tx: SchedulesTx, project: str, name: str) -> int:
        runs = tx.runs(project, name, limit=100)
        states = [run.state for run in self._with_states(project, runs)]
        return sum(1 for state in states if state is not None and state not in ENDED)

    def _submit_run(
        self, record: ScheduleRecord, run: ScheduleRun, may_wait: bool = True
    ) -> tuple[JobRecord | None, str | None]:
        """Submit a recorded run's job: the job, or why it could not be (kept
        with the run, and said in the schedule). A run whose input is not
        there yet waits, while its schedule's ``inputWait`` lasts."""
        spec = ScheduleSpec.from_api(record.spec)
        values = {
            "run_time": run.run_time,
            "last_success_time": self._last_success(record, spec),
            "schedule": record.name,
            "job_id": run.job_id,
            "run_number": record.run_count,
        }
        error: str | None = None
        job: JobRecord | None = None
        try:
            body = fill_template(spec.job_template, values, spec.zone)
            job = self._submit(run.job_id, body, record.queue or self._queue, record.project)
        except AlreadyExists:
            job = self._jobs.get_job(record.project, run.job_id)  # another host submitted it
        except InputMissing as e:
            error = e.message
            waited = (now() - run.fire_time).total_seconds()
            if may_wait and waited < spec.input_wait_s:
                self._wait(record, run, e.message, spec.input_wait_s)
                return None, error
            if spec.input_wait_s and may_wait:
                error = f"{error}, after waiting {format_duration(spec.input_wait_s)} for it (inputWait)"
        except MlnbError as e:
            error = e.message
        said = f"The run due {run.run_time:%Y-%m-%d %H:%M:%S} UTC could not submit its job: {error}"
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            tx.settle_run(record.project, record.name, run.run_time, error)
            if error is not None:
                current = tx.get(record.project, record.name)
                if current is not None:
                    tx.update(dataclasses.replace(current, last_message=said))
        if error is not None:
            self._tell(record, "REFUSED", said, {"jobId": run.job_id, "errorMessage": error})
        return job, error

    def _wait(self, record: ScheduleRecord, run: ScheduleRun, reason: str, wait_s: float) -> None:
        """Keep the run waiting for its input, and say so in the schedule
        (once: not at every retry)."""
        low, high = _RETRY_BOUNDS_S
        until = run.fire_time + timedelta(seconds=wait_s)
        retry = min(now() + timedelta(seconds=min(max(wait_s / 10, low), high)), until)
        said = (
            f"The run due {run.run_time:%Y-%m-%d %H:%M:%S} UTC waits for its input until "
            f"{until:%Y-%m-%d %H:%M:%S} UTC: {reason}"
        )
        with self._db.session(write=True) as session:
            tx = SchedulesTx(session)
            tx.wait_run(record.project, record.name, run.run_time, reason, retry)
            current = tx.get(record.project, record.name)
            if current is not None and current.last_message != said:
                tx.update(dataclasses.replace(current, last_message=said))

    def _tell(self, record: ScheduleRecord, event: str, message: str, details: dict[str, Any]) -> None:
        """Tell the schedule's notifications (or the host's) of ``event``,
        on a thread of its own: a slow webhook or mail server never holds
        up a host's loop."""
        channels = Channels.of(self.settings)
        try:
            notifications = Notifications.from_api(
                record.spec.get("notifications"), channels, SCHEDULE_EVENTS, SCHEDULE_EVENTS
            )
        except MlnbError:
            return  # refused when the schedule was made or changed
        text = f"mlnb: schedule {record.name} ({record.project}) {event}: {message}"
        body = {"project": record.project, "schedule": record.name, **details}
        notifications.tell_aside(event, text, body, channels)

    def _last_success(self, record: ScheduleRecord, spec: ScheduleSpec) -> datetime:
        with self._db.session() as session:
            runs = SchedulesTx(session).runs(record.project, record.name, limit=50)
        for run in self._with_states(record.project, runs):
            if run.job_state == "SUCCEEDED":
                return run.run_time
        return spec.start_time or record.create_time

    def _with_states(self, project: str, runs: list[ScheduleRun]) -> list[ScheduleRun]:
        """The runs with their jobs' states (a job whose host died as ended),
        read at once; a run recorded whose job is not made yet has none."""
        jobs = self._jobs.jobs_named(project, [run.job_id for run in runs if run.error is None])
        return [
            dataclasses.replace(run, job_state=jobs[run.job_id].state.value if run.job_id in jobs else None)
            for run in runs
        ]

    def _require(self, tx: SchedulesTx, project: str, name: str) -> ScheduleRecord:
        validate_name("schedule", name)
        record = tx.get(project, name)
        if record is None:
            raise NotFound(f"No schedule named {name!r} in project {project!r}")
        return record


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _checked(spec: ScheduleSpec) -> ScheduleSpec:
    """``spec``, its template filled once with sample values: a parameter
    it cannot fill is refused when the schedule is made or changed."""
    check_template(spec.job_template, spec.zone)
    return spec
