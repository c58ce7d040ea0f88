"""Evaluations, the part of :class:`mlnb.Engine` that measures versions on
labelled data: it predicts through the serving part (so a version is
measured as it serves) and keeps each evaluation in the store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlnb.batch_api import BatchAPI
from mlnb.config import Settings
from mlnb.errors import FailedPrecondition, InvalidArgument
from mlnb.jobs_api import JobsAPI
from mlnb.predict_api import PredictionAPI
from mlnb.records import EvaluationRecord, now
from mlnb.store import Database

if TYPE_CHECKING:  # numpy and the evaluation part load when an evaluation runs, not with the Engine
    import numpy as np

    from mlnb.batch.spec import EvaluationSpec
    from mlnb.evaluation import LabelledData

__all__ = ["EvaluationAPI"]


class EvaluationAPI:
    """Evaluate versions, compare two, list a model's evaluations."""

    def __init__(
        self, settings: Settings, database: Database, serving: PredictionAPI, batch: BatchAPI, jobs: JobsAPI
    ) -> None:
        self.settings = settings
        self._database = database
        self._serving = serving
        self._batch = batch
        self._jobs = jobs

    def evaluate(
        self,
        model: str,
        data: Any,
        target: str | None,
        *,
        version: str | None = None,
        task: str | None = None,
        dataset: str | None = None,
        store: bool = True,
        batch: bool | None = None,
        output_path: str | None = None,
        project: str | None = None,
        actor: str | None = None,
    ) -> EvaluationRecord:
        from mlnb.evaluation import labelled_data

        if self._in_batch(data, batch):
            if target is None:
                raise InvalidArgument("Name the column of the true values (target)", field="target")
            return self._evaluated_in_batch(
                model, str(data), target, version, task, dataset, store, output_path, project
            )
        labelled = labelled_data(data, target, dataset)
        return self._evaluated(model, labelled, version, task, store, project, actor)[0]

    def _in_batch(self, data: Any, batch: bool | None) -> bool:
        """Whether to evaluate through a batch prediction job: when asked, or
        by default for a file of another machine (a URL) or one of at least
        ``evaluation_batch_mb`` (a Parquet file is read here: batch jobs
        read JSON lines and CSV)."""
        is_file = isinstance(data, str | Path)
        if batch is not None:
            if batch and not is_file:
                raise InvalidArgument(
                    "An evaluation in a batch prediction job reads files: write the data to a .jsonl "
                    "or .csv file (or evaluate it here, without batch)"
                )
            return batch
        if not is_file or str(data).endswith(".parquet"):
            return False
        if "://" in str(data):
            return True
        path = Path(data)
        return path.is_file() and path.stat().st_size >= self.settings.evaluation_batch_mb * 1e6

    def _evaluated_in_batch(
        self,
        model: str,
        data: str,
        target: str,
        version: str | None,
        task: str | None,
        dataset: str | None,
        store: bool,
        output_path: str | None,
        project: str | None,
    ) -> EvaluationRecord:
        """Predict the labelled files in a batch prediction job and take the
        evaluation it made (its results stay in ``output_path``)."""
        from mlnb.batch.spec import EvaluationSpec
        from mlnb.store import EvaluationsTx

        project = self.settings.project_of(project)
        data_format = "CSV" if data.endswith((".csv", ".csv.gz")) else "JSON"
        job_id = f"evaluate_{model}_{uuid.uuid4().hex[:12]}".replace("-", "_")
        output = output_path or f"{self.settings.artifact_root.rstrip('/')}/evaluations/{job_id}"
        spec = EvaluationSpec(target, dataset or data, task, store)
        self._batch.submit_prediction_job(
            job_id,
            {"evaluation": spec.to_api()},
            model=model,
            version=version,
            input_paths=[data],
            output_path=output,
            data_format=data_format,
            project=project,
        )
        job = self._jobs.wait_job(job_id, project=project)
        summary = (job.prediction_output or {}).get("evaluation")
        if job.state != "SUCCEEDED" or not summary:
            raise FailedPrecondition(
                f"The batch prediction job {job_id} that evaluates {data} ended {job.state}: "
                f"{job.error_message or 'no evaluation was made'}"
            )
        if "evaluationId" not in summary:
            return self._unstored(project, job_id, summary, spec)
        with self._database.session() as session:
            record = EvaluationsTx(session).one(project, summary["evaluationId"])
        if record is None:
            raise FailedPrecondition(f"The evaluation of job {job_id} is not in the store")
        return record

    def _unstored(
        self, project: str, job_id: str, summary: dict[str, Any], spec: EvaluationSpec
    ) -> EvaluationRecord:
        """The evaluation a job wrote beside its results, not kept in the store."""
        import fsspec
        import orjson

        from mlnb.batch.labelled import evaluation_record

        with fsspec.open(summary["file"], "rb") as stream:
            body = orjson.loads(stream.read())
        version = (project, summary["model"], summary["version"])
        return evaluation_record(body, spec, version, job_id, [])  # the spec names its data

    def compare(
        self,
        model: str,
        versions: tuple[str | None, str],
        data: Any,
        target: str,
        *,
        task: str | None = None,
        dataset: str | None = None,
        store: bool = True,
        rounds: int = 1000,
        project: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Evaluate two versions on the same data; for each headline figure,
        the second's minus the first's with a 95% bootstrap interval (rows
        resampled, both versions' predictions of a row kept together)."""
        from mlnb.evaluation import bootstrap_difference, labelled_data

        named = versions[0] or self._serving.serving_version(model, project=project).name
        if named == versions[1]:
            raise InvalidArgument(f"Compare two different versions, not {named} with itself")
        labelled = labelled_data(data, target, dataset)
        first, first_rows = self._evaluated(model, labelled, named, task, store, project, actor)
        second, second_rows = self._evaluated(model, labelled, versions[1], first.task, store, project, actor)
        differences = {}
        for name, per_row in _row_figures(first.task).items():
            value, low, high = bootstrap_difference(
                _difference(per_row(first_rows), per_row(second_rows)), first.rows, rounds
            )
            differences[name] = {"difference": value, "low": low, "high": high}
        return {"evaluations": [first, second], "differences": differences}

    def list_evaluations(
        self, model: str, *, version: str | None = None, limit: int = 100, project: str | None = None
    ) -> list[EvaluationRecord]:
        from mlnb.store import EvaluationsTx

        with self._database.session() as session:
            return EvaluationsTx(session).list(self.settings.project_of(project), model, version, limit)

    def latest_evaluations(self, project: str | None = None) -> dict[tuple[str, str], EvaluationRecord]:
        from mlnb.store import EvaluationsTx

        with self._database.session() as session:
            return EvaluationsTx(session).latest(self.settings.project_of(project))

    def _evaluated(
        self,
        model: str,
        labelled: LabelledData,
        version: str | None,
        task: str | None,
        store: bool,
        project: str | None,
        actor: str | None,
    ) -> tuple[EvaluationRecord, _Rows]:
        from mlnb.evaluation import figures_of

        record, predictions, probabilities, classes = self._serving.scored(
            model, labelled.instances, version=version, project=project
        )
        task, predictions, metrics = figures_of(labelled.targets, predictions, probabilities, classes, task)
        evaluation = EvaluationRecord(
            project=record.project,
            model=record.model,
            version=record.name,
            evaluation_id=uuid.uuid4().hex,
            time=now(),
            actor=self.settings.actor_of(actor),
            dataset=labelled.name,
            fingerprint=labelled.fingerprint,
            task=task,
            target=labelled.target,
            rows=len(labelled.targets),
            metrics=metrics,
        )
        if store:
            from mlnb.store import EvaluationsTx

            with self._database.session(write=True) as session:
                EvaluationsTx(session).add(evaluation)
        return evaluation, _Rows(task, labelled.targets, predictions)


class _Rows:
    """One version's predictions beside the targets, for per-row figures."""

    def __init__(self, task: str, targets: list[Any], predictions: list[Any]) -> None:
        self.task = task
        self.targets = targets
        self.predictions = predictions


def _row_figures(task: str) -> dict[str, Any]:
    """Figures that are means over rows, as functions of a version's rows
    to a function of row indices: what a bootstrap resamples."""
    import numpy as np

    if task == "classification":

        def accuracy(rows: _Rows) -> Any:
            from mlnb.evaluation import label_key

            pairs = zip(rows.targets, rows.predictions, strict=True)
            hits = np.asarray([label_key(t) == label_key(p) for t, p in pairs])
            return lambda index: hits[index].mean()

        return {"accuracy": accuracy}

    def squared(rows: _Rows) -> np.ndarray:
        predicted = np.asarray(rows.predictions, float).reshape(len(rows.targets), -1)[:, 0]
        return np.asarray((np.asarray(rows.targets, float) - predicted) ** 2)

    def rmse(rows: _Rows) -> Any:
        errors = squared(rows)
        return lambda index: float(np.sqrt(errors[index].mean()))

    def mae(rows: _Rows) -> Any:
        errors = np.sqrt(squared(rows))
        return lambda index: errors[index].mean()

    return {"rmse": rmse, "mae": mae}


def _difference(first: Any, second: Any) -> Any:
    """The second's figure minus the first's, over the same rows."""
    return lambda index: float(second(index) - first(index))
