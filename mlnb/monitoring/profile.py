"""A profile of instances: per feature, its kind, count, missing values,
and its distribution (quantiles and histogram bins for numbers, the most
frequent values for categories). A version's baseline is the profile of
its training data (and of its predictions of it); served instances are
compared with it bin by bin (``drift.py``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np

__all__ = ["BINS", "TOP_CATEGORIES", "columns_of", "profile"]

BINS = 10
TOP_CATEGORIES = 20
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def columns_of(instances: Sequence[Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Instances as columns: named inputs by name (a missing one is None),
    lists by ``names`` when as long, else by position, a scalar as ``"0"``.
    Lists of numbers come as float arrays (missing values NaN), in one step."""
    if not instances:
        return {}
    if isinstance(instances[0], list | tuple):
        try:
            table = np.asarray(instances, dtype=float)
        except (TypeError, ValueError):
            table = None  # strings, or rows of different lengths: value by value
        if table is not None and table.ndim == 2:
            width = table.shape[1]
            labels = (
                list(names) if names is not None and len(names) == width else [str(j) for j in range(width)]
            )
            return {labels[j]: table[:, j] for j in range(width)}
    if isinstance(instances[0], Mapping):
        keys = list(dict.fromkeys(k for i in instances if isinstance(i, Mapping) for k in i))
        return {k: [i.get(k) if isinstance(i, Mapping) else None for i in instances] for k in keys}
    if isinstance(instances[0], list | tuple):
        width = max(len(i) if isinstance(i, list | tuple) else 1 for i in instances)
        labels = list(names) if names is not None and len(names) == width else [str(j) for j in range(width)]
        return {
            labels[j]: [i[j] if isinstance(i, list | tuple) and j < len(i) else None for i in instances]
            for j in range(width)
        }
    return {"0": list(instances)}


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, Number)
        and not isinstance(value, bool)
        and not (isinstance(value, float) and np.isnan(value))
    )


def present_values(values: Any) -> tuple[Any, int]:
    """The values that are there (a float array when ``values`` is one),
    and how many were missing."""
    if isinstance(values, np.ndarray):
        there = values[~np.isnan(values)]
        return there, len(values) - len(there)
    present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    return present, len(values) - len(present)


def profile_column(values: Any) -> dict[str, Any]:
    present, missing = present_values(values)
    body: dict[str, Any] = {"count": len(values), "missing": missing}
    if isinstance(present, np.ndarray):
        numeric = len(present) > 0
        distinct = np.unique(present)
    else:
        numeric = bool(present) and all(_is_number(v) for v in present)
        distinct = np.unique(np.asarray(present, dtype=float)) if numeric else np.asarray([])
    discrete = numeric and len(distinct) <= BINS and bool(np.all(np.mod(distinct, 1) == 0))
    if numeric and not discrete:  # a few whole numbers (class labels, counts) are categories
        numbers = np.asarray(present, dtype=float)
        edges = np.unique(np.quantile(numbers, np.linspace(0, 1, BINS + 1)))
        if len(edges) < 2:
            edges = np.asarray([numbers[0] - 0.5, numbers[0] + 0.5])
        counts = np.histogram(numbers, bins=_open(edges))[0]
        return body | {
            "kind": "number",
            "mean": float(numbers.mean()),
            "std": float(numbers.std()),
            "min": float(numbers.min()),
            "max": float(numbers.max()),
            "quantiles": {str(q): float(np.quantile(numbers, q)) for q in QUANTILES},
            # Inner edges: the first bin runs from -inf, the last to +inf.
            "edges": edges[1:-1].tolist(),
            "fractions": (counts / counts.sum()).tolist(),
        }
    counted = Counter(
        _category(v) for v in (present.tolist() if isinstance(present, np.ndarray) else present)
    )
    top = counted.most_common(TOP_CATEGORIES)
    total = max(len(present), 1)
    return body | {
        "kind": "category",
        "distinct": len(counted),
        "top": {str(value): count / total for value, count in top},
        "other": (total - sum(count for _, count in top)) / total if len(present) else 0.0,
    }


def _open(edges: np.ndarray) -> np.ndarray:
    """Bin edges from -inf to +inf around the inner ones."""
    return np.concatenate([[-np.inf], edges[1:-1], [np.inf]])


def _category(value: Any) -> str:
    if isinstance(value, str):
        return value
    if _is_number(value) and float(value).is_integer():
        return str(int(value))  # 1, 1.0 and numpy's 1 alike
    return repr(value)


def profile(instances: Sequence[Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"rows": n, "features": {name: column profile}}``."""
    return {
        "rows": len(instances),
        "features": {name: profile_column(values) for name, values in columns_of(instances, names).items()},
    }
