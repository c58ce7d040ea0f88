"""What every attribution method produces: per instance, one explained
output's scores and each feature's share of their difference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_ROWS_PER_CALL",
    "Attribution",
    "AttributionRun",
    "ScoreFunction",
    "in_calls",
    "relative_error",
    "top_label",
]

# Rows a method hands the model at once: a request's work in a few calls,
# never one call per step, and never all of a large request's rows at once.
MAX_ROWS_PER_CALL = 20_000

# Scores of rows (a list of instances, or a 2-D array of lists of numbers):
# (rows, outputs) numbers.
ScoreFunction = Callable[[Any], np.ndarray]


@dataclass(frozen=True)
class Attribution:
    """One instance's explanation of one output (label)."""

    label_index: int
    example_score: float
    baseline_score: float
    approx_error: float
    attributions: dict[str, Any]  # numbers by feature; an image input's map (nested lists)

    def to_api(self) -> dict[str, Any]:
        return {
            "label_index": self.label_index,
            "example_score": self.example_score,
            "baseline_score": self.baseline_score,
            "approx_error": self.approx_error,
            "attributions": self.attributions,
        }


@dataclass(frozen=True)
class AttributionRun:
    """The attributions of a request and the model calls they took."""

    attributions: list[Attribution]
    model_calls: int


def top_label(scores: np.ndarray) -> int:
    """The explained output of one instance: the predicted label's (the top
    score) for a model with several outputs, the only one otherwise."""
    return int(np.argmax(scores)) if scores.shape[0] > 1 else 0


def relative_error(error: float, attributions: np.ndarray) -> float:
    """``error`` relative to the attributions' total size (absolute when
    they are all about zero)."""
    size = float(np.abs(attributions).sum())
    return error / size if size > 1e-12 else error


def in_calls(
    function: Callable[[Any], Any], rows: Any, per_call: int = MAX_ROWS_PER_CALL
) -> tuple[list[Any], int]:
    """``function`` over ``rows`` in parts of ``per_call``: the parts' results and their count."""
    starts = range(0, len(rows), per_call)
    parts = [function(rows[start : start + per_call]) for start in starts]
    return parts, len(parts)
