"""Integrated gradients (Sundararajan et al., 2017) for differentiable
models: a feature's attribution is its distance from the baseline times
the mean gradient of the explained score along the straight path from the
baseline to the instance (``num_integral_steps`` steps, the trapezoid
rule). The path's gradients of all instances are computed in a few model
calls; ``approx_error`` is how far the attributions' sum misses
``example_score - baseline_score``, relative to their size, which more
steps shrink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlnb.errors import FailedPrecondition
from mlnb.explain.attribution import (
    MAX_ROWS_PER_CALL,
    Attribution,
    AttributionRun,
    in_calls,
    relative_error,
)
from mlnb.explain.features import FeatureTable

__all__ = ["PathIntegral", "integrated_gradients", "path_integral"]

# rows, labels -> (scores (rows, outputs), gradients (rows, features)).
GradientFunction = Callable[[np.ndarray, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PathIntegral:
    """Integrated gradients of instances of any shape.

    Attributes:
        attributions: (instances, *shape) each input value's attribution.
        labels: (instances,) the explained output of each.
        example_scores, baseline_scores: (instances,) that output's score
            at the instance and at the baseline.
        model_calls: The gradient calls it took.
    """

    attributions: np.ndarray
    labels: np.ndarray
    example_scores: np.ndarray
    baseline_scores: np.ndarray
    model_calls: int

    def errors(self) -> list[float]:
        """How far each instance's attributions miss its score difference,
        relative to their size."""
        return [
            relative_error(abs(float(a.sum()) - (float(e) - float(b))), a)
            for a, e, b in zip(self.attributions, self.example_scores, self.baseline_scores, strict=True)
        ]


def path_integral(x: np.ndarray, base: np.ndarray, gradients: GradientFunction, steps: int) -> PathIntegral:
    """Integrated gradients of ``x`` (instances, *shape) from ``base`` (*shape)."""
    n, shape = x.shape[0], x.shape[1:]
    size = int(np.prod(shape)) if shape else 1
    # Rows a call: MAX_ROWS_PER_CALL of a table's width, fewer of an image's.
    per_call = max(1, MAX_ROWS_PER_CALL * 20 // max(size, 20))
    # The instances first: their top scores choose the explained labels.
    parts, calls = in_calls(lambda rows: gradients(rows, None), x, per_call)
    example_scores = np.concatenate([scores for scores, _ in parts])
    labels = example_scores.argmax(axis=1) if example_scores.shape[1] > 1 else np.zeros(n, dtype=int)
    alphas = np.linspace(0.0, 1.0, steps + 1).reshape(1, steps + 1, *([1] * len(shape)))
    path = base[None, None] + alphas * (x - base)[:, None]  # (n, steps+1, *shape)
    path_labels = np.repeat(labels, steps + 1)
    rows = path.reshape(n * (steps + 1), *shape)
    grads_parts, path_calls = in_calls(
        lambda index: gradients(rows[index], path_labels[index]), np.arange(len(rows)), per_call
    )
    path_scores = np.concatenate([scores for scores, _ in grads_parts]).reshape(n, steps + 1, -1)
    grads = np.concatenate([g for _, g in grads_parts]).reshape(n, steps + 1, *shape)
    mean_gradient = (grads[:, :-1] + grads[:, 1:]).mean(axis=1) / 2  # trapezoid rule
    chosen = np.arange(n)
    return PathIntegral(
        attributions=(x - base) * mean_gradient,
        labels=labels,
        example_scores=example_scores[chosen, labels],
        baseline_scores=path_scores[chosen, 0, labels],
        model_calls=calls + path_calls,
    )


def integrated_gradients(
    table: FeatureTable, baseline: Sequence[Any], gradients: GradientFunction, steps: int
) -> AttributionRun:
    """Attribute each instance's top score to its features.

    Raises:
        FailedPrecondition: Instances or a baseline that are not numbers.
    """
    try:
        x = table.values.astype(float)
        base = np.asarray(list(baseline), dtype=float)
    except (TypeError, ValueError) as e:
        raise FailedPrecondition(
            "Integrated gradients need instances and a baseline of numbers only; "
            "use sampledShapleyAttribution for other inputs"
        ) from e
    run = path_integral(x, base, gradients, steps)
    results = [
        Attribution(
            label_index=int(run.labels[i]),
            example_score=float(run.example_scores[i]),
            baseline_score=float(run.baseline_scores[i]),
            approx_error=error,
            attributions=dict(zip(table.names, run.attributions[i].tolist(), strict=True)),
        )
        for i, error in enumerate(run.errors())
    ]
    return AttributionRun(results, run.model_calls)
