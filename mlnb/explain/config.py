"""A version's ``explanationConfig`` (ML Engine's shape, plus mlnb's
``baseline``): which attribution method explains its predictions, with what
parameters, against which baseline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["METHODS", "ExplanationConfig"]

# ML Engine's attribution fields, by the method names of gcloud's
# ``--explanation-method``.
METHODS = {
    "sampled-shapley": "sampledShapleyAttribution",
    "integrated-gradients": "integratedGradientsAttribution",
    "xrai": "xraiAttribution",
}
# Methods served today; the others are refused by name (not silently swapped).
SERVED = ("sampled-shapley",)
DEFAULT_PATHS = 10
MAX_PATHS = 100


@dataclass(frozen=True)
class ExplanationConfig:
    """How a version's predictions are explained.

    Attributes:
        method: ``sampled-shapley`` (the one served today), or
            ``integrated-gradients`` / ``xrai`` (refused until served).
        num_paths: Feature permutations sampled per instance (sampled Shapley).
        num_integral_steps: Steps of the path integral (integrated gradients, XRAI).
        baseline: The value each feature takes when it is "absent": a list
            (by position) or a mapping (by name); ``None``: zeros for numbers,
            the most frequent value of the request for other values.
    """

    method: str = "sampled-shapley"
    num_paths: int = DEFAULT_PATHS
    num_integral_steps: int = 50
    baseline: list[Any] | dict[str, Any] | None = None

    @classmethod
    def from_api(cls, body: Any, field: str = "explanationConfig") -> ExplanationConfig:
        """Read ML Engine's ``explanationConfig`` body.

        Raises:
            InvalidArgument: Not one method, a bad count, or a bad baseline,
                naming the field.
        """
        if body is None:
            return cls()
        if not isinstance(body, Mapping):
            raise InvalidArgument(f"{field} must be an object", field=field)
        unknown = sorted(set(body) - set(METHODS.values()) - {"baseline"})
        if unknown:
            known = ", ".join([*METHODS.values(), "baseline"])
            raise InvalidArgument(
                f"{field} has unknown field(s) {', '.join(unknown)}; known: {known}", field=field
            )
        chosen = [method for method, key in METHODS.items() if key in body]
        if len(chosen) > 1:
            raise InvalidArgument(f"{field} names {len(chosen)} methods; choose one", field=field)
        method = chosen[0] if chosen else "sampled-shapley"
        params = body.get(METHODS[method]) or {}
        if not isinstance(params, Mapping):
            raise InvalidArgument(f"{field}.{METHODS[method]} must be an object", field=field)
        paths = _count(params, "numPaths", DEFAULT_PATHS, MAX_PATHS, f"{field}.{METHODS[method]}")
        steps = _count(params, "numIntegralSteps", 50, 1000, f"{field}.{METHODS[method]}")
        baseline = body.get("baseline")
        if baseline is not None and not isinstance(baseline, list | Mapping):
            raise InvalidArgument(
                f"{field}.baseline must be a list (by position) or an object (by feature name)",
                field=f"{field}.baseline",
            )
        return cls(method, paths, steps, dict(baseline) if isinstance(baseline, Mapping) else baseline)

    def to_api(self) -> dict[str, Any]:
        if self.method == "sampled-shapley":
            params = {"numPaths": self.num_paths}
        else:
            params = {"numIntegralSteps": self.num_integral_steps}
        body: dict[str, Any] = {METHODS[self.method]: params}
        if self.baseline is not None:
            body["baseline"] = self.baseline
        return body

    def check_served(self) -> None:
        """Raises InvalidArgument for a method mlnb does not serve yet."""
        if self.method not in SERVED:
            raise InvalidArgument(
                f"{METHODS[self.method]} is not served by mlnb yet; use sampledShapleyAttribution",
                field=f"explanationConfig.{METHODS[self.method]}",
            )


def _count(params: Mapping[str, Any], key: str, default: int, most: int, where: str) -> int:
    value = params.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # int32 fields may come as strings, as the discovery document allows
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise InvalidArgument(
            f"{where}.{key} must be a whole number from 1 to {most}", field=f"{where}.{key}"
        )
    return value
