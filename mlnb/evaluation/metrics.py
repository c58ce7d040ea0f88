"""A version's figures on labelled data, by the task it serves, all from
scikit-learn's ``metrics`` module (nothing rewritten here): what is kept is
JSON-ready, curves thinned to at most ``CURVE_POINTS`` points."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlnb.errors import InvalidArgument

__all__ = [
    "CURVE_POINTS",
    "TASKS",
    "bootstrap_difference",
    "evaluate",
    "figures_of",
    "infer_task",
    "label_key",
]

TASKS = ("classification", "regression")
CURVE_POINTS = 200
# A target of whole numbers with at most this many values is read as classes.
_MAX_CLASSES = 50


def infer_task(targets: Sequence[Any], probabilities: Any) -> str:
    """``classification`` for a model with class probabilities, or targets
    that are labels (strings, booleans, few whole numbers); else ``regression``."""
    if probabilities is not None:
        return "classification"
    values = np.asarray(targets)
    if values.dtype.kind in "OUSb":
        return "classification"
    whole = values.dtype.kind in "iu" or bool(np.all(np.mod(values, 1) == 0))
    return "classification" if whole and len(np.unique(values)) <= _MAX_CLASSES else "regression"


def evaluate(
    task: str,
    targets: Sequence[Any],
    predictions: Sequence[Any],
    probabilities: Any = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The figures of ``predictions`` against ``targets``.

    Raises:
        InvalidArgument: An unknown task, or predictions of another count
            or kind than the targets.
    """
    if task not in TASKS:
        raise InvalidArgument(f"task {task!r} is not one of {', '.join(TASKS)}")
    if len(targets) != len(predictions):
        raise InvalidArgument(f"{len(targets)} targets but {len(predictions)} predictions")
    if not len(targets):
        raise InvalidArgument("No rows to evaluate")
    if task == "regression":
        return _regression(np.asarray(targets, dtype=float), _numbers(predictions))
    return _classification(list(targets), list(predictions), probabilities, classes)


def figures_of(
    targets: Sequence[Any],
    predictions: Sequence[Any],
    probabilities: Any,
    classes: Sequence[Any] | None,
    task: str | None = None,
) -> tuple[str, list[Any], dict[str, Any]]:
    """A version's scored rows (its predictions and, for a classifier that
    has them, its class probabilities in ``classes``' order) to the task
    (inferred when not given), the labels it predicted and the figures:
    what an online evaluation and a batch prediction job over labelled
    files both compute.

    Raises:
        InvalidArgument: As :func:`evaluate`.
    """
    task = task or infer_task(targets, probabilities)
    predictions = list(predictions)
    if task == "classification" and probabilities is None and _probability_rows(predictions):
        # A model that answers with class probabilities (XGBoost's softprob,
        # a Keras softmax): the label is the top one, by position.
        probabilities, classes = predictions, list(range(len(predictions[0])))
        predictions = [int(np.argmax(p)) for p in predictions]
    return task, predictions, evaluate(task, targets, predictions, probabilities, classes)


def _probability_rows(predictions: list[Any]) -> bool:
    return bool(predictions) and all(
        isinstance(p, list) and p and all(isinstance(v, float) for v in p) for p in predictions
    )


def _numbers(predictions: Sequence[Any]) -> np.ndarray:
    try:
        values = np.asarray(predictions, dtype=float)
    except (TypeError, ValueError) as e:
        raise InvalidArgument("A regression is evaluated on numbers; the predictions are not numbers") from e
    return values.reshape(len(values), -1)[:, 0]


