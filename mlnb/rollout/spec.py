"""A rollout's input (the ``jobInput`` of a ``rollout`` job), checked at
submission: the model, the canary version, the shares it takes step by
step, how long each step is watched, and the bounds it must stay within."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.naming import validate_name

__all__ = ["DEFAULT_STEPS", "RolloutSpec"]

DEFAULT_STEPS = (5, 25, 50, 100)
DEFAULT_MIN_REQUESTS = 10


@dataclass(frozen=True)
class RolloutSpec:
    """What a rollout does (camelCase in ``jobInput``)."""

    model: str
    canary: str
    steps: tuple[int, ...] = DEFAULT_STEPS
    interval_s: float = 600.0
    max_error_rate: float | None = None
    max_latency_p99_ms: float | None = None
    min_requests: int = DEFAULT_MIN_REQUESTS
    gates: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> RolloutSpec:
        """
        Raises:
            InvalidArgument: A missing or bad field, named.
        """
        model = validate_name("model", body.get("model"))
        canary = validate_name("version", body.get("canary"))
        steps = tuple(body.get("steps") or DEFAULT_STEPS)
        if not all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 100 for s in steps):
            raise InvalidArgument(f"steps must be whole percents from 1 to 100: {list(steps)}", field="steps")
        if list(steps) != sorted(set(steps)) or steps[-1] != 100:
            raise InvalidArgument(
                f"steps must rise to 100, each above the one before: {list(steps)}", field="steps"
            )
        interval = body.get("intervalSeconds", 600.0)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise InvalidArgument("intervalSeconds must be a positive number", field="intervalSeconds")
        rate = _optional_number(body, "maxErrorRate", upper=1.0, zero=True)
        p99 = _optional_number(body, "maxLatencyP99Ms")
        least = body.get("minRequests", DEFAULT_MIN_REQUESTS)
        if not isinstance(least, int) or isinstance(least, bool) or least < 0:
            raise InvalidArgument("minRequests must be a whole number, 0 or more", field="minRequests")
        gates = body.get("gates") or []
        if gates:
            from mlnb.evaluation.gates import gates_from_api

            gates = [g.to_api() for g in gates_from_api(gates, "gates")]
        return cls(model, canary, steps, float(interval), rate, p99, least, list(gates))

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "canary": self.canary,
            "steps": list(self.steps),
            "intervalSeconds": self.interval_s,
            "minRequests": self.min_requests,
        }
        if self.max_error_rate is not None:
            body["maxErrorRate"] = self.max_error_rate
        if self.max_latency_p99_ms is not None:
            body["maxLatencyP99Ms"] = self.max_latency_p99_ms
        if self.gates:
            body["gates"] = self.gates
        return body


def _optional_number(
    body: Mapping[str, Any], name: str, upper: float | None = None, zero: bool = False
) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or value < 0
        or (value == 0 and not zero)
    ):
        raise InvalidArgument(
            f"{name} must be a {'' if zero else 'positive '}number{', 0 or more' if zero else ''}", field=name
        )
    if upper is not None and value >= upper:
        raise InvalidArgument(f"{name} must be below {upper:g}", field=name)
    return float(value)
