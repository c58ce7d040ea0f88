"""A batch prediction job's execution: plan the shards (or take up the plan
of the run being resumed), start up to maxWorkerCount worker processes
(here, or as tasks on the Dask cluster), report shards done and the counts
while they run, and end SUCCEEDED when every shard is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mlnb.batch.inputs import list_inputs, plan_shards
from mlnb.batch.results import OutputFolder
from mlnb.batch.spec import DEFAULT_MAX_WORKERS, EvaluationSpec, PredictionSpec
from mlnb.errors import FailedPrecondition, MlnbError
from mlnb.runtime.execution import JobContext, Outcome
from mlnb.runtime.logs import LogWriter
from mlnb.runtime.replicas import LocalLauncher, Replica, ReplicaHandle, stop_replicas
from mlnb.states import JobState

if TYPE_CHECKING:
    from mlnb.runtime.dask_cluster import DaskSession
    from mlnb.store import Database

__all__ = ["MODEL_FILE", "BatchPredictionExecution"]

WORKER_MODULE = "mlnb.batch.worker"
# The model of a job, resolved at submission, in the job's folder.
MODEL_FILE = "batch-model.json"
PLAN_VERSION = 1


class BatchPredictionExecution:
    """Shards of the input predicted by worker processes."""

    def __init__(
        self,
        job_id: str,
        prediction_input: dict[str, Any],
        log: LogWriter,
        home: Path,
        session: DaskSession | None = None,
        warm: bool = False,
        project: str = "",
        database: Database | None = None,
    ) -> None:
        self.job_id = job_id
        self.project = project
        self.database = database
        self.evaluation: dict[str, Any] | None = None
        self.warm = warm
        self.spec = PredictionSpec.from_api(prediction_input)
        self.resume = bool(prediction_input.get("resume"))
        self.log = log
        self.home = home
        self.session = session
        self.folder = OutputFolder(self.spec.output_path)
        # ML Engine's default of 10 workers suits a cluster; here, one per core.
        default_workers = DEFAULT_MAX_WORKERS if session is not None else (os.cpu_count() or 1)
        self.max_workers = self.spec.max_worker_count or default_workers
        self.count = 0
        self.handles: list[ReplicaHandle] = []
        self._stats: dict[int, dict[str, Any]] = {}

    @classmethod
    def for_job(cls, context: JobContext) -> BatchPredictionExecution:
        """A batch prediction job's execution; its workers are Dask tasks when
        the context has a cluster."""
        job = context.job
        warm = context.settings.warm_libraries is not None
        return cls(
            job.job_id,
            job.prediction_input or {},
            context.log,
            context.home,
            context.session,
            warm,
            job.project,
            context.database,
        )

    def prepare(self) -> None:
        plan = self.folder.read_plan()
        if plan is not None:
            self._take_up(plan)
            removed = self.folder.remove_leftovers()
            if removed:
                self.log.service(f"Removed {removed} partial files of shards that were not finished")
        else:
            self._plan()
        done = len(self.folder.done_shards(self.count))
        if done:
            self.log.service(f"{done} of {self.count} shards are written already; predicting the rest")

    def _take_up(self, plan: dict[str, Any]) -> None:
        """Continue the run whose plan is in the output folder."""
        if plan.get("jobId") != self.job_id and not self.resume:
            raise FailedPrecondition(
                f"outputPath {self.spec.output_path!r} holds the results of job {plan.get('jobId')!r}: "
                "resume that run (resume), or choose another outputPath",
                field="resume",
            )
        if (
            list(plan["inputPaths"]) != list(self.spec.input_paths)
            or plan["dataFormat"] != self.spec.data_format
        ):
            raise FailedPrecondition(
                f"outputPath {self.spec.output_path!r} holds a run over other inputs "
                f"({', '.join(plan['inputPaths'])}, {plan['dataFormat']}); choose another outputPath"
            )
        if plan.get("evaluation") != self._evaluation_body():
            raise FailedPrecondition(
                f"outputPath {self.spec.output_path!r} holds a run with another evaluation "
                f"({plan.get('evaluation') or 'none'}); choose another outputPath"
            )
        self.count = len(plan["shards"])
        if plan.get("jobId") != self.job_id:
            self.log.service(f"Resuming the run of job {plan.get('jobId')}, with its model")
            self.folder.write_plan({**plan, "jobId": self.job_id})

    def _plan(self) -> None:
        if self.folder.results_present():
            raise FailedPrecondition(
                f"outputPath {self.spec.output_path!r} already holds prediction results that mlnb did not "
                "plan; choose an empty folder"
            )
        model = orjson.loads((self.home / MODEL_FILE).read_bytes())
        files = list_inputs(self.spec.input_paths)
        shards = plan_shards(files, self.spec.data_format, self.max_workers)
        self.count = len(shards)
        megabytes = sum(size for _, size in files) / 1e6
        self.log.service(
            f"{len(files)} input files ({megabytes:.1f} MB) in {len(shards)} shards, "
            f"predicted with {model.get('name') or model.get('uri')}"
        )
        self.folder.write_plan(
            {
                "planVersion": PLAN_VERSION,
                "jobId": self.job_id,
                "inputPaths": list(self.spec.input_paths),
                "dataFormat": self.spec.data_format,
                "outputDataFormat": self.spec.output_data_format,
                "batchSize": self.spec.batch_size,
                "keyField": self.spec.key_field,
                "signatureName": self.spec.signature_name,
                "explain": self.spec.explain,
                "evaluation": self._evaluation_body(),
                "model": model,
                "shards": [s.to_json() for s in shards],
            }
        )

    def start(self) -> None:
        pending = self.count - len(self.folder.done_shards(self.count))
        workers = max(1, min(self.max_workers, pending))
        if pending == 0:
            return
        replicas = [Replica("worker", i) for i in range(workers)]
        environments = [
            {"MLNB_BATCH_WORKER": str(i), "MLNB_BATCH_WORKERS": str(workers)} for i in range(workers)
        ]
        arguments = [self.folder.url]
        if self.session is not None:
            from mlnb.runtime.dask_cluster import DaskLauncher

            launcher = DaskLauncher(self.session)  # no addresses asked: no rendezvous
            self.handles = launcher.start([], WORKER_MODULE, arguments, replicas, environments)
        else:
            local = LocalLauncher(self.log, self.home / "work", warm=self.warm)
            self.handles = local.start(Path(sys.executable), WORKER_MODULE, arguments, replicas, environments)
        self.log.service(f"Predicting {pending} shards with {workers} workers")

    def poll(self) -> Outcome | None:
        if any(h.poll() is None for h in self.handles):
            return None
        done = self.folder.done_shards(self.count)
        if len(done) == self.count:
            self.folder.merge_errors(self.count)
            if self.spec.evaluation is not None:
                try:
                    self._evaluate(self.spec.evaluation)
                except MlnbError as e:
                    return Outcome(
                        JobState.FAILED,
                        f"Every shard was predicted, but the evaluation failed: {e.message}\n"
                        "Resuming the job evaluates again without predicting.",
                    )
            return Outcome(JobState.SUCCEEDED)
        failed = [h for h in self.handles if h.poll() != 0]
        reason = failed[0].describe_exit() if failed else "The workers ended without writing them."
        return Outcome(
            JobState.FAILED,
            f"{self.count - len(done)} of {self.count} shards were not written. {reason}\n"
            "Resuming the job predicts only the rest.",
        )

    def _evaluation_body(self) -> dict[str, Any] | None:
        return self.spec.evaluation.to_api() if self.spec.evaluation is not None else None

    def _evaluate(self, spec: EvaluationSpec) -> None:
        """Evaluate the version on the labelled rows; keep the evaluation
        with the version when the job predicted with a deployed one."""
        from mlnb.batch.labelled import EVALUATION_NAME, evaluate_output

        self._stats = self.folder.shard_stats(self.count, self._stats)
        body = evaluate_output(self.folder, self.count, spec, self._stats)
        summary = {"task": body["task"], "rows": body["rows"], "fingerprint": body["fingerprint"]}
        summary["file"] = self.folder.path(EVALUATION_NAME)
        version = self._version()
        if version is not None:
            summary["model"], summary["version"] = version
            if spec.store and self.database is not None:
                summary["evaluationId"] = self._store(self.database, spec, version, body)
        self.evaluation = summary
        headline = ", ".join(
            f"{k} {body['metrics'][k]:.4g}"
            for k in ("accuracy", "f1Macro", "rocAuc", "rmse", "mae", "r2")
            if isinstance(body["metrics"].get(k), float)
        )
        self.log.service(f"Evaluated on {body['rows']} labelled rows ({body['task']}): {headline}")

    def _version(self) -> tuple[str, str] | None:
        """The model and version the job predicted with, when a deployed one."""
        name = str(orjson.loads((self.home / MODEL_FILE).read_bytes()).get("name") or "")
        parts = name.split("/")
        if len(parts) == 6 and parts[2] == "models" and parts[4] == "versions":
            return parts[3], parts[5]
        return None

    def _store(
        self, database: Database, spec: EvaluationSpec, version: tuple[str, str], body: dict[str, Any]
    ) -> str:
        from mlnb.batch.labelled import evaluation_record
        from mlnb.store import EvaluationsTx

        evaluation = evaluation_record(
            body, spec, (self.project, *version), self.job_id, self.spec.input_paths
        )
        with database.session(write=True) as session:
            EvaluationsTx(session).add(evaluation)
        return evaluation.evaluation_id

    def stop(self, grace_s: float) -> None:
        stop_replicas(self.handles, grace_s)

    def close(self) -> None:
        """Nothing held beyond the processes, which have ended."""

    def progress(self) -> dict[str, Any] | None:
        return {"done": len(self.folder.done_shards(self.count)), "total": self.count, "unit": "shards"}

    def outputs(self) -> dict[str, Any] | None:
        self._stats = self.folder.shard_stats(self.count, self._stats)
        stats = self._stats.values()
        output = {
            "outputPath": self.spec.output_path,
            "predictionCount": str(sum(int(s["predictions"]) for s in stats)),
            "errorCount": str(sum(int(s["errors"]) for s in stats)),
            "nodeHours": round(sum(float(s["seconds"]) for s in stats) / 3600, 6),
        }
        if self.evaluation is not None:
            output["evaluation"] = self.evaluation  # mlnb's
        return {"prediction_output": output}