def _regression(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    from sklearn import metrics

    residuals = targets - predictions
    shown = _thin(np.arange(len(targets)))
    return {
        "task": "regression",
        "rows": len(targets),
        "mae": float(metrics.mean_absolute_error(targets, predictions)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(targets, predictions))),
        "r2": float(metrics.r2_score(targets, predictions)) if len(targets) > 1 else None,
        "residuals": {
            "mean": float(residuals.mean()),
            "std": float(residuals.std()),
            "quantiles": {str(q): float(np.quantile(residuals, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
            # A sample for the residual plot: (prediction, residual) pairs.
            "predicted": predictions[shown].tolist(),
            "residual": residuals[shown].tolist(),
        },
    }


def _classification(
    targets: list[Any], predictions: list[Any], probabilities: Any, classes: Sequence[Any] | None
) -> dict[str, Any]:
    from sklearn import metrics

    predictions = [_label(p) for p in predictions]
    labels = sorted(set(map(label_key, targets)) | set(map(label_key, predictions)), key=str)
    truth, guessed = [label_key(t) for t in targets], [label_key(p) for p in predictions]
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        truth, guessed, labels=labels, zero_division=0
    )
    body: dict[str, Any] = {
        "task": "classification",
        "rows": len(targets),
        "accuracy": float(metrics.accuracy_score(truth, guessed)),
        "precisionMacro": float(np.mean(precision)),
        "recallMacro": float(np.mean(recall)),
        "f1Macro": float(np.mean(f1)),
        "f1Weighted": float(
            metrics.f1_score(truth, guessed, labels=labels, average="weighted", zero_division=0)
        ),
        "perClass": {
            str(label): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusionMatrix": {
            "labels": [str(label) for label in labels],
            "matrix": metrics.confusion_matrix(truth, guessed, labels=labels).tolist(),
        },
    }
    if probabilities is not None and classes is not None:
        body |= _probability_figures(
            truth, np.asarray(probabilities, dtype=float), [label_key(c) for c in classes]
        )
    return body


def _probability_figures(truth: list[Any], probabilities: np.ndarray, classes: list[Any]) -> dict[str, Any]:
    """Log loss, and ROC and precision-recall curves with their areas (one
    curve a class against the rest; for two classes, the second's)."""
    from sklearn import metrics

    if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
        return {}
    unknown = set(truth) - set(classes)
    if unknown:
        return {"probabilityNote": f"targets {sorted(map(str, unknown))} are not classes of the model"}
    sums = probabilities.sum(axis=1)
    figures: dict[str, Any] = {}
    if np.allclose(sums, 1.0, atol=1e-3):
        # Single precision (XGBoost, Keras) sums to one only roughly.
        probabilities = probabilities / sums[:, None]
        figures["logLoss"] = float(metrics.log_loss(truth, probabilities, labels=classes))
    else:
        figures["probabilityNote"] = "the model's scores do not sum to one: no log loss"
    curved = classes[1:] if len(classes) == 2 else classes
    roc, pr = {}, {}
    for label in curved:
        column = probabilities[:, classes.index(label)]
        positive = np.asarray([t == label for t in truth])
        if positive.all() or not positive.any():
            continue  # a class absent (or alone) in the data has no curve
        fpr, tpr, _ = metrics.roc_curve(positive, column)
        precision, recall, _ = metrics.precision_recall_curve(positive, column)
        roc[str(label)] = {"auc": float(metrics.auc(fpr, tpr)), **_curve("fpr", fpr, "tpr", tpr)}
        pr[str(label)] = {
            "averagePrecision": float(metrics.average_precision_score(positive, column)),
            **_curve("recall", recall, "precision", precision),
        }
    if roc:
        figures["rocAuc"] = float(np.mean([c["auc"] for c in roc.values()]))
        figures["roc"], figures["precisionRecall"] = roc, pr
    return figures


def _curve(x_name: str, x: np.ndarray, y_name: str, y: np.ndarray) -> dict[str, list[float]]:
    kept = _thin(np.arange(len(x)))
    return {x_name: x[kept].tolist(), y_name: y[kept].tolist()}


def _thin(index: np.ndarray) -> np.ndarray:
    """At most CURVE_POINTS of ``index``, evenly spread, the ends kept."""
    if len(index) <= CURVE_POINTS:
        return index
    kept: np.ndarray = index[np.unique(np.linspace(0, len(index) - 1, CURVE_POINTS).round().astype(int))]
    return kept


def _label(prediction: Any) -> Any:
    """A classifier's label from its prediction (a bare label, or an object
    holding one, as some models answer)."""
    if isinstance(prediction, dict):
        for key in ("label", "class", "classes", "prediction"):
            if key in prediction:
                return prediction[key]
    return prediction


def label_key(value: Any) -> Any:
    """Labels compared alike whether they came as 1, 1.0 or numpy's 1."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and float(value).is_integer():
        return int(value)
    return value if isinstance(value, str | int | float) else str(value)


def bootstrap_difference(
    metric: Callable[[np.ndarray], float], rows: int, rounds: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """``metric`` (over row indices) on all rows, and a 95% interval of it
    over ``rounds`` resamplings of the rows with replacement."""
    rng = np.random.default_rng(seed)
    whole = metric(np.arange(rows))
    samples = [metric(rng.integers(0, rows, rows)) for _ in range(rounds)]
    low, high = np.quantile(samples, [0.025, 0.975])
    return float(whole), float(low), float(high)
