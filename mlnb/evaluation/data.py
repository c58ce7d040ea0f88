"""Labelled data for an evaluation: a DataFrame of the notebook or a file
(CSV, JSON lines, Parquet), split into the instances a version predicts
and the true values, with a fingerprint that says when two evaluations
saw the same data."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mlnb.errors import InvalidArgument

__all__ = ["LabelledData", "labelled_data", "table_of"]


@dataclass(frozen=True)
class LabelledData:
    """Instances (lists, in the frame's column order), their targets, and
    where they came from."""

    instances: list[Any]
    targets: list[Any]
    target: str
    columns: list[str]
    name: str
    fingerprint: str


def labelled_data(data: Any, target: str | None, name: str | None = None) -> LabelledData:
    """Read ``data`` (a DataFrame, or a path to CSV, JSON lines or Parquet)
    and split off its ``target`` column; or take ``{"instances": [...],
    "targets": [...]}`` as they are (a REST request's).

    Raises:
        InvalidArgument: A file of another kind, no such column, or no rows.
    """
    import pandas as pd

    if isinstance(data, Mapping):
        return _given(data, name)
    if target is None:
        raise InvalidArgument("Name the column of the true values (target)", field="target")
    if isinstance(data, pd.DataFrame):
        frame, source = data, "a DataFrame"
    elif isinstance(data, str | Path):
        frame, source = _read(str(data)), str(data)
    else:
        raise InvalidArgument(f"The data must be a DataFrame or a file, not {type(data).__name__}")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise InvalidArgument(f"The data has no column {target!r} (its columns: {columns})", field="target")
    if frame.empty:
        raise InvalidArgument(f"{source} holds no rows")
    features = frame.drop(columns=[target])
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    digest = hashlib.sha256(hashed + "\0".join(map(str, frame.columns)).encode()).hexdigest()[:16]
    return LabelledData(
        instances=features.to_numpy().tolist(),
        targets=frame[target].tolist(),
        target=target,
        columns=[str(c) for c in features.columns],
        name=name or source,
        fingerprint=digest,
    )


def table_of(data: Any, target: str | None = None) -> tuple[list[Any], list[str] | None, str]:
    """Instances from data with or without labels: a DataFrame or a file
    (``target``, when given, is left out), or a list of instances; their
    column names (None for a list) and where they came from.

    Raises:
        InvalidArgument: A file of another kind, or no rows.
    """
    import pandas as pd

    if isinstance(data, list):
        if not data:
            raise InvalidArgument("No instances")
        return data, None, "a list of instances"
    if isinstance(data, pd.DataFrame):
        frame, source = data, "a DataFrame"
    elif isinstance(data, str | Path):
        frame, source = _read(str(data)), str(data)
    else:
        raise InvalidArgument(f"The data must be a DataFrame, a file or a list, not {type(data).__name__}")
    if frame.empty:
        raise InvalidArgument(f"{source} holds no rows")
    if target is not None and target in frame.columns:
        frame = frame.drop(columns=[target])
    return frame.to_numpy().tolist(), [str(c) for c in frame.columns], source


def _given(data: Mapping[str, Any], name: str | None) -> LabelledData:
    instances, targets = data.get("instances"), data.get("targets")
    if not isinstance(instances, list) or not isinstance(targets, list):
        raise InvalidArgument('Send {"instances": [...], "targets": [...]}: the rows and their true values')
    if len(instances) != len(targets):
        raise InvalidArgument(f"{len(instances)} instances but {len(targets)} targets", field="targets")
    if not instances:
        raise InvalidArgument("No rows to evaluate", field="instances")
    digest = hashlib.sha256(orjson.dumps([instances, targets], option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    return LabelledData(
        instances=list(instances),
        targets=list(targets),
        target="targets",
        columns=[],
        name=name or "the request's instances",
        fingerprint=digest,
    )


def _read(path: str) -> Any:
    import pandas as pd

    try:
        if path.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path)
        if path.endswith((".jsonl", ".json", ".jsonl.gz")):
            return pd.read_json(path, lines=True)
        if path.endswith(".parquet"):
            return pd.read_parquet(path)
    except FileNotFoundError as e:
        raise InvalidArgument(f"No such file: {path}") from e
    except ValueError as e:
        raise InvalidArgument(f"{path} cannot be read: {e}") from e
    raise InvalidArgument(f"{path}: give a .csv, .jsonl or .parquet file of labelled rows")
