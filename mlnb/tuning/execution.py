"""A tuning job's execution: trials asked of an Optuna study, each run as
a training job's replicas with ``--NAME=VALUE`` flags, its own job folder,
``CLOUD_ML_TRIAL_ID`` and metric file; metrics read as the trainer reports
them, pruned when early stopping says so, told back to the study; up to
maxParallelTrials at once, until maxTrials or too many failures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlnb.errors import FailedPrecondition, MlnbError
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogWriter
from mlnb.runtime.replicas import Launcher, LocalLauncher
from mlnb.states import JobState
from mlnb.training.execution import TrainingExecution
from mlnb.training.spec import TrainingSpec
from mlnb.tuning.metrics import MetricReader
from mlnb.tuning.spec import TuningSpec
from mlnb.tuning.study import (
    close_study,
    create_study,
    distributions,
    load_study,
    study_name,
    trainer_value,
)

__all__ = ["TuningExecution"]

# Optuna's trial states as ML Engine's (a trial's state has the job states' values).
_STATES = {
    "COMPLETE": JobState.SUCCEEDED,
    "PRUNED": JobState.SUCCEEDED,
    "FAIL": JobState.FAILED,
    "RUNNING": JobState.RUNNING,
}


@dataclass
class _Running:
    trial: Any  # optuna.Trial
    trial_id: str
    execution: TrainingExecution
    metrics: MetricReader
    reported: set[int] = field(default_factory=set)
    devices: tuple[str, ...] = ()  # the job's GPUs this trial holds


class TuningExecution:
    """The trials of one tuning job."""

    def __init__(
        self,
        project: str,
        job_id: str,
        training_input: Mapping[str, Any],
        log: LogWriter,
        home: Path,
        envs_dir: Path,
        database_url: str,
        tiers: Mapping[str, Mapping[str, Any]] | None = None,
        launcher: Callable[[], Launcher] | None = None,
        grace_s: float = 10.0,
        devices: tuple[str, ...] | None = None,
    ) -> None:
        self.project = project
        # The GPUs the host gave the job, shared out among the trials that
        # run at once (each trial's replicas see only its share).
        self.devices = devices
        self.job_id = job_id
        training = TrainingSpec.from_api(training_input, tiers)
        self.training = training.replace(hyperparameters=None)  # what each trial runs
        self.spec = TuningSpec.from_api(training.hyperparameters or {})
        self.log = log
        self.home = home
        self.envs_dir = envs_dir
        self.database_url = database_url
        self.tiers = tiers
        self.launcher = launcher
        self.grace_s = grace_s
        self.running: list[_Running] = []
        self.errors: dict[int, str] = {}
        self.study: Any = None
        # Counted here rather than read from the study at every poll: the
        # study is a database read, the poll runs ten times a second.
        self.asked = 0
        self.failures = 0
        self.last_failure = ""
        self.consumed = 0.0  # consumedMLUnits of the trials that have ended

    @classmethod
    def for_job(cls, context: JobContext) -> TuningExecution:
        """A tuning job's execution; its trials run on the Dask cluster when
        the context has one."""
        from mlnb.runtime.dask_cluster import DaskLauncher

        job, settings, session = context.job, context.settings, context.session
        return cls(
            job.project,
            job.job_id,
            job.training_input or {},
            context.log,
            context.home,
            envs_dir=settings.paths.trainer_envs,
            database_url=settings.database_url,
            tiers=settings.scale_tiers,
            launcher=(lambda: DaskLauncher(session)) if session is not None else None,
            grace_s=settings.cancel_grace_s,
            devices=job.gpu_devices,
        )

    @property
    def budget(self) -> int:
        if self.spec.algorithm == "GRID_SEARCH":
            return min(self.spec.max_trials, self.spec.grid_size())
        return self.spec.max_trials

    def prepare(self) -> None:
        # The trainer's environment is built once; every trial finds it ready.
        TrainingExecution(
            self.job_id, self.training, self.log, self.home / "work", self.envs_dir, self.tiers
        ).prepare()
        self.study = create_study(self.spec, self.database_url, study_name(self.project, self.job_id))
        previous = self.spec.resume_previous_job_id
        if previous and not self.study.trials:
            earlier = load_study(self.database_url, study_name(self.project, previous))
            if earlier is None:
                raise FailedPrecondition(
                    f"resumePreviousJobId {previous!r}: no tuning job of that id in project {self.project!r}"
                )
            finished = [t for t in earlier.trials if t.state.is_finished()]
            close_study(earlier)
            self.study.add_trials(finished)
            self.log.service(f"Resuming the study of job {previous}: {len(finished)} trials done before")
        self.asked = len(self.study.trials)
        self.log.service(
            f"Tuning {', '.join(p.name for p in self.spec.params)} to {self.spec.goal.lower()} "
            f"{self.spec.metric_tag}: {self.budget} trials, {self.spec.max_parallel_trials} at a time"
        )

    def start(self) -> None:
        self._fill()

    def _fill(self) -> None:
        while (
            len(self.running) < self.spec.max_parallel_trials
            and self.asked < self.budget
            and self.failures <= self.spec.failed_trials_allowed()
        ):
            self._launch()

    def _launch(self) -> None:
        trial = self.study.ask(distributions(self.spec))
        self.asked += 1
        trial_id = str(trial.number + 1)
        values = {p.name: trainer_value(p, trial.params[p.name]) for p in self.spec.params}
        folder = self.home / "trials" / trial_id
        job_dir = self.training.job_dir
        trial_spec = self.training.replace(
            args=(*self.training.args, *(f"--{k}={v}" for k, v in values.items())),
            job_dir=f"{job_dir.rstrip('/')}/{trial_id}" if job_dir else None,
        )
        metric_file = folder / "hypertune" / "output.metrics"
        log = self.log.for_trial(trial_id)
        launcher = self.launcher() if self.launcher is not None else None
        devices: tuple[str, ...] = ()
        if launcher is None and self.devices is not None:
            held = {d for run in self.running for d in run.devices}
            share = sum(r.gpus for r in trial_spec.replicas(self.tiers))
            devices = tuple(d for d in self.devices if d not in held)[:share]
            launcher = LocalLauncher(log, folder / "work", devices=devices)
        execution = TrainingExecution(
            self.job_id,
            trial_spec,
            log,
            folder / "work",
            self.envs_dir,
            self.tiers,
            trial_id=trial_id,
            launcher=launcher,
            environment={"CLOUD_ML_HP_METRIC_FILE": str(metric_file)},
        )
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        try:
            execution.prepare()
            execution.start()
        except MlnbError as e:
            self._fail(trial, f"could not start: {e.message}")
            return
        log.service(f"started with {shown}")
        self.running.append(
            _Running(
                trial, trial_id, execution, MetricReader(metric_file, self.spec.metric_tag), devices=devices
            )
        )

    def _fail(self, trial: Any, error: str) -> None:
        self.failures += 1
        self.errors[trial.number] = error
        self.last_failure = f"trial {trial.number + 1}: {error}"
        self.log.for_trial(str(trial.number + 1)).service(f"failed: {error}")
        self.study.tell(trial, state=_optuna_state("FAIL"))

    def poll(self) -> Outcome | None:
        for run in list(self.running):
            # How the trial stands first, then what it reported: a trial that
            # has ended wrote every report it will, and is never stopped early.
            outcome = run.execution.poll()
            reports = run.metrics.read()
            for step, value in reports:
                if step not in run.reported:
                    run.reported.add(step)
                    run.trial.report(value, step)
            if outcome is None and self.spec.early_stopping and reports and run.trial.should_prune():
                run.execution.stop(self.grace_s)
                self._retire(run)
                step, value = reports[-1]
                self.log.for_trial(run.trial_id).service(f"stopped early at step {step}: {value:g}")
                self.study.tell(run.trial, state=_optuna_state("PRUNED"))
                continue
            if outcome is None:
                continue
            self._retire(run)
            if outcome.state != JobState.SUCCEEDED:
                self._fail(run.trial, outcome.error or "the trainer failed")
            elif not reports:
                self._fail(run.trial, f"the trainer reported no {self.spec.metric_tag!r} metric")
            else:
                self.study.tell(run.trial, reports[-1][1])
                self.log.for_trial(run.trial_id).service(
                    f"succeeded: {self.spec.metric_tag} = {reports[-1][1]:g}"
                )
        failures = self.failures
        if failures > self.spec.failed_trials_allowed():
            # The last failure, not the trials the stop below cancels.
            last = self.last_failure
            self.stop(self.grace_s)
            allowed = self.spec.max_failed_trials or "0, mlnb's rule: under half of maxTrials"
            return Outcome(
                JobState.FAILED, f"{failures} trials failed (maxFailedTrials {allowed}). The last: {last}"
            )
        self._fill()
        if not self.running:
            return Outcome(JobState.SUCCEEDED)
        return None

    def _retire(self, run: _Running) -> None:
        self.running.remove(run)
        self.consumed += run.execution.consumed_ml_units()

    def stop(self, grace_s: float) -> None:
        for run in self.running:
            run.execution.stop(grace_s)
            self.consumed += run.execution.consumed_ml_units()
            self.errors[run.trial.number] = "cancelled"
            self.study.tell(run.trial, state=_optuna_state("FAIL"))
        self.running = []

    def close(self) -> None:
        """Close the study's database connections once the job has ended."""
        if self.study is not None:
            close_study(self.study)

    def progress(self) -> dict[str, Any] | None:
        if self.study is None:
            return None
        return {"done": self.asked - len(self.running), "total": self.budget, "unit": "trials"}

    def outputs(self) -> dict[str, Any] | None:
        if self.study is None:
            return None
        output = training_output(self.spec, self.study.trials, self.errors)
        running = sum(run.execution.consumed_ml_units() for run in self.running)
        output["consumedMLUnits"] = round(self.consumed + running, 6)
        return {"training_output": output}


