"""A pipeline job's run, driven by the job host's runner as any job's.

Each step starts once the steps it needs are done, its strings filled
from their outputs (``mlnb.pipelines.spec``):

- ``job``: a child job, submitted as ``jobs.create`` would
  (``{pipeline}_{step}``), followed to its end. Outputs: ``jobId``,
  ``state``, ``jobDir``, ``outputPath`` (a batch job's), ``trainingOutput``,
  ``predictionOutput``, ``hyperparameters`` (a tuning job's best trial's);
- ``deploy``: a version made from ``deploymentUri`` (the model made first
  when missing). Outputs: ``model``, ``version``, ``deploymentUri``;
- ``evaluate``: ``Engine.evaluate`` on ``data`` (with ``target``,
  ``dataset``, ``task``), and the ``gates`` checked against it. Outputs:
  ``evaluationId``, ``metrics``, ``passed``, ``gateMessage``;
- ``setDefault``: the version made the model's default (its gates apply).

Every step's outputs also have ``key``, the hash of what it was given
(its filled body, and the content of the local files it names), and
``shortKey``. A step given what an earlier step was given, whose result
still stands (the job SUCCEEDED and is kept, the version exists, the
default is still that version), is not run again: it is ``CACHED`` with
those outputs. That is also how a resumed pipeline (``mlnb jobs resume``)
reruns only from the step that failed.

Steps that are no child job run on a thread of their own, so that the
runner's heartbeats go on while a version deploys or an evaluation reads.
This module stands on the engine's floor: a pipeline does what the Engine
does, with the host's settings.
"""

from __future__ import annotations

import glob
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from mlnb.api import Engine
from mlnb.errors import AlreadyExists, FailedPrecondition, MlnbError, NotFound
from mlnb.jobs import settings_for_queue
from mlnb.pipelines import PipelineSpec, StepSpec
from mlnb.records import JobRecord
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogWriter
from mlnb.schedules import fill_template
from mlnb.states import JobState
from mlnb.store import PipelinesTx, file_sha256

__all__ = ["PipelineExecution"]

PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, CACHED = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "SKIPPED",
    "CACHED",
)
_DONE = frozenset({SUCCEEDED, CACHED})
_OVER = frozenset({SUCCEEDED, CACHED, SKIPPED, FAILED})
_UTC = ZoneInfo("UTC")
_FALSE = frozenset({"", "false", "0", "no", "none", "null"})
# Folders and patterns named by a step are fingerprinted by their files'
# names, sizes and times (not contents), up to this many files.
_MOST_FILES = 10_000
_HASHED_FILE_BYTES = 256 * 1024 * 1024
_LOOK_S = 0.3


@dataclass
class _Step:
    spec: StepSpec
    state: str = PENDING
    outputs: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    job_id: str | None = None
    error: str | None = None
    thread: threading.Thread | None = None
    result: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.spec.name, "action": self.spec.action, "state": self.state}
        if self.spec.needs:
            out["needs"] = list(self.spec.needs)
        if self.job_id:
            out["jobId"] = self.job_id
            # What its job was given: a resumed run follows the job again
            # if it still stands for the same (``_left_running``).
            out["key"] = self.key
        if self.error:
            out["error"] = self.error
        if self.outputs:
            out["outputs"] = self.outputs
        return out


