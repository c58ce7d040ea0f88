"""ML Engine's HyperparameterSpec, checked before anything runs: every
refusal names the parameter and the rule it breaks."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["DEFAULT_METRIC_TAG", "ParameterSpec", "TuningSpec"]

DEFAULT_METRIC_TAG = "training/hptuning/metric"
_GOALS = ("MAXIMIZE", "MINIMIZE")
_ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH")
_TYPES = ("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")
_SCALES = ("NONE", "UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_MAX_DISCRETE = 1000


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter to tune, passed to the trainer as ``--name=value``."""

    name: str
    type: str
    min_value: float | None = None
    max_value: float | None = None
    categorical_values: tuple[str, ...] = ()
    discrete_values: tuple[float, ...] = ()
    scale_type: str = "NONE"

    @property
    def log(self) -> bool:
        return self.scale_type == "UNIT_LOG_SCALE"

    @property
    def reverse_log(self) -> bool:
        return self.scale_type == "UNIT_REVERSE_LOG_SCALE"

    @classmethod
    def from_api(cls, body: Mapping[str, Any], index: int) -> ParameterSpec:
        name = body.get("parameterName")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(
                f"params[{index}].parameterName {name!r} must begin with a letter and hold only letters, "
                "digits, '_', '-' and '.' (it becomes the trainer's --NAME flag)"
            )
        kind = _enum(body.get("type"), _TYPES, f"Parameter {name!r}: type")
        scale = _enum(body.get("scaleType") or "NONE", _SCALES, f"Parameter {name!r}: scaleType")
        if kind in ("DOUBLE", "INTEGER"):
            low, high = _bound(body, "minValue", name), _bound(body, "maxValue", name)
            if kind == "INTEGER" and (low != int(low) or high != int(high)):
                raise InvalidArgument(
                    f"Parameter {name!r}: an INTEGER parameter needs whole minValue and maxValue"
                )
            if low > high:
                raise InvalidArgument(f"Parameter {name!r}: minValue {low:g} is above maxValue {high:g}")
            if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and low <= 0:
                raise InvalidArgument(
                    f"Parameter {name!r}: {scale} needs bounds above zero, but minValue is {low:g}"
                )
            return cls(name, kind, low, high, scale_type=scale)
        if scale != "NONE":
            raise InvalidArgument(f"Parameter {name!r}: a {kind} parameter takes no scaleType")
        if kind == "CATEGORICAL":
            values = body.get("categoricalValues")
            if not isinstance(values, list) or not values:
                raise InvalidArgument(f"Parameter {name!r}: categoricalValues must be a non-empty list")
            if len(set(map(str, values))) != len(values):
                raise InvalidArgument(f"Parameter {name!r}: categoricalValues holds a value twice")
            return cls(name, kind, categorical_values=tuple(str(v) for v in values))
        values = body.get("discreteValues")
        if not isinstance(values, list) or not values:
            raise InvalidArgument(f"Parameter {name!r}: discreteValues must be a non-empty list")
        if len(values) > _MAX_DISCRETE:
            raise InvalidArgument(
                f"Parameter {name!r}: discreteValues holds more than {_MAX_DISCRETE} values"
            )
        numbers = tuple(_number(v, f"Parameter {name!r}: discreteValues") for v in values)
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise InvalidArgument(f"Parameter {name!r}: discreteValues must be in strictly increasing order")
        return cls(name, kind, discrete_values=numbers)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"parameterName": self.name, "type": self.type}
        if self.type in ("DOUBLE", "INTEGER"):
            body.update(minValue=self.min_value, maxValue=self.max_value, scaleType=self.scale_type)
        elif self.type == "CATEGORICAL":
            body["categoricalValues"] = list(self.categorical_values)
        else:
            body["discreteValues"] = list(self.discrete_values)
        return body


