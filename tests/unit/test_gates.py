"""Evaluation gates: read from the API and from the CLI's text, checked
against evaluations, and refused with the field or the text at fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlnb.errors import InvalidArgument
from mlnb.evaluation.gates import check_gates, gates_from_api, gates_from_text
from mlnb.records import EvaluationRecord


def evaluation(version: str, fingerprint: str = "f1", **figures: float) -> EvaluationRecord:
    return EvaluationRecord(
        project="p",
        model="m",
        version=version,
        evaluation_id=f"{version}-eval",
        time=datetime.now(UTC),
        actor="me",
        dataset="holdout",
        fingerprint=fingerprint,
        task="classification",
        target="y",
        rows=10,
        metrics=figures,
    )


def test_gates_read_from_text_as_the_api_writes_them() -> None:
    assert gates_from_text("holdout:accuracy>=0.9; holdout:rmse<=3 ;test set:f1Macro>default+0.01") == [
        {"dataset": "holdout", "metric": "accuracy", "min": 0.9},
        {"dataset": "holdout", "metric": "rmse", "max": 3.0},
        {"dataset": "test set", "metric": "f1Macro", "beatsDefaultBy": 0.01},
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nope", "must be a list"),
        ([{"metric": "accuracy", "min": 1}], r"evaluationGates\[0\] needs a dataset"),
        ([{"dataset": "d", "metric": "speed", "min": 1}], "metric must be one of accuracy"),
        ([{"dataset": "d", "metric": "accuracy"}], "needs one number of min, max or beatsDefaultBy"),
        ([{"dataset": "d", "metric": "accuracy", "min": 1, "max": 2}], "needs one number"),
        ([{"dataset": "d", "metric": "accuracy", "min": "high"}], "needs one number"),
        ([{"dataset": "d", "metric": "accuracy", "min": 1, "when": "now"}], "unknown field"),
    ],
)
def test_a_bad_gate_names_its_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        gates_from_api(body)


def test_text_that_does_not_read_says_how_to_write_it() -> None:
    with pytest.raises(InvalidArgument, match="write DATASET:METRIC>=VALUE"):
        gates_from_text("accuracy above 0.9")


def test_thresholds_and_margins_against_the_default() -> None:
    gates = gates_from_api(
        [
            {"dataset": "holdout", "metric": "accuracy", "min": 0.9},
            {"dataset": "holdout", "metric": "logLoss", "beatsDefaultBy": 0.05},
        ]
    )
    default = {"holdout": evaluation("v1", accuracy=0.92, logLoss=0.30)}
    better = check_gates(
        gates, "v2", {"holdout": evaluation("v2", accuracy=0.95, logLoss=0.20)}, "v1", default
    )
    assert better.failures == [] and better.evaluations == ["v2-eval"]
    # A lower log loss is better: 0.28 is not 0.05 better than 0.30.
    close = check_gates(
        gates, "v2", {"holdout": evaluation("v2", accuracy=0.95, logLoss=0.28)}, "v1", default
    )
    assert close.failures == ["holdout:logLoss>default+0.05: v2 has logLoss 0.28 against 0.3 for v1"]
    worse = check_gates(gates[:1], "v2", {"holdout": evaluation("v2", accuracy=0.5)}, "v1", default)
    assert worse.failures == ["holdout:accuracy>=0.9: v2 has accuracy 0.5"]
    missing = check_gates(gates[:1], "v2", {}, "v1", default)
    assert "v2 has no evaluation on dataset 'holdout'" in missing.failures[0]
    other_rows = {"holdout": evaluation("v2", "f2", accuracy=0.99, logLoss=0.01)}
    assert "evaluated on different rows" in check_gates(gates, "v2", other_rows, "v1", default).failures[0]