def _optuna_state(name: str) -> Any:
    import optuna

    return getattr(optuna.trial.TrialState, name)


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone(UTC)  # Optuna records local naive times
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def training_output(
    spec: TuningSpec, trials: list[Any], errors: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """ML Engine's trainingOutput of a tuning job, best trial first."""
    params = {p.name: p for p in spec.params}
    rows = []
    for trial in trials:
        metrics = sorted(trial.intermediate_values.items())
        state = str(_STATES.get(trial.state.name, trial.state.name))
        if (errors or {}).get(trial.number) == "cancelled":
            state = JobState.CANCELLED.value
        row: dict[str, Any] = {
            "trialId": str(trial.number + 1),
            "hyperparameters": {
                k: str(trainer_value(params[k], v)) for k, v in trial.params.items() if k in params
            },
            "state": state,
            "startTime": _time(trial.datetime_start),
            "endTime": _time(trial.datetime_complete),
            "isTrialStoppedEarly": trial.state.name == "PRUNED",
            "allMetrics": [{"trainingStep": str(s), "objectiveValue": v} for s, v in metrics],
        }
        final = (
            trial.value
            if trial.value is not None
            else (metrics[-1][1] if metrics and trial.state.name == "PRUNED" else None)
        )
        if final is not None:
            step = metrics[-1][0] if metrics else 0
            row["finalMetric"] = {"trainingStep": str(step), "objectiveValue": final}
        if (errors or {}).get(trial.number) and state == JobState.FAILED:
            row["errorMessage"] = errors[trial.number]  # type: ignore[index]
        rows.append({k: v for k, v in row.items() if v is not None})
    sign = -1.0 if spec.goal == "MAXIMIZE" else 1.0
    rows.sort(
        key=lambda r: (
            "finalMetric" not in r,
            sign * r["finalMetric"]["objectiveValue"] if "finalMetric" in r else 0.0,
            int(r["trialId"]),
        )
    )
    return {
        "completedTrialCount": str(sum(1 for r in rows if r["state"] == JobState.SUCCEEDED)),
        "isHyperparameterTuningJob": True,
        "hyperparameterMetricTag": spec.metric_tag,
        "trials": rows,
    }
