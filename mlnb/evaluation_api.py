"""Evaluations, the part of :class:`mlnb.Engine` that measures versions on
labelled data: it predicts through the serving part (so a version is
measured as it serves) and keeps each evaluation in the store."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from mlnb.config import Settings
from mlnb.errors import InvalidArgument
from mlnb.predict_api import PredictionAPI
from mlnb.records import EvaluationRecord, now
from mlnb.store import Database

if TYPE_CHECKING:  # numpy and the evaluation part load when an evaluation runs, not with the Engine
    import numpy as np

    from mlnb.evaluation import LabelledData

__all__ = ["EvaluationAPI"]


class EvaluationAPI:
    """Evaluate versions, compare two, list a model's evaluations."""

    def __init__(self, settings: Settings, database: Database, serving: PredictionAPI) -> None:
        self.settings = settings
        self._database = database
        self._serving = serving

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
        project: str | None = None,
        actor: str | None = None,
    ) -> EvaluationRecord:
        from mlnb.evaluation import labelled_data

        labelled = labelled_data(data, target, dataset)
        return self._evaluated(model, labelled, version, task, store, project, actor)[0]

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
        import numpy as np

        from mlnb.evaluation import evaluate, infer_task

        record, predictions, probabilities, classes = self._serving.scored(
            model, labelled.instances, version=version, project=project
        )
        task = task or infer_task(labelled.targets, probabilities)
        if task == "classification" and probabilities is None and _probability_rows(predictions):
            # A model that answers with class probabilities (XGBoost's softprob,
            # a Keras softmax): the label is the top one, by position.
            probabilities, classes = predictions, list(range(len(predictions[0])))
            predictions = [int(np.argmax(p)) for p in predictions]
        metrics = evaluate(task, labelled.targets, predictions, probabilities, classes)
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


def _probability_rows(predictions: list[Any]) -> bool:
    return bool(predictions) and all(
        isinstance(p, list) and p and all(isinstance(v, float) for v in p) for p in predictions
    )
