"""Turning decoded instances into the 2-D input that tabular models take."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def to_features(instances: Sequence[Any]) -> Any:
    """A numpy array for lists of values, a DataFrame for named inputs.

    Named inputs (each instance a JSON object) become DataFrame columns, so
    that a pipeline whose first step selects columns by name gets them.
    """
    if instances and isinstance(instances[0], Mapping):
        import pandas as pd

        return pd.DataFrame.from_records(list(instances))
    return np.asarray(instances)
