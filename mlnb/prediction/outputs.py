"""Predictions made JSON-ready: numpy arrays and scalars to Python values,
bytes to ``{"b64": ...}``, keys put back."""

from __future__ import annotations

import base64
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["attach_keys", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """A value made only of dicts, lists, strings, numbers, booleans, None."""
    # numpy is not imported for this: a process that never imported it
    # holds no numpy value (and starts faster without it).
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                return value.tolist()
            return [to_jsonable(item) for item in value.tolist()]
        if isinstance(value, np.generic):
            return to_jsonable(value.item())
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None  # NaN is not JSON
    return value


def attach_keys(predictions: Sequence[Any], keys: Sequence[Any], field: str = "key") -> list[Any]:
    """Put each instance's key into its prediction: into the object when the
    prediction is one, else as ``{"key": k, "prediction": p}`` (``field``
    in place of ``key`` when the keys came from another field)."""
    out = []
    for key, prediction in zip(keys, predictions, strict=True):
        if isinstance(prediction, dict):
            out.append({field: key, **prediction})
        else:
            out.append({field: key, "prediction": prediction})
    return out
