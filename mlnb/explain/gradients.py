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
from typing import Any

import numpy as np

from mlnb.errors import FailedPrecondition
from mlnb.explain.attribution import Attribution, AttributionRun, in_calls, relative_error
from mlnb.explain.features import FeatureTable

__all__ = ["integrated_gradients"]

# rows, labels -> (scores (rows, outputs), gradients (rows, features)).
GradientFunction = Callable[[np.ndarray, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


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
    n, d = x.shape
    # The instances first: their top scores choose the explained labels.
    parts, calls = in_calls(lambda rows: gradients(rows, None), x)
    example_scores = np.concatenate([scores for scores, _ in parts])
    labels = example_scores.argmax(axis=1) if example_scores.shape[1] > 1 else np.zeros(n, dtype=int)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    path = base[None, None, :] + alphas[None, :, None] * (x - base)[:, None, :]  # (n, steps+1, d)
    path_labels = np.repeat(labels, steps + 1)
    rows = path.reshape(n * (steps + 1), d)
    grads_parts, path_calls = in_calls(
        lambda index: gradients(rows[index], path_labels[index]), np.arange(len(rows))
    )
    path_scores = np.concatenate([scores for scores, _ in grads_parts]).reshape(n, steps + 1, -1)
    grads = np.concatenate([g for _, g in grads_parts]).reshape(n, steps + 1, d)
    mean_gradient = (grads[:, :-1] + grads[:, 1:]).mean(axis=1) / 2  # trapezoid rule
    attributions = (x - base) * mean_gradient
    results = []
    for i in range(n):
        label = int(labels[i])
        example, at_baseline = float(example_scores[i, label]), float(path_scores[i, 0, label])
        miss = abs(float(attributions[i].sum()) - (example - at_baseline))
        results.append(
            Attribution(
                label_index=label,
                example_score=example,
                baseline_score=at_baseline,
                approx_error=relative_error(miss, attributions[i]),
                attributions={name: float(v) for name, v in zip(table.names, attributions[i], strict=True)},
            )
        )
    return AttributionRun(results, calls + path_calls)
