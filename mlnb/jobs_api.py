"""The Engine's jobs: submit training, tuning and notebook jobs (batch
prediction jobs are ``batch_api``'s); read, list, cancel and wait for jobs
of every kind, and follow their logs and metrics."""

from __future__ import annotations

import dataclasses
import posixpath
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlnb.config import Settings
from mlnb.errors import AlreadyExists, FailedPrecondition, InvalidArgument, MlnbError, Unavailable
from mlnb.jobs import (
    JobService,
    JobState,
    LogEntry,
    absolute_location,
    ensure_job_host,
    job_kinds,
    log_path,
    serve_team,
)
from mlnb.jobs.host import JobHost, ScheduleFiring, lock_path, run_until_signalled, try_lock
from mlnb.records import JobRecord, merge_flags
from mlnb.runtime.execution import Outcome
from mlnb.runtime.logs import LogPage, LogReader, LogTail, LogWriter, StoredLog, follow_log
from mlnb.states import JobKind
from mlnb.store import ArtifactStore, StoredTree, uri_exists
from mlnb.training import TrainingExecution, TrainingSpec, build_trainer_package
from mlnb.training.metrics import TrainingMetrics


class JobsAPI:
    """Training, tuning and notebook jobs, and every job's records, logs and
    metrics: the part of :class:`mlnb.Engine` that speaks to the job service."""

    def __init__(self, settings: Settings, jobs: JobService, artifacts: ArtifactStore) -> None:
        self.settings = settings
        self.service = jobs
        self._artifacts = artifacts

    def submit_training_job(
        self,
        job_id: str,
        training_input: Mapping[str, Any] | None = None,
        *,
        package_path: str | Path | None = None,
        module_name: str | None = None,
        packages: Sequence[str | Path] = (),
        job_dir: str | Path | None = None,
        scale_tier: str | None = None,
        args: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        flags = {
            "pythonModule": module_name,
            "scaleTier": scale_tier,
            "jobDir": str(job_dir) if job_dir is not None else None,
            "args": [str(a) for a in args] if args is not None else None,
        }
        body = merge_flags(training_input, flags, "trainingInput")
        spec = TrainingSpec.from_api(body, self.settings.scale_tiers)
        if spec.job_dir:
            spec = spec.replace(job_dir=absolute_location(spec.job_dir))
        if spec.tuning:
            from mlnb.tuning.spec import TuningSpec

            TuningSpec.from_api(spec.hyperparameters or {})  # a bad spec is refused before anything runs
        project = self.settings.project_of(project)
        record = JobRecord(
            project=project,
            job_id=job_id,
            kind=JobKind.TUNING if spec.tuning else JobKind.TRAINING,
            state=JobState.QUEUED,
            create_time=datetime.now(UTC),
            training_input=spec.to_api(),
            labels=dict(labels or {}),
            cluster=cluster or None,
        )
        # The packages are built and staged before the job is recorded: a job
        # host sees a queued job only once it holds everything it needs.
        self.service.check_new_job(record)
        staged: StoredTree | None = None
        try:
            staged, uris = self._stage_packages(project, job_id, package_path, packages, spec.package_uris)
            record = dataclasses.replace(
                record, training_input=spec.replace(package_uris=tuple(uris)).to_api()
            )
        except MlnbError as e:
            record = dataclasses.replace(record, state=JobState.FAILED, error_message=e.message)
        try:
            job = self.service.create_job(record)
        except AlreadyExists:
            if staged is not None:  # submitted twice at once: the other one won
                self._artifacts.delete_tree(staged.uri)
            raise
        if job.state == JobState.QUEUED:
            ensure_job_host(self.settings)
        return job

    def submit_notebook_job(
        self,
        job_id: str,
        notebook: str | Path,
        *,
        parameters: Mapping[str, Any] | None = None,
        kernel: str | None = None,
        scale_tier: str | None = None,
        job_dir: str | Path | None = None,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        from mlnb.notebook import NotebookSpec, validate_notebook

        if scale_tier and not kernel:
            tier = self.settings.scale_tiers.get(scale_tier.upper(), {})
            kernel = tier.get("kernel")
        source = Path(absolute_location(notebook))
        validate_notebook(source, kernel)
        project = self.settings.project_of(project)
        # The job runs a copy, kept in the artifact store where a job host on
        # any machine reads it (so later edits do not change it), and the
        # executed notebook goes there too, where any machine reads it.
        folder = f"jobs/{project}/{job_id}"
        spec = NotebookSpec(
            notebook="",
            source=str(source),
            output_notebook=self._artifacts.location(folder, "output", source.name),
            parameters=dict(parameters or {}),
            kernel_name=kernel,
            scale_tier=scale_tier.upper() if scale_tier else None,
            job_dir=absolute_location(job_dir) if job_dir is not None else None,
            working_dir=str(source.parent),
        )
        record = JobRecord(
            project=project,
            job_id=job_id,
            kind=JobKind.NOTEBOOK,
            state=JobState.QUEUED,
            create_time=datetime.now(UTC),
            notebook_input=spec.to_api(),
            labels=dict(labels or {}),
            cluster=cluster or None,
        )
        # Staged before the job is recorded, as a training job's packages are.
        self.service.check_new_job(record)
        staged = self._artifacts.import_tree(str(source), f"{folder}/notebook")
        spec = dataclasses.replace(spec, notebook=posixpath.join(staged.uri, source.name))
        record = dataclasses.replace(record, notebook_input=spec.to_api())
        try:
            job = self.service.create_job(record)
        except AlreadyExists:
            self._artifacts.delete_tree(staged.uri)
            raise
        ensure_job_host(self.settings)
        return job

    def submit_job(
        self,
        job_id: str,
        kind: str,
        job_input: Mapping[str, Any] | None,
        *,
        labels: Mapping[str, str] | None = None,
        cluster: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        checked = job_kinds.check_input(kind, {} if job_input is None else job_input)
        record = JobRecord(
            project=self.settings.project_of(project),
            job_id=job_id,
            kind=kind,
            state=JobState.QUEUED,
            create_time=datetime.now(UTC),
            job_input=checked,
            labels=dict(labels or {}),
            cluster=cluster or None,
        )
        job = self.service.create_job(record)
        ensure_job_host(self.settings)
        return job

    def kinds(self) -> list[str]:
        return job_kinds.names()

    def _stage_packages(
        self,
        project: str,
        job_id: str,
        package_path: str | Path | None,
        packages: Sequence[str | Path],
        given: Sequence[str],
    ) -> tuple[StoredTree | None, list[str]]:
        """The job's packageUris, the built package first: URLs as given,
        local archives copied into the artifact store (where every job host
        reads them, on any machine), with the stored copy's tree.

        Raises:
            InvalidArgument: No package at all, or a local one that is missing.
        """
        local = [Path(p) for p in [*given, *packages] if "://" not in str(p)]
        urls = [str(p) for p in [*given, *packages] if "://" in str(p)]
        if package_path is not None:
            local.insert(0, build_trainer_package(Path(package_path), self.settings.paths.trainer_builds))
        if not local and not urls:
            raise InvalidArgument(
                "A training job needs a trainer: a package folder to build, or packageUris",
                field="packageUris",
            )
        missing = [str(a) for a in local if not a.is_file()]
        if missing:
            raise InvalidArgument(f"Package {missing[0]!r} does not exist")
        for url in urls:
            if not uri_exists(url):
                raise InvalidArgument(f"Package {url!r} does not exist")
        if not local:
            return None, urls
        with tempfile.TemporaryDirectory(prefix="mlnb-staging-") as folder:
            for archive in local:
                shutil.copyfile(archive, Path(folder) / archive.name)
            tree = self._artifacts.import_tree(folder, f"jobs/{project}/{job_id}/packages")
        stored = [posixpath.join(tree.uri, archive.name) for archive in local]
        return tree, stored + urls

    def get_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        job = self.service.get_job(self.settings.project_of(project), job_id)
        position = self.service.position(job)  # while it waits for a host
        return dataclasses.replace(job, job_position=position) if position is not None else job

    def list_jobs(
        self,
        *,
        states: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> list[JobRecord]:
        jobs = self.service.list_jobs(
            self.settings.project_of(project), [s.upper() for s in states] if states else None
        )
        if labels:
            jobs = [j for j in jobs if all(j.labels.get(k) == v for k, v in labels.items())]
        return list(reversed(jobs))

    def update_job(
        self,
        job_id: str,
        *,
        labels: Mapping[str, str],
        etag: str | None = None,
        project: str | None = None,
    ) -> JobRecord:
        return self.service.update_labels(self.settings.project_of(project), job_id, dict(labels), etag)

    def trials(self, job_id: str, *, project: str | None = None) -> Any:
        import pandas as pd

        job = self.get_job(job_id, project=project)
        if job.kind != JobKind.TUNING:
            raise FailedPrecondition(
                f"Job {job_id!r} is a {job.kind} job, not a tuning job: it has no trials"
            )
        rows = []
        for trial in (job.training_output or {}).get("trials", []):
            final = trial.get("finalMetric") or {}
            rows.append(
                {
                    "trialId": trial["trialId"],
                    "state": trial.get("state"),
                    "objectiveValue": final.get("objectiveValue"),
                    "trainingStep": final.get("trainingStep"),
                    "isTrialStoppedEarly": trial.get("isTrialStoppedEarly", False),
                    **trial.get("hyperparameters", {}),
                    "startTime": trial.get("startTime"),
                    "endTime": trial.get("endTime"),
                }
            )
        return pd.DataFrame(rows)

    def job_metrics(self, job_id: str, *, project: str | None = None) -> Any:
        return self.job_metrics_reader(job_id, project=project)()

    def job_metrics_reader(self, job_id: str, *, project: str | None = None) -> Callable[[], Any]:
        import pandas as pd

        project = self.settings.project_of(project)
        job = self.get_job(job_id, project=project)
        columns = ["series", "step", "value", "trial"]
        if job.kind == JobKind.TUNING:
            return lambda: pd.DataFrame(_trial_points(self.get_job(job_id, project=project)), columns=columns)
        if job.kind == JobKind.TRAINING:
            follower = TrainingMetrics(self._log_reader(job), (job.training_input or {}).get("jobDir"))
            return lambda: pd.DataFrame(follower.read(), columns=columns)
        return lambda: pd.DataFrame([], columns=columns)

    def job_log_tail(self, job_id: str, *, position: int = 0, project: str | None = None) -> LogReader:
        return self._log_reader(self.get_job(job_id, project=project), position)

    def executed_notebook(self, job_id: str, *, project: str | None = None) -> dict[str, Any]:
        job = self.get_job(job_id, project=project)
        location = (job.notebook_input or {}).get("outputNotebook")
        if job.kind != JobKind.NOTEBOOK or not location:
            raise FailedPrecondition(f"Job {job_id!r} is a {job.kind} job; only notebook jobs run a notebook")
        if not uri_exists(location):
            raise FailedPrecondition(f"Job {job_id!r} ({job.state}) has no executed notebook yet")
        import fsspec
        import orjson

        with fsspec.open(location, "rb") as stream:
            notebook: dict[str, Any] = orjson.loads(stream.read())
        return notebook

    def read_job_log(
        self, job_id: str, *, position: int = 0, limit: int | None = None, project: str | None = None
    ) -> LogPage:
        if position < 0 or (limit is not None and limit < 0):
            raise InvalidArgument("A log position and a page size are 0 or more")
        job = self.get_job(job_id, project=project)  # read first: no line written before the end is missed
        reader = self._log_reader(job, position)
        entries = reader.read(limit)
        return LogPage(entries, reader.position, job.ended)

    def _log_reader(self, job: JobRecord, position: int = 0) -> LogReader:
        if job.queue is None:
            # Recorded before logs were stored (mlnb 0.1): only its host's file has them.
            return LogTail(log_path(self.settings.home, job.project, job.job_id), position)
        return StoredLog(self.service.db, job.project, job.job_id).tail(position)

    def resume_job(self, job_id: str, kinds: tuple[str, ...], *, project: str | None = None) -> JobRecord:
        job = self.service.requeue(self.settings.project_of(project), job_id, kinds)
        ensure_job_host(self.settings)
        return job

    def cancel_job(self, job_id: str, *, project: str | None = None) -> JobRecord:
        return self.service.request_cancel(self.settings.project_of(project), job_id)

    def serve_jobs(
        self,
        *,
        max_jobs: int | None = None,
        drain_s: float | None = None,
        schedules: ScheduleFiring | None = None,
    ) -> None:
        settings = self.settings
        if max_jobs is not None:
            settings = settings.replace(host_max_jobs=max_jobs)
        if drain_s is not None:
            settings = settings.replace(host_drain_s=drain_s)
        serve_team(settings, schedules)

    def serve_on_demand(self, schedules: ScheduleFiring | None = None) -> None:
        """Be this machine's on-demand job host unless one runs already
        (``python -m mlnb.job_host``)."""
        with try_lock(lock_path(self.settings)) as held:
            if held is None:
                return  # another host runs: it takes the jobs
            host = JobHost(self.settings, schedules=schedules)
            run_until_signalled(host)
        # A job submitted just as the lock was let go finds no host: start one.
        if not host.stopping.is_set() and host.leftover():
            ensure_job_host(self.settings)

    def reap_jobs(self) -> list[JobRecord]:
        return self.service.reap()

    def wait_job(self, job_id: str, *, timeout: float | None = None, project: str | None = None) -> JobRecord:
        project = self.settings.project_of(project)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id, project=project)
            if job.ended:
                self.service.reap(project, job_id)
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise Unavailable(f"Job {job_id!r} is still {job.state} after {timeout} s")
            time.sleep(0.2)

    def job_logs(
        self, job_id: str, *, follow: bool = False, project: str | None = None
    ) -> Iterator[LogEntry]:
        project = self.settings.project_of(project)
        reader = self._log_reader(self.get_job(job_id, project=project))  # NotFound before anything else
        keep_going = (lambda: not self.get_job(job_id, project=project).ended) if follow else None
        return follow_log(reader, follow=keep_going)

    def local_train(
        self,
        package_path: str | Path,
        module_name: str,
        args: Sequence[str] = (),
        *,
        job_dir: str | Path | None = None,
        distributed: bool = False,
        worker_count: int = 2,
        parameter_server_count: int = 2,
        echo: Callable[[LogEntry], None] | None = None,
    ) -> Outcome:
        spec: dict[str, Any] = {"pythonModule": module_name, "args": [str(a) for a in args]}
        if job_dir is not None:
            spec["jobDir"] = absolute_location(job_dir)
        if distributed:
            spec |= {
                "scaleTier": "CUSTOM",
                "masterType": "local",
                "workerType": "local",
                "parameterServerType": "local",
                "workerCount": worker_count,
                "parameterServerCount": parameter_server_count,
            }
        archive = build_trainer_package(Path(package_path), self.settings.paths.trainer_builds)
        spec["packageUris"] = [str(archive)]
        with tempfile.TemporaryDirectory(prefix="mlnb-local-train-") as tmp:
            log = LogWriter(Path(tmp) / "log.jsonl", echo=echo)
            run = TrainingExecution(
                "local",
                TrainingSpec.from_api(spec),
                log,
                workdir=Path.cwd(),
                envs_dir=self.settings.paths.trainer_envs,
            )
            run.prepare()
            run.start()
            try:
                while (outcome := run.poll()) is None:
                    time.sleep(0.05)
            except KeyboardInterrupt:
                run.stop(self.settings.cancel_grace_s)
                outcome = Outcome(JobState.CANCELLED, "Interrupted")
            finally:
                log.close()
        return outcome


def _trial_points(job: JobRecord) -> list[dict[str, Any]]:
    """A tuning job's final metric per trial; the step is the trial number."""
    spec = (job.training_input or {}).get("hyperparameters") or {}
    tag = spec.get("hyperparameterMetricTag") or "objective"
    points = []
    for trial in (job.training_output or {}).get("trials", []):
        value = (trial.get("finalMetric") or {}).get("objectiveValue")
        if value is not None:
            trial_id = str(trial["trialId"])
            points.append({"series": tag, "step": int(trial_id), "value": value, "trial": trial_id})
    return points
