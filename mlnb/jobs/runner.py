"""A job's runner: waits for a slot in the queue, prepares and runs the
job's processes, sends heartbeats, obeys cancellation, and records the end
state. Runners are threads of the job host (``mlnb.jobs.host``); whatever
happens to one, its job ends: its own errors are recorded as FAILED, and if
the host dies its lease runs out and the job is ended at the next explicit
reap (``JobService.reap``). A runner whose host lost the lease stops the
job's processes and records nothing: the job is no longer its to end.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, MlnbError
from mlnb.jobs.kinds import job_kinds
from mlnb.jobs.paths import job_home, log_path
from mlnb.jobs.scheduling import Retries, Scheduling
from mlnb.jobs.service import JobService, LeaseLost
from mlnb.jobs.states import JobState
from mlnb.records import JobRecord, format_time, now
from mlnb.runtime.execution import Execution, JobContext
from mlnb.runtime.logs import LogWriter, StoredLog
from mlnb.runtime.notifications import Channels, Notifications
from mlnb.runtime.periodic import repeating
from mlnb.runtime.replicas import machine_gpus
from mlnb.states import JobKind

if TYPE_CHECKING:
    from mlnb.runtime.dask_cluster import DaskSession

_POLL_S = 0.1


class Runner:
    """Runs one job to its end."""

    def __init__(
        self,
        settings: Settings,
        service: JobService,
        project: str,
        job_id: str,
        stopping: threading.Event,
        holder: str,
        draining: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.project = project
        self.job_id = job_id
        self.service = service
        self.stopping = stopping  # the host stops: stop the job's processes
        self.draining = draining or stopping  # the host drains: start nothing new
        self.holder = holder
        self.log = LogWriter(
            log_path(settings.home, project, job_id), store=StoredLog(service.db, project, job_id)
        )
        self.session: DaskSession | None = None
        self.execution: Execution | None = None
        self._last_beat = 0.0
        self._gpus_ahead: dict[tuple[str, str, datetime], int] = {}
        self._attempts: list[dict[str, Any]] = []  # the failed attempts of a job with retries

    def run(self) -> JobRecord:
        """Run the job to its end; every failure of the runner ends it FAILED."""
        try:
            return self._run()
        except LeaseLost as e:
            return self._let_go(e)
        except BaseException as e:  # the runner's boundary: every failure ends the job
            self.log.service(f"The job's runner failed:\n{traceback.format_exc()}")
            message = f"The job's runner failed: {type(e).__name__}: {e}"
            try:
                return self._end(JobState.FAILED, message)
            except LeaseLost as lost:
                return self._let_go(lost)
        finally:
            self.close()

    def _let_go(self, lost: LeaseLost) -> JobRecord:
        if self.execution is not None:
            self.execution.stop(0.0)
        self.log.service(f"This host stopped the job's processes: {lost.message}")
        return self.service.get_job(self.project, self.job_id)

    def _run(self) -> JobRecord:
        self._job = self.service.get_job(self.project, self.job_id)
        job = self._wait_for_slot()
        if job.state != JobState.PREPARING:
            self.log.service(f"Job ended while queued: {job.state}")
            return job
        self._job = job  # as claimed: with the GPUs it holds, which every attempt runs on
        self.log.service("Preparing the job")
        try:
            # Preparing may take minutes (building and installing packages):
            # heartbeats go on meanwhile, or readers would take the job for dead.
            with self._beating():
                self.session = self._connect(job.cluster or self.settings.dask_scheduler)
                execution = self._new_execution()
                execution.prepare()
        except MlnbError as e:
            return self._end(JobState.FAILED, e.message)
        if self._beat(force=True).state == JobState.CANCELLING:
            return self._end(JobState.CANCELLED)
        try:
            # Starting may wait for a cluster to place the replicas: the job
            # is RUNNING once they run, and heartbeats go on meanwhile.
            with self._beating():
                execution.start()
            if not self._mark_running():
                execution.stop(self.settings.cancel_grace_s)
                return self._end(JobState.CANCELLED)
            return self._watch(execution)
        except MlnbError as e:
            execution.stop(0.0)
            return self._end(JobState.FAILED, e.message)
        except BaseException:
            execution.stop(0.0)
            raise

    def _new_execution(self) -> Execution:
        """A fresh execution of the job as claimed, by its kind."""
        job = self._job
        home = job_home(self.settings.home, job.project, job.job_id)
        context = JobContext(job, self.settings, self.log, home, self.session, self.service.db)
        self.execution = job_kinds.create_execution(context)
        return self.execution

    def _mark_running(self) -> bool:
        """RUNNING, unless a cancel came while the processes started (``False``)."""
        try:
            self.service.transition(self.project, self.job_id, JobState.RUNNING, holder=self.holder)
        except LeaseLost:
            raise
        except FailedPrecondition:
            if self._beat(force=True).state == JobState.CANCELLING:
                return False
            raise
        self.log.service("Job is running")
        return True

    def _beating(self) -> contextlib.AbstractContextManager[None]:
        """Send heartbeats from a thread while the block runs."""

        def beat() -> bool:
            try:
                self.service.heartbeat(self.project, self.job_id, self.holder)
            except LeaseLost:
                return False  # the beat after the block finds it out and lets go
            except MlnbError as e:  # a database hiccup: the next beat may pass
                self.log.service(f"A heartbeat failed: {e.message}")
            return True

        return repeating(self.settings.job_heartbeat_s, beat, f"beat-{self.job_id}")

    def _connect(self, address: str) -> DaskSession | None:
        if not address:
            return None
        from mlnb.runtime.dask_cluster import DaskSession

        self.log.service(f"Running on the Dask cluster at {address}")
        return DaskSession(address, self.log, self.settings.cancel_grace_s)

    def close(self) -> None:
        if self.execution is not None:
            self.execution.close()
        if self.session is not None:
            self.session.close()
        self.log.close()

    def _wait_for_slot(self) -> JobRecord:
        announced = False
        scheduling = Scheduling.of(self._job)
        wait_deadline = scheduling.wait_deadline(self._job.create_time)
        wanted, devices = _gpus_wanted(self._job, self.settings), machine_gpus(self.settings.gpus)
        if wanted and not devices:
            self.log.service(
                f"The job asks for {wanted} GPU(s); this machine gives jobs none: it runs on the CPU"
            )
            wanted = 0
        elif wanted > len(devices):
            return self._end(
                JobState.FAILED,
                f"The job asks for {wanted} GPU(s); this machine gives jobs {len(devices)} "
                f"({', '.join(devices)}: the gpus setting)",
            )
        while not self.draining.is_set():
            if wait_deadline is not None and now() > wait_deadline:
                return self._end(JobState.FAILED, scheduling.waited_too_long())
            try:
                job = self.service.claim_slot(
                    self.project,
                    self.job_id,
                    self.holder,
                    self.settings.max_running_jobs,
                    self.settings.cluster_max_jobs,
                    gpus=wanted,
                    devices=devices,
                    gpus_of=self._gpus_of if devices else None,
                )
            except LeaseLost:
                job = self.service.get_job(self.project, self.job_id)
                if job.state in (JobState.CANCELLED, JobState.CANCELLING):
                    return job  # cancelled while it waited: nothing was started
                raise
            if job is not None:
                return job
            if not announced:
                limit = (
                    f"at most {self.settings.cluster_max_jobs} jobs of project {self.project} "
                    "run on the cluster at once"
                    if self._job.cluster
                    else f"at most {self.settings.max_running_jobs} jobs run at once"
                )
                if wanted:
                    limit += f", and it needs {wanted} of the GPUs {', '.join(devices)} free"
                self.log.service(f"Waiting for a slot: {limit}")
                announced = True
            self._beat()
            time.sleep(0.25)
        # Nothing started: the job goes back to its queue for the next host.
        self.log.service("The job host was stopped before the job started: the job waits for another host")
        self.log.flush()
        return self.service.release(self.project, self.job_id, self.holder)

    def _gpus_of(self, other: JobRecord) -> int:
        """The GPUs a queued job ahead asks for, read from its input once
        while this job waits (each poll sees the same jobs ahead)."""
        key = (other.project, other.job_id, other.create_time)
        if key not in self._gpus_ahead:
            self._gpus_ahead[key] = _gpus_wanted(other, self.settings)
        return self._gpus_ahead[key]

    def _watch(self, execution: Execution) -> JobRecord:
        scheduling = Scheduling.of(self._job)
        retries = Retries.of(self._job)
        deadline = scheduling.run_deadline(self._job.start_time or now())
        while True:
            outcome = execution.poll()
            if outcome is not None:
                self._beat(execution, force=True)
                if outcome.state == JobState.FAILED and len(self._attempts) < retries.max_retries:
                    again = self._try_again(execution, outcome.error or "", retries)
                    if isinstance(again, JobRecord):
                        return again
                    execution = again
                    continue
                return self._end(outcome.state, outcome.error)
            if deadline is not None and now() > deadline:
                self.log.service(f"{scheduling.ran_too_long()}: stopping every process")
                execution.stop(self.settings.cancel_grace_s)
                self._beat(execution, force=True)
                return self._end(JobState.FAILED, scheduling.ran_too_long())
            if self._beat(execution).state == JobState.CANCELLING:
                self.log.service("Cancelling: stopping every process")
                execution.stop(self.settings.cancel_grace_s)
                self._beat(execution, force=True)  # what the stop changed (trials cancelled)
                return self._end(JobState.CANCELLED)
            if self.stopping.is_set():
                execution.stop(self.settings.cancel_grace_s)
                return self._end(
                    JobState.FAILED, "The job host was stopped; the job's processes were stopped"
                )
            time.sleep(_POLL_S)

    def _try_again(self, failed: Execution, error: str, retries: Retries) -> Execution | JobRecord:
        """After a failed attempt: wait the backoff (heartbeats going on, a
        cancel or a stopping host heeded), then a fresh execution of the job,
        prepared and started; or the job's end when it cannot go on."""
        self._attempts.append(
            {"attempt": len(self._attempts) + 1, "error": error, "endTime": format_time(now())}
        )
        delay = retries.delay_s(len(self._attempts))
        total = retries.max_retries + 1
        self.log.service(
            f"Attempt {len(self._attempts)} of {total} failed: {error}\nTrying again in {delay:g} s"
        )
        failed.stop(0.0)
        failed.close()
        self.execution = None
        waited_until = time.monotonic() + delay
        while time.monotonic() < waited_until:
            if self._beat().state == JobState.CANCELLING:
                return self._end(JobState.CANCELLED)
            if self.stopping.is_set():
                return self._end(
                    JobState.FAILED, f"The job host was stopped between attempts; the last: {error}"
                )
            time.sleep(_POLL_S)
        self.log.service(f"Attempt {len(self._attempts) + 1} of {total}")
        try:
            with self._beating():
                execution = self._new_execution()
                execution.prepare()
                execution.start()
        except MlnbError as e:
            if self.execution is not None:
                self.execution.stop(0.0)
            return self._end(JobState.FAILED, e.message)
        return execution

    def _beat(self, execution: Execution | None = None, force: bool = False) -> JobRecord:
        if not force and time.monotonic() - self._last_beat < self.settings.job_heartbeat_s:
            return self._job
        self._last_beat = time.monotonic()
        progress = execution.progress() if execution is not None else None
        if self._attempts:  # each failed attempt, for the record's readers
            progress = {**(progress or {}), "attempt": len(self._attempts) + 1, "attempts": self._attempts}
        fields: dict[str, Any] = {"progress": progress} if progress is not None else {}
        fields.update((execution.outputs() or {}) if execution is not None else {})
        self._job = self.service.heartbeat(self.project, self.job_id, self.holder, **fields)
        return self._job

    def _end(self, state: JobState, error: str | None = None) -> JobRecord:
        self.log.service(f"Job {state.value.lower()}" + (f": {error}" if error else ""))
        # Whoever sees the job ended must find its last lines already stored
        # (if the store refuses them now, closing the log tries again).
        with contextlib.suppress(MlnbError):
            self.log.flush()
        ended = self.service.transition(
            self.project, self.job_id, state, holder=self.holder, error_message=error
        )
        self._notify(ended)
        return ended

    def _notify(self, job: JobRecord) -> None:
        """Tell the job's webhook and addresses (or the configured ones) how
        it ended; a failed delivery is logged, never the job's fault."""
        channels = Channels.of(self.settings)
        try:
            deliveries = Notifications.of(job, channels).send(job, channels)
        except MlnbError as e:  # refused at submission; a stored job is not failed for it
            deliveries = [f"its notifications: {e.message}"]
        if not deliveries:
            return
        for said in deliveries:
            self.log.service(f"Notified of the job's end {said}")
        with contextlib.suppress(MlnbError):
            self.log.flush()


def _gpus_wanted(job: JobRecord, settings: Settings) -> int:
    """The GPUs a training or tuning job asks for on this machine (a tuning
    job's, for as many trials as run at once); none for other kinds, nor
    for a job on a Dask cluster (its workers' resources decide there)."""
    if job.cluster or job.kind not in (JobKind.TRAINING, JobKind.TUNING):
        return 0
    from mlnb.training import TrainingSpec

    try:
        spec = TrainingSpec.from_api(job.training_input or {}, settings.scale_tiers)
    except MlnbError:
        return 0  # refused when it prepares, with the reason
    per_run = sum(replica.gpus for replica in spec.replicas(settings.scale_tiers))
    if spec.tuning:
        per_run *= int((spec.hyperparameters or {}).get("maxParallelTrials") or 1)
    return per_run