class PipelineExecution:
    """One pipeline run."""

    def __init__(self, context: JobContext) -> None:
        job = context.job
        self.settings = context.settings
        self.spec = PipelineSpec.from_api(job.job_input or {})
        self.project = job.project
        self.job_id = job.job_id
        self.queue = job.queue
        self.log: LogWriter = context.log
        self.steps = {s.name: _Step(s) for s in self.spec.steps}
        # The child jobs an earlier run of this pipeline left running (its
        # host died): a resumed run follows them instead of submitting twins.
        self._left_running = {
            str(s["name"]): (str(s["jobId"]), str(s.get("key") or ""))
            for s in (job.progress or {}).get("steps") or []
            if isinstance(s, dict) and s.get("state") == RUNNING and s.get("jobId") and s.get("name")
        }
        self.engine: Engine | None = None
        self.database = context.database
        self.outcome: Outcome | None = None
        self._failure: _Step | None = None  # the first step that failed: no step starts after it
        self._last_look = 0.0

    @classmethod
    def for_job(cls, context: JobContext) -> PipelineExecution:
        return cls(context)

    def prepare(self) -> None:
        # The child jobs go where the pipeline went: the team's queue, for
        # any host to take, or this machine's.
        settings = settings_for_queue(self.settings, self.queue) if self.queue else self.settings
        self.engine = Engine(settings)
        order = ", ".join(s.name for s in self.spec.steps)
        self.log.service(f"Pipeline of {len(self.steps)} step(s): {order}")

    def start(self) -> None:
        """The steps start as they become ready, from the first poll."""

    def poll(self) -> Outcome | None:
        if self.outcome is not None:
            return self.outcome
        # The runner polls ten times a second; child jobs are read from the
        # store, so a few times a second is enough.
        if time.monotonic() - self._last_look < _LOOK_S:
            return None
        self._last_look = time.monotonic()
        for step in self.steps.values():
            if step.state == RUNNING:
                self._follow(step)
        failed = self._failure or next((s for s in self.steps.values() if s.state == FAILED), None)
        if failed is not None:
            if self._failure is None:
                self._failure = failed
                self._cancel_children()
            # A deploy or an evaluation under way (it cannot be stopped) ends
            # first, so that its result is kept for a resume.
            if any(s.state == RUNNING and s.spec.action != "job" for s in self.steps.values()):
                return None
            self.outcome = Outcome(JobState.FAILED, f"Step {failed.spec.name} failed: {failed.error}")
            return self.outcome
        for step in self.steps.values():
            if step.state == PENDING and all(self.steps[n].state in _OVER for n in step.spec.needs):
                self._launch(step)
        if all(s.state in _OVER for s in self.steps.values()):
            if any(s.state == FAILED for s in self.steps.values()):
                return None  # said at the next poll
            counts = {
                state: sum(s.state == state for s in self.steps.values())
                for state in (SUCCEEDED, CACHED, SKIPPED)
            }
            said = ", ".join(f"{n} {state.lower()}" for state, n in counts.items() if n)
            self.log.service(f"Pipeline done: {said}")
            self.outcome = Outcome(JobState.SUCCEEDED)
        return self.outcome

    # Starting a step ------------------------------------------------------

    def _launch(self, step: _Step) -> None:
        name = step.spec.name
        if any(self.steps[n].state == SKIPPED for n in step.spec.needs):
            self._end(step, SKIPPED, "a step it needs was skipped")
            return
        try:
            values = {
                "parameters": self.spec.parameters,
                "pipeline": self.job_id,
                "steps": {n: s.outputs for n, s in self.steps.items() if s.state in _DONE},
            }
            body = fill_template(step.spec.body, values, _UTC)
            if step.spec.when is not None:
                condition = str(fill_template(step.spec.when, values, _UTC)).strip().lower()
                if condition in _FALSE:
                    self._end(step, SKIPPED, f"its condition {step.spec.when!r} is {condition or 'empty'}")
                    return
            step.key = _key(step.spec.action, body)
            cached = self._cached(step)
            if cached is not None:
                step.outputs = cached
                self._end(step, CACHED, f"given what an earlier run was given (key {step.key[:12]})")
                return
            step.state = RUNNING
            if step.spec.action == "job":
                earlier = self._left_child(step)
                if earlier is not None:
                    step.job_id = earlier
                    self.log.service(f"Step {name}: following job {earlier}, which an earlier run started")
                    return
                step.job_id = self._child_id(name)
                self.log.service(f"Step {name}: submitting job {step.job_id}")
                self._engine.submit_job_body(step.job_id, body, project=self.project)
            else:
                self.log.service(f"Step {name}: {step.spec.action}")
                step.thread = threading.Thread(
                    target=self._act, args=(step, body), name=f"pipeline-{name}", daemon=True
                )
                step.thread.start()
        except MlnbError as e:
            self._end(step, FAILED, e.message)

    def _act(self, step: _Step, body: dict[str, Any]) -> None:
        """A step that is no job, on its thread: ``step.result`` or ``step.error``."""
        try:
            action = {"deploy": self._deploy, "evaluate": self._evaluate, "setDefault": self._set_default}
            step.result = action[step.spec.action](body)
        except MlnbError as e:
            step.error = e.message
        except Exception as e:  # the model's own code, reading data: said, not raised in a thread
            step.error = f"{type(e).__name__}: {e}"

    # Following a step ---------------------------------------------------

    def _follow(self, step: _Step) -> None:
        if step.spec.action == "job":
            try:
                job = self._engine.get_job(step.job_id or "", project=self.project)
            except MlnbError as e:
                self._end(step, FAILED, e.message)
                return
            if not job.ended:
                return
            if job.state != JobState.SUCCEEDED:
                self._end(
                    step, FAILED, f"job {job.job_id} {job.state.value}: {job.error_message or 'no message'}"
                )
                return
            self._succeed(step, _job_outputs(job))
            return
        if step.thread is not None and step.thread.is_alive():
            return
        if step.error is not None or step.result is None:
            self._end(step, FAILED, step.error or "it gave no outputs")
            return
        self._succeed(step, step.result)

    def _succeed(self, step: _Step, outputs: dict[str, Any]) -> None:
        step.outputs = {**outputs, "key": step.key, "shortKey": step.key[:12]}
        with self._cache() as tx:
            tx.keep(
                self.project,
                step.key,
                step.spec.name,
                self.job_id,
                step.spec.action,
                step.outputs,
                datetime.now(UTC),
            )
        self._end(step, SUCCEEDED, None)

    def _end(self, step: _Step, state: str, why: str | None) -> None:
        step.state = state
        if state == FAILED:
            step.error = why
        said = f": {why}" if why else ""
        self.log.service(f"Step {step.spec.name} {state.lower()}{said}")

    # Actions --------------------------------------------------------------

    def _deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        engine, model, version = self._engine, str(body["model"]), str(body["version"])
        origin = str(body["deploymentUri"])
        try:
            record = engine.deploy(
                model,
                version,
                origin,
                framework=body.get("framework"),
                description=body.get("description") or f"made by pipeline {self.job_id}",
                labels=body.get("labels"),
                prediction_class=body.get("predictionClass"),
                package_uris=body.get("packageUris") or (),
                project=self.project,
                actor=self._actor,
            )
        except AlreadyExists:
            record = engine.get_version(model, version, project=self.project)
            if record.deployment_uri != origin:
                made = record.deployment_uri
                raise FailedPrecondition(
                    f"Version {version!r} of model {model!r} exists already, made from {made!r}"
                ) from None
        return {"model": model, "version": record.name, "deploymentUri": origin}

    def _evaluate(self, body: dict[str, Any]) -> dict[str, Any]:
        engine, model = self._engine, str(body["model"])
        version = body.get("version")
        record = engine.evaluate(
            model,
            body["data"],
            body.get("target"),
            version=version,
            task=body.get("task"),
            dataset=body.get("dataset"),
            project=self.project,
            actor=self._actor,
        )
        passed, message = True, ""
        gates = body.get("gates")
        if gates:
            checked = Engine.evaluation_gates(gates) if isinstance(gates, str) else list(gates)
            try:
                engine.check_version_gates(model, record.version, checked, project=self.project)
            except FailedPrecondition as e:
                passed, message = False, e.message
        return {
            "model": model,
            "version": record.version,
            "evaluationId": record.evaluation_id,
            "metrics": record.metrics,
            "passed": passed,
            "gateMessage": message,
        }

    def _set_default(self, body: dict[str, Any]) -> dict[str, Any]:
        model, version = str(body["model"]), str(body["version"])
        record = self._engine.set_default_version(model, version, project=self.project, actor=self._actor)
        return {"model": model, "version": record.name}

    # The cache --------------------------------------------------------------

    def _cached(self, step: _Step) -> dict[str, Any] | None:
        """The outputs kept for the step's key, if what they stand for still stands."""
        with self._cache(write=False) as tx:
            outputs = tx.cached(self.project, step.key)
        if outputs is None:
            return None
        if self._still_stands(step.spec.action, outputs):
            return outputs
        with self._cache() as tx:
            tx.forget(self.project, step.key)
        return None

    def _still_stands(self, action: str, outputs: dict[str, Any]) -> bool:
        engine = self._engine
        try:
            if action == "job":
                job = engine.get_job(str(outputs.get("jobId")), project=self.project)
                return job.state == JobState.SUCCEEDED
            if action in ("deploy", "evaluate"):
                engine.get_version(str(outputs["model"]), str(outputs["version"]), project=self.project)
                return True
            if action == "setDefault":
                model = engine.get_model(str(outputs["model"]), project=self.project)
                return model.default_version is not None and model.default_version.name == outputs["version"]
        except (MlnbError, KeyError):
            return False
        return False

    # Helpers ----------------------------------------------------------------

    @property
    def _engine(self) -> Engine:
        if self.engine is None:
            raise FailedPrecondition("The pipeline was not prepared")
        return self.engine

    @property
    def _actor(self) -> str:
        return f"pipeline job {self.job_id}"

    @contextmanager
    def _cache(self, write: bool = True) -> Iterator[PipelinesTx]:
        if self.database is None:
            raise FailedPrecondition("A pipeline needs the metadata store")
        with self.database.session(write=write) as session:
            yield PipelinesTx(session)

    def _left_child(self, step: _Step) -> str | None:
        """The job an earlier run of this pipeline started for ``step`` and
        left running, if it was given the same (its key) and has not
        failed: still queued or running, or since succeeded."""
        job_id, key = self._left_running.pop(step.spec.name, ("", ""))
        if not job_id or key != step.key:
            return None
        try:
            job = self._engine.get_job(job_id, project=self.project)
        except NotFound:
            return None
        return job_id if not job.ended or job.state == JobState.SUCCEEDED else None

    def _child_id(self, step: str) -> str:
        """``{pipeline}_{step}``, or ``..._2`` and on once a resumed run
        finds the first taken."""
        base = f"{self.job_id}_{step}"
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}_{n}"
            try:
                self._engine.get_job(candidate, project=self.project)
            except NotFound:
                return candidate
        raise FailedPrecondition(f"Step {step}: no free job id left after {base}_999")

    def _cancel_children(self) -> None:
        for step in self.steps.values():
            if step.state == RUNNING and step.job_id:
                try:
                    self._engine.cancel_job(step.job_id, project=self.project)
                    self.log.service(f"Step {step.spec.name}: cancelled job {step.job_id}")
                except MlnbError as e:
                    self.log.service(
                        f"Step {step.spec.name}: could not cancel job {step.job_id}: {e.message}"
                    )

    def stop(self, grace_s: float) -> None:
        """Cancelled (or the host stops): the running child jobs are cancelled."""
        if self.engine is not None:
            self._cancel_children()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def progress(self) -> dict[str, Any] | None:
        steps = list(self.steps.values())
        return {
            "done": sum(s.state in _OVER for s in steps),
            "total": len(steps),
            "unit": "steps",
            "steps": [s.to_api() for s in steps],
            "layers": self.spec.layers(),
        }

    def outputs(self) -> dict[str, Any] | None:
        return None


