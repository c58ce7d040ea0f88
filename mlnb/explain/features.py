"""Instances as a table of named features, and back.

Named inputs (JSON objects) keep their names; lists are named by the names
the model knows (``feature_names_in_`` of a pipeline or a model fitted on a
DataFrame), else by the names the caller gives (a DataFrame's columns sent
as lists), else by position (``"0"``, ``"1"``...); a scalar instance is
one feature, ``"0"``. A row of the table becomes an instance of the same
shape again, so the model sees what a prediction would send it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Number
from typing import Any

import numpy as np

from mlnb.errors import InvalidArgument

__all__ = ["Baseline", "FeatureTable", "baseline_of_sample"]


@dataclass(frozen=True)
class FeatureTable:
    """Instances of one shape as an object array, one column a feature.

    Attributes:
        names: The features, in column order.
        values: (instances, features) object array.
        shape: ``object`` (named inputs), ``list`` or ``scalar``.
    """

    names: list[str]
    values: np.ndarray
    shape: str

    @classmethod
    def of(cls, instances: Sequence[Any], list_names: Sequence[Sequence[str] | None] = ()) -> FeatureTable:
        """The table of ``instances`` (all objects, all lists of one length,
        or all scalars). Lists take the first of ``list_names`` as long as
        they are, else their positions.

        Raises:
            InvalidArgument: Instances of mixed shapes or lengths, naming the first one that differs.
        """
        if not instances:
            raise InvalidArgument("No instances to explain")
        first = instances[0]
        if isinstance(first, Mapping):
            names = list(
                dict.fromkeys(k for instance in instances if isinstance(instance, Mapping) for k in instance)
            )
            rows = []
            for index, instance in enumerate(instances):
                if not isinstance(instance, Mapping):
                    raise InvalidArgument(
                        f"Instance {index} is not an object as instance 0 is", field=f"instances[{index}]"
                    )
                missing = [n for n in names if n not in instance]
                if missing:
                    raise InvalidArgument(
                        f"Instance {index} has no {', '.join(repr(m) for m in missing)}: an explanation "
                        "needs every feature in every instance",
                        field=f"instances[{index}]",
                    )
                rows.append([instance[n] for n in names])
            return cls(names, _objects(rows, len(names)), "object")
        if isinstance(first, list | tuple):
            width = len(first)
            for index, instance in enumerate(instances):
                if not isinstance(instance, list | tuple) or len(instance) != width:
                    raise InvalidArgument(
                        f"Instance {index} is not a list of {width} values as instance 0 is",
                        field=f"instances[{index}]",
                    )
            named = next((names for names in list_names if names is not None and len(names) == width), None)
            names = [str(n) for n in named] if named is not None else [str(i) for i in range(width)]
            return cls(names, _objects([list(i) for i in instances], width), "list")
        return cls(["0"], _objects([[i] for i in instances], 1), "scalar")

    def numbers(self) -> np.ndarray | None:
        """The table as floats when its instances are lists of numbers (not
        booleans, not objects), else None."""
        if self.shape != "list":
            return None
        flat = self.values.ravel()
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
            return None
        return self.values.astype(float)

    def instance(self, row: Sequence[Any]) -> Any:
        """A row of values as an instance of this table's shape."""
        if self.shape == "object":
            return dict(zip(self.names, row, strict=True))
        if self.shape == "list":
            return list(row)
        return row[0]


def _objects(rows: list[list[Any]], width: int) -> np.ndarray:
    values = np.empty((len(rows), width), dtype=object)
    try:
        values[:, :] = rows  # rows of plain values: numpy fills the table in one step
    except ValueError:  # values that are lists themselves: one by one, kept whole
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                values[i, j] = value
    return values


@dataclass(frozen=True)
class Baseline:
    """Each feature's baseline value, and where it came from."""

    values: list[Any]
    source: str

    @classmethod
    def for_table(cls, table: FeatureTable, given: list[Any] | dict[str, Any] | None) -> Baseline:
        """The version's baseline when it has one (by position or by name),
        else zeros for numbers and the request's most frequent value for
        anything else.

        Raises:
            InvalidArgument: A baseline of the wrong length, or without a feature.
        """
        if isinstance(given, list):
            if len(given) != len(table.names):
                raise InvalidArgument(
                    f"The version's explanation baseline has {len(given)} values; the instances have "
                    f"{len(table.names)} features"
                )
            return cls(list(given), "the version's explanationConfig.baseline")
        if isinstance(given, dict):
            missing = ", ".join(repr(n) for n in table.names if n not in given)
            if missing:
                raise InvalidArgument(f"The version's explanation baseline has no value for {missing}")
            return cls([given[n] for n in table.names], "the version's explanationConfig.baseline")
        values = _typical(table, lambda _numbers: 0)
        return cls(values, "zeros for numbers, the request's most frequent value for other features")

    def to_api(self, names: Sequence[str]) -> dict[str, Any]:
        return {"values": dict(zip(names, self.values, strict=True)), "source": self.source}


def _typical(table: FeatureTable, for_numbers: Callable[[np.ndarray], Any]) -> list[Any]:
    """Each column's typical value: ``for_numbers(column)`` for a column of
    numbers, the most frequent value for any other."""
    values = []
    for column in table.values.T:
        if all(isinstance(v, Number) and not isinstance(v, bool) for v in column):
            values.append(for_numbers(column))
        else:
            values.append(Counter(map(_hashable, column)).most_common(1)[0][0])
    return values


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, list | dict) else repr(value)


def baseline_of_sample(instances: Sequence[Any]) -> list[Any] | dict[str, Any]:
    """One baseline row from a sample of the training data (instances as a
    request sends them): each number feature's median, each other
    feature's most frequent value; a list for list instances, an object for
    named ones.

    Raises:
        InvalidArgument: An empty sample, or instances of mixed shapes.
    """
    table = FeatureTable.of(instances)
    values = _typical(table, lambda numbers: float(np.median(numbers.astype(float))))
    return dict(zip(table.names, values, strict=True)) if table.shape == "object" else values
