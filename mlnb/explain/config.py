"""A version's ``explanationConfig`` (ML Engine's shape, plus mlnb's
``treeShapAttribution`` and ``baseline``): which attribution method
explains its predictions, with what parameters, against which baseline.
A config that names no method leaves the choice to the model: TreeSHAP for
a tree ensemble, integrated gradients for a Keras model, a custom
routine's own ``explain``, sampled Shapley for anything else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["METHODS", "ExplanationConfig", "explanation_body"]

# ML Engine's attribution fields (and mlnb's TreeSHAP), by the method
# names of gcloud's ``--explanation-method``.
METHODS = {
    "sampled-shapley": "sampledShapleyAttribution",
    "integrated-gradients": "integratedGradientsAttribution",
    "xrai": "xraiAttribution",
    "tree-shap": "treeShapAttribution",
}
# The answer's ``method`` for a custom prediction routine's own explain().
CUSTOM = "custom"
DEFAULT_PATHS = 10
MAX_PATHS = 100
DEFAULT_STEPS = 50
MAX_STEPS = 1000


@dataclass(frozen=True)
class ExplanationConfig:
    """How a version's predictions are explained.

    Attributes:
        method: ``sampled-shapley``, ``integrated-gradients``,
            ``tree-shap`` or ``xrai``; ``None``: the model's own default.
        num_paths: Feature permutations sampled per instance (sampled Shapley).
        num_integral_steps: Steps of the path integral (integrated gradients, XRAI).
        baseline: The value each feature takes when it is "absent": a list
            (by position) or a mapping (by name); ``None``: zeros for numbers,
            the most frequent value of the request for other values.
    """

    method: str | None = None
    num_paths: int = DEFAULT_PATHS
    num_integral_steps: int = DEFAULT_STEPS
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
        method = chosen[0] if chosen else None
        where = f"{field}.{METHODS[method]}" if method else field
        params = (body.get(METHODS[method]) or {}) if method else {}
        if not isinstance(params, Mapping):
            raise InvalidArgument(f"{where} must be an object", field=field)
        paths = _count(params, "numPaths", DEFAULT_PATHS, MAX_PATHS, where)
        steps = _count(params, "numIntegralSteps", DEFAULT_STEPS, MAX_STEPS, where)
        baseline = body.get("baseline")
        if baseline is not None and not isinstance(baseline, list | Mapping):
            raise InvalidArgument(
                f"{field}.baseline must be a list (by position) or an object (by feature name)",
                field=f"{field}.baseline",
            )
        return cls(method, paths, steps, dict(baseline) if isinstance(baseline, Mapping) else baseline)

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.method is not None:
            body[METHODS[self.method]] = self.parameters()
        if self.baseline is not None:
            body["baseline"] = self.baseline
        return body

    def parameters(self, method: str | None = None) -> dict[str, int]:
        """The counts that ``method`` (this config's by default) takes."""
        method = method or self.method
        if method == "sampled-shapley":
            return {"numPaths": self.num_paths}
        if method in ("integrated-gradients", "xrai"):
            return {"numIntegralSteps": self.num_integral_steps}
        return {}


def explanation_body(
    body: Mapping[str, Any] | None,
    method: str | None = None,
    num_paths: int | None = None,
    num_integral_steps: int | None = None,
    baseline: list[Any] | dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """``body`` (an explanationConfig, or none) with gcloud's flags over it:
    ``--explanation-method`` replaces its method, ``--num-paths`` means
    sampled Shapley and ``--num-integral-steps`` integrated gradients when
    no method is named. ``None`` when there is nothing at all.

    Raises:
        InvalidArgument: A count for a method that takes none.
    """
    result = dict(body or {})
    if method is not None:
        for key in METHODS.values():
            result.pop(key, None)
        result[METHODS[method]] = {}
    named = next((m for m, key in METHODS.items() if key in result), None)
    for flag, value, wanted in (
        ("--num-paths", num_paths, "sampled-shapley"),
        ("--num-integral-steps", num_integral_steps, "integrated-gradients"),
    ):
        if value is None:
            continue
        if named is None:
            named = wanted
            result[METHODS[wanted]] = {}
        if flag == "--num-paths" and named != "sampled-shapley":
            raise InvalidArgument(f"{flag} is for sampled-shapley, not {named}")
        if flag == "--num-integral-steps" and named not in ("integrated-gradients", "xrai"):
            raise InvalidArgument(f"{flag} is for integrated-gradients and xrai, not {named}")
        key = "numPaths" if flag == "--num-paths" else "numIntegralSteps"
        result[METHODS[named]] = {**result[METHODS[named]], key: value}
    if baseline is not None:
        result["baseline"] = baseline
    return result or None


def _count(params: Mapping[str, Any], key: str, default: int, most: int, where: str) -> int:
    value = params.get(key, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # int32 fields may come as strings, as the discovery document allows
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise InvalidArgument(
            f"{where}.{key} must be a whole number from 1 to {most}", field=f"{where}.{key}"
        )
    return value
