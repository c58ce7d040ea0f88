"""A training job run: prepare the trainer's environment, start its
replicas, watch them, stop them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.runtime.environments import prepare_environment
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogTail, LogWriter
from mlnb.runtime.replicas import Launcher, LocalLauncher, ReplicaHandle, stop_replicas
from mlnb.states import JobState
from mlnb.store import local_copy
from mlnb.training.environment import cluster_spec, replica_environment
from mlnb.training.metrics import TrainingMetrics
from mlnb.training.spec import TrainingSpec

# Workers and parameter servers get this long to finish after the master
# succeeded (parameter servers never end by themselves).
_AFTER_MASTER_S = 5.0


class TrainingExecution:
    """One training job's replicas on this machine."""

    def __init__(
        self,
        job_id: str,
        spec: TrainingSpec,
        log: LogWriter,
        workdir: Path,
        envs_dir: Path,
        tiers: Mapping[str, Mapping[str, Any]] | None = None,
        trial_id: str | None = None,
        launcher: Launcher | None = None,
        environment: Mapping[str, str] | None = None,
        downloads_dir: Path | None = None,
    ) -> None:
        self.job_id = job_id
        self.spec = spec
        self.log = log
        self.workdir = workdir
        self.envs_dir = envs_dir
        # Where packages named by URL are copied to (beside the environments by default).
        self.downloads = downloads_dir or envs_dir.parent / "downloads"
        self.tiers = tiers
        self.trial_id = trial_id
        self.environment = dict(environment or {})
        self.replicas: list[ReplicaHandle] = []
        # When the replicas started and each ended: what consumedMLUnits counts.
        self._started_at: float | None = None
        self._ended_at: dict[str, float] = {}
        self._python: Path | None = None
        self._archives: list[Path] = []
        self.launcher = launcher or LocalLauncher(log, workdir)
        self._reports = TrainingMetrics(LogTail(log.path))

    @classmethod
    def for_job(cls, context: JobContext) -> TrainingExecution:
        """A training job's execution, on the Dask cluster when the context has one."""
        from mlnb.runtime.dask_cluster import DaskLauncher

        settings, session, job = context.settings, context.session, context.job
        workdir = context.home / "work"
        launcher: Launcher | None = None
        if session is not None:
            launcher = DaskLauncher(session)
        elif job.gpu_devices is not None:  # the GPUs the host gave the job
            launcher = LocalLauncher(context.log, workdir, devices=job.gpu_devices)
        return cls(
            job.job_id,
            TrainingSpec.from_api(job.training_input or {}, settings.scale_tiers),
            context.log,
            workdir=workdir,
            envs_dir=settings.paths.trainer_envs,
            tiers=settings.scale_tiers,
            launcher=launcher,
            downloads_dir=settings.paths.downloads,
        )

    def prepare(self) -> None:
        """Install the trainer's packages into its environment.

        Raises:
            InvalidArgument: A package is missing.
            FailedPrecondition: A package would not install.
        """
        # Packages may be anywhere a URL reaches (the artifact store that
        # staged them, a bucket the user named): installed from local copies.
        archives = [local_copy(uri, self.downloads) for uri in self.spec.package_uris]
        missing = [str(a) for a in archives if not a.is_file()]
        if missing:
            raise InvalidArgument(f"Package(s) not found: {', '.join(missing)}")
        self.plan = self.spec.replicas(self.tiers)
        self._archives = archives
        if isinstance(self.launcher, LocalLauncher):
            started = time.monotonic()
            self._python = prepare_environment(archives, self.envs_dir)
            self.log.service(f"Trainer environment ready in {time.monotonic() - started:.2f} s")
        self.log.service(f"Replicas: {', '.join(r.name for r in self.plan)}")

    def start(self) -> None:
        cluster = cluster_spec(self.plan, self.launcher.addresses(self.plan))
        environments = [
            replica_environment(self.job_id, self.spec.to_api(), cluster, replica, self.trial_id)
            | self.environment
            for replica in self.plan
        ]
        self._started_at = time.monotonic()
        self.replicas = self.launcher.start(
            self._python if self._python is not None else self._archives,
            self.spec.python_module,
            self.spec.trainer_arguments(),
            self.plan,
            environments,
        )

    def poll(self) -> Outcome | None:
        """``None`` while running; the outcome once the master ended or a
        replica failed."""
        for handle in self.replicas:
            code = handle.poll()
            if code is not None:
                self._ended_at.setdefault(handle.name, time.monotonic())
            if code is not None and code != 0:
                self._finish_others(handle)
                return Outcome(JobState.FAILED, handle.describe_exit())
        master = self.replicas[0]
        if master.poll() == 0:
            self._finish_others(master, grace_s=_AFTER_MASTER_S)
            self._reports.finish()
            return Outcome(JobState.SUCCEEDED)
        return None

    def progress(self) -> dict[str, Any] | None:
        """Epochs done, as the chief's Keras-style log lines tell them
        (``None`` for a trainer that prints no ``Epoch i/N``)."""
        return self._reports.progress()

    def outputs(self) -> dict[str, Any] | None:
        """``trainingOutput.consumedMLUnits`` so far."""
        if self._started_at is None:
            return None
        return {"training_output": {"consumedMLUnits": round(self.consumed_ml_units(), 6)}}

    def consumed_ml_units(self) -> float:
        """ML Engine's measure of what a job used, as mlnb counts it: each
        replica's hours of running, a GPU it asks for counting one more."""
        if self._started_at is None:
            return 0.0
        now = time.monotonic()
        seconds = sum((self._ended_at.get(r.name, now) - self._started_at) * (1 + r.gpus) for r in self.plan)
        return seconds / 3600

    def close(self) -> None:
        """Nothing held beyond the processes, which have ended."""

    def stop(self, grace_s: float) -> None:
        """Stop every replica: SIGTERM, then SIGKILL after ``grace_s``."""
        stop_replicas(self.replicas, grace_s)
        for handle in self.replicas:
            self._ended_at.setdefault(handle.name, time.monotonic())

    def _finish_others(self, ended: ReplicaHandle, grace_s: float = 0.0) -> None:
        others = [r for r in self.replicas if r is not ended]
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(r.poll() is None for r in others):
            time.sleep(0.05)
        running = [r for r in others if r.poll() is None]
        if running:
            self.log.service(f"Stopping {', '.join(r.name for r in running)}: {ended.name} has ended")
            stop_replicas(running, grace_s=2.0)
        for handle in self.replicas:
            self._ended_at.setdefault(handle.name, time.monotonic())
