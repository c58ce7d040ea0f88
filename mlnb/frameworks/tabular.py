"""Turning decoded instances into the 2-D input that tabular models take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlnb.errors import InvalidArgument


def to_features(instances: Sequence[Any]) -> Any:
    """A numpy array for lists of values, a DataFrame for named inputs.

    Named inputs (each instance a JSON object) become DataFrame columns, so
    that a pipeline whose first step selects columns by name gets them.
    """
    if len(instances) and isinstance(instances[0], Mapping):
        import pandas as pd

        return pd.DataFrame.from_records(list(instances))
    return np.asarray(instances)


def check_width(instances: Sequence[Any], expected: int | None) -> None:
    """Refuse instances of the wrong number of values for a model that
    knows how many features it takes, in the API's terms rather than the
    framework's ("Expected 2D array, got 1D array...").

    Raises:
        InvalidArgument: ``instance I has N values; the model expects M features``.
    """
    if not expected:
        return
    for index, instance in enumerate(instances):
        if isinstance(instance, Mapping):
            return  # named inputs: the model (a pipeline) checks its columns
        width = len(instance) if isinstance(instance, list | tuple | np.ndarray) else 1
        if width != expected:
            values = "value" if width == 1 else "values"
            raise InvalidArgument(
                f"Instance {index} has {width} {values}; the model expects {expected} features"
            )