@dataclass(frozen=True)
class TuningSpec:
    """A tuning job's search: goal, metric, budget, algorithm, parameters."""

    goal: str
    params: tuple[ParameterSpec, ...]
    metric_tag: str = DEFAULT_METRIC_TAG
    max_trials: int = 1
    max_parallel_trials: int = 1
    max_failed_trials: int = 0
    early_stopping: bool = False
    resume_previous_job_id: str | None = None
    algorithm: str = "ALGORITHM_UNSPECIFIED"

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> TuningSpec:
        """From ``trainingInput.hyperparameters``.

        Raises:
            InvalidArgument: Naming the parameter or field and the rule.
        """
        if not isinstance(body, Mapping):
            raise InvalidArgument("hyperparameters must be a mapping (ML Engine's HyperparameterSpec)")
        goal = _enum(body.get("goal") or "MAXIMIZE", _GOALS, "hyperparameters.goal")
        algorithm = _enum(
            body.get("algorithm") or "ALGORITHM_UNSPECIFIED", _ALGORITHMS, "hyperparameters.algorithm"
        )
        raw_params = body.get("params")
        if not isinstance(raw_params, list) or not raw_params:
            raise InvalidArgument("hyperparameters.params must list one or more parameters")
        params = tuple(
            ParameterSpec.from_api(p if isinstance(p, Mapping) else {}, i) for i, p in enumerate(raw_params)
        )
        names = [p.name for p in params]
        for name in names:
            if names.count(name) > 1:
                raise InvalidArgument(f"Parameter {name!r} is listed twice: parameter names must be unique")
        if algorithm == "GRID_SEARCH":
            for p in params:
                if p.type == "DOUBLE":
                    raise InvalidArgument(
                        f"Parameter {p.name!r}: GRID_SEARCH cannot search a DOUBLE range; "
                        "make it DISCRETE with the values to try"
                    )
        max_trials = _count(body.get("maxTrials"), 1, "hyperparameters.maxTrials", low=1)
        parallel = _count(body.get("maxParallelTrials"), 1, "hyperparameters.maxParallelTrials", low=1)
        if parallel > max_trials:
            raise InvalidArgument(
                f"hyperparameters.maxParallelTrials ({parallel}) is above maxTrials ({max_trials})"
            )
        return cls(
            goal=goal,
            params=params,
            metric_tag=str(body.get("hyperparameterMetricTag") or DEFAULT_METRIC_TAG),
            max_trials=max_trials,
            max_parallel_trials=parallel,
            max_failed_trials=_count(
                body.get("maxFailedTrials"), 0, "hyperparameters.maxFailedTrials", low=0
            ),
            early_stopping=bool(body.get("enableTrialEarlyStopping", False)),
            resume_previous_job_id=str(body["resumePreviousJobId"])
            if body.get("resumePreviousJobId")
            else None,
            algorithm=algorithm,
        )

    def failed_trials_allowed(self) -> int:
        """Failed trials the job survives. With maxFailedTrials 0 (the
        service decides, in ML Engine's words) mlnb's rule is: fewer than
        half of maxTrials, and at least one fewer than maxTrials."""
        if self.max_failed_trials:
            return self.max_failed_trials - 1
        return max(0, min(self.max_trials - 1, math.ceil(self.max_trials / 2) - 1))

    def grid_size(self) -> int:
        """How many points a grid search has."""
        size = 1
        for p in self.params:
            if p.type == "INTEGER":
                size *= int(p.max_value or 0) - int(p.min_value or 0) + 1
            elif p.type == "CATEGORICAL":
                size *= len(p.categorical_values)
            else:
                size *= len(p.discrete_values)
        return size


def _enum(value: Any, allowed: tuple[str, ...], what: str) -> str:
    name = str(value or "").strip().upper()
    if name not in allowed:
        raise InvalidArgument(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return name


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise InvalidArgument(f"{what} must be numbers, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} must be numbers, not {value!r}") from None
    if not math.isfinite(number):
        raise InvalidArgument(f"{what} must be finite numbers, not {value!r}")
    return number


def _bound(body: Mapping[str, Any], key: str, name: str) -> float:
    if body.get(key) is None:
        raise InvalidArgument(f"Parameter {name!r}: {key} is required for DOUBLE and INTEGER parameters")
    return _number(body[key], f"Parameter {name!r}: {key}")


def _count(value: Any, default: int, what: str, low: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} must be a whole number, not {value!r}") from None
    if number < low:
        raise InvalidArgument(f"{what} must be {low} or more, not {number}")
    return number
