"""A model's evaluation gates (mlnb's ``evaluationGates``): what a version's
evaluation on a named dataset must show before it may become the default.

A gate is ``{"dataset": D, "metric": M, "min": x}`` (or ``"max"``), or
``{"dataset": D, "metric": M, "beatsDefaultBy": margin}``: better than the
current default's figure on the same rows (the same fingerprint) by at
least ``margin``, "better" being higher for accuracy and the like, lower
for errors and losses. As text (the CLI's): ``holdout:accuracy>=0.9``,
``holdout:rmse<=3``, ``holdout:accuracy>default+0.01``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["Gate", "GateCheck", "check_gates", "gates_from_api", "gates_from_text"]

# The figures a gate may name; True where lower is better.
METRICS = {
    "accuracy": False,
    "precisionMacro": False,
    "recallMacro": False,
    "f1Macro": False,
    "f1Weighted": False,
    "rocAuc": False,
    "logLoss": True,
    "r2": False,
    "rmse": True,
    "mae": True,
}
_MOST_GATES = 20
_TEXT = re.compile(
    r"^\s*(?P<dataset>[^:]+):(?P<metric>\w+)\s*(?:(?P<op>>=|<=)\s*(?P<value>[-+0-9.eE]+)"
    r"|>\s*default\s*\+\s*(?P<margin>[0-9.eE]+))\s*$"
)


@dataclass(frozen=True)
class Gate:
    dataset: str
    metric: str
    minimum: float | None = None
    maximum: float | None = None
    beats_default_by: float | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"dataset": self.dataset, "metric": self.metric}
        for key, value in (
            ("min", self.minimum),
            ("max", self.maximum),
            ("beatsDefaultBy", self.beats_default_by),
        ):
            if value is not None:
                body[key] = value
        return body

    def text(self) -> str:
        if self.beats_default_by is not None:
            return f"{self.dataset}:{self.metric}>default+{self.beats_default_by:g}"
        if self.minimum is not None:
            return f"{self.dataset}:{self.metric}>={self.minimum:g}"
        return f"{self.dataset}:{self.metric}<={self.maximum:g}"


def gates_from_api(body: Any, field: str = "evaluationGates") -> list[Gate]:
    """Read and check a model's ``evaluationGates``.

    Raises:
        InvalidArgument: Not a list of gates, an unknown figure, or a gate
            with no threshold or more than one.
    """
    if body is None:
        return []
    if not isinstance(body, list) or len(body) > _MOST_GATES:
        raise InvalidArgument(f"{field} must be a list of at most {_MOST_GATES} gates", field=field)
    gates = []
    for index, item in enumerate(body):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("dataset"), str) or not item["dataset"]:
            raise InvalidArgument(
                f"{where} needs a dataset: the name evaluations were made under", field=where
            )
        metric = item.get("metric")
        if metric not in METRICS:
            raise InvalidArgument(f"{where}.metric must be one of {', '.join(METRICS)}", field=where)
        unknown = set(item) - {"dataset", "metric", "min", "max", "beatsDefaultBy"}
        if unknown:
            raise InvalidArgument(f"{where} has unknown field(s) {', '.join(sorted(unknown))}", field=where)
        limits = {k: item[k] for k in ("min", "max", "beatsDefaultBy") if item.get(k) is not None}
        if len(limits) != 1 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in limits.values()
        ):
            raise InvalidArgument(f"{where} needs one number of min, max or beatsDefaultBy", field=where)
        gates.append(
            Gate(
                item["dataset"],
                metric,
                limits.get("min"),
                limits.get("max"),
                limits.get("beatsDefaultBy"),
            )
        )
    return gates


def gates_from_text(text: str) -> list[dict[str, Any]]:
    """``holdout:accuracy>=0.9;holdout:rmse<=3;holdout:f1Macro>default+0.01`` as API gates.

    Raises:
        InvalidArgument: A gate that does not read.
    """
    body: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _TEXT.match(part)
        if match is None:
            raise InvalidArgument(
                f"The gate {part!r} does not read: write DATASET:METRIC>=VALUE, DATASET:METRIC<=VALUE "
                "or DATASET:METRIC>default+MARGIN"
            )
        gate: dict[str, Any] = {"dataset": match["dataset"].strip(), "metric": match["metric"]}
        if match["margin"] is not None:
            gate["beatsDefaultBy"] = float(match["margin"])
        else:
            gate["min" if match["op"] == ">=" else "max"] = float(match["value"])
        body.append(gate)
    return [g.to_api() for g in gates_from_api(body)]


@dataclass(frozen=True)
class GateCheck:
    """Whether a version passed its model's gates, and on which evaluations."""

    failures: list[str]
    evaluations: list[str]  # the ids of the evaluations that let it in


def check_gates(
    gates: Sequence[Gate],
    version: str,
    latest: Mapping[str, Any],
    default: str | None,
    default_latest: Mapping[str, Any],
) -> GateCheck:
    """Check ``version`` against ``gates`` with its latest evaluation per
    dataset (``latest``: dataset to an EvaluationRecord) and the current
    default's (``default_latest``)."""
    failures, used = [], []
    for gate in gates:
        evaluation = latest.get(gate.dataset)
        if evaluation is None:
            failures.append(
                f"{gate.text()}: {version} has no evaluation on dataset {gate.dataset!r} "
                f"(mlnb evaluate --version {version} --dataset {gate.dataset} ...)"
            )
            continue
        figure = evaluation.metrics.get(gate.metric)
        if not isinstance(figure, int | float):
            failures.append(f"{gate.text()}: its evaluation on {gate.dataset!r} has no {gate.metric}")
            continue
        used.append(evaluation.evaluation_id)
        below = gate.minimum is not None and figure < gate.minimum
        if below or (gate.maximum is not None and figure > gate.maximum):
            failures.append(f"{gate.text()}: {version} has {gate.metric} {figure:.4g}")
        elif gate.beats_default_by is not None and default is not None and default != version:
            failures += _beats(gate, version, evaluation, default, default_latest.get(gate.dataset))
    return GateCheck(failures, list(dict.fromkeys(used)))


def _beats(gate: Gate, version: str, evaluation: Any, default: str, other: Any) -> list[str]:
    if other is None:
        return [f"{gate.text()}: the default {default} has no evaluation on dataset {gate.dataset!r} to beat"]
    if other.fingerprint != evaluation.fingerprint:
        return [
            f"{gate.text()}: {version} and the default {default} were evaluated on different rows "
            f"of {gate.dataset!r}; evaluate both on the same data"
        ]
    mine, theirs = evaluation.metrics.get(gate.metric), other.metrics.get(gate.metric)
    if not isinstance(theirs, int | float):
        return [f"{gate.text()}: the default's evaluation has no {gate.metric}"]
    gain = (theirs - mine) if METRICS[gate.metric] else (mine - theirs)
    if gain < (gate.beats_default_by or 0.0):
        return [f"{gate.text()}: {version} has {gate.metric} {mine:.4g} against {theirs:.4g} for {default}"]
    return []