def _job_outputs(job: JobRecord) -> dict[str, Any]:
    training, prediction = job.training_input or {}, job.prediction_input or {}
    outputs: dict[str, Any] = {
        "jobId": job.job_id,
        "state": job.state.value,
        "jobDir": training.get("jobDir") or (job.notebook_input or {}).get("jobDir"),
        "outputPath": prediction.get("outputPath"),
        "trainingOutput": job.training_output,
        "predictionOutput": job.prediction_output,
    }
    trials = (job.training_output or {}).get("trials") or []
    if trials:
        outputs["hyperparameters"] = trials[0].get("hyperparameters") or {}
    return {k: v for k, v in outputs.items() if v is not None}


def _key(action: str, body: dict[str, Any]) -> str:
    """The hash of what a step is given: its filled body and what the local
    files it names hold."""
    digest = hashlib.sha256(orjson.dumps({"action": action, "body": body}, option=orjson.OPT_SORT_KEYS))
    for text in sorted(set(_strings(body))):
        digest.update(_fingerprint(text).encode())
    return digest.hexdigest()


# Where a step writes: named in its key as text, never fingerprinted (what
# a run wrote there would change the next run's key).
_WRITTEN = frozenset({"jobDir", "outputPath"})


def _strings(value: Any) -> list[str]:
    """The strings a step reads from (the places it writes left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in _WRITTEN for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _fingerprint(text: str) -> str:
    """A local file's content hash; a folder's or a pattern's files by name,
    size and time; ``""`` for anything else (a URL, a word)."""
    if "://" in text or not text.startswith(("/", "./", "~")):
        return ""
    path = Path(text).expanduser()
    try:
        if any(c in text for c in "*?["):
            matched = sorted(glob.glob(str(path), recursive=True))[:_MOST_FILES]
            return "|".join(f"{f}:{_stat(Path(f))}" for f in matched)
        if path.is_file():
            if path.stat().st_size > _HASHED_FILE_BYTES:
                return f"{path}:{_stat(path)}"
            return f"{path}:{file_sha256(path)}"
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())[:_MOST_FILES]
            return "|".join(f"{p.relative_to(path)}:{_stat(p)}" for p in files)
    except OSError:
        return ""
    return ""


def _stat(path: Path) -> str:
    found = path.stat()
    return f"{found.st_size}:{found.st_mtime_ns}"
