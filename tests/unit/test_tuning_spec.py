"""HyperparameterSpec checks, and the search Optuna does for each algorithm
and scale type, checked over many suggestions."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from mlnb.errors import InvalidArgument
from mlnb.tuning.execution import training_output
from mlnb.tuning.spec import TuningSpec
from mlnb.tuning.study import close_study, create_study, distributions, trainer_value

C = {"parameterName": "C", "type": "DOUBLE", "minValue": 0.001, "maxValue": 10, "scaleType": "UNIT_LOG_SCALE"}


def spec(*params: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"goal": "MAXIMIZE", "params": list(params), **fields}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            spec({**C, "minValue": 0}),
            "Parameter 'C': UNIT_LOG_SCALE needs bounds above zero, but minValue is 0",
        ),
        (
            spec({**C, "scaleType": "UNIT_REVERSE_LOG_SCALE", "minValue": -1}),
            "Parameter 'C': UNIT_REVERSE_LOG_SCALE needs bounds above zero",
        ),
        (spec({**C, "minValue": 20}), "Parameter 'C': minValue 20 is above maxValue 10"),
        (spec(C, algorithm="GRID_SEARCH"), "Parameter 'C': GRID_SEARCH cannot search a DOUBLE range"),
        (
            spec({"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": []}),
            "Parameter 'kind': categoricalValues must be a non-empty list",
        ),
        (spec(C, C), "Parameter 'C' is listed twice"),
        (spec(C, maxTrials=2, maxParallelTrials=3), "maxParallelTrials \\(3\\) is above maxTrials \\(2\\)"),
        (spec({**C, "maxValue": None}), "Parameter 'C': maxValue is required"),
        (
            spec({"parameterName": "n", "type": "INTEGER", "minValue": 1.5, "maxValue": 3}),
            "Parameter 'n': an INTEGER parameter needs whole minValue and maxValue",
        ),
        (
            spec({"parameterName": "d", "type": "DISCRETE", "discreteValues": [1, 3, 2]}),
            "Parameter 'd': discreteValues must be in strictly increasing order",
        ),
        (spec({**C, "type": "FLOAT"}), "Parameter 'C': type 'FLOAT' is not one of"),
        (spec({**C, "parameterName": "--x"}), "parameterName '--x' must begin with a letter"),
        (spec(C, goal="BEST"), "hyperparameters.goal 'BEST' is not one of MAXIMIZE, MINIMIZE"),
        ({"goal": "MAXIMIZE", "params": []}, "params must list one or more parameters"),
    ],
)
def test_invalid_specs_name_the_parameter_and_the_rule(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        TuningSpec.from_api(body)


def test_the_failed_trials_rule() -> None:
    assert TuningSpec.from_api(spec(C, maxTrials=10, maxFailedTrials=3)).failed_trials_allowed() == 2
    assert TuningSpec.from_api(spec(C, maxTrials=10)).failed_trials_allowed() == 4  # under half
    assert TuningSpec.from_api(spec(C, maxTrials=1)).failed_trials_allowed() == 0


def _suggestions(tmp_path: Path, body: dict[str, Any], count: int) -> list[dict[str, Any]]:
    tuning = TuningSpec.from_api(body)
    study = create_study(tuning, f"sqlite:///{tmp_path / 'mlnb.db'}", "p/job", seed=7)
    out = []
    for _ in range(count):
        trial = study.ask(distributions(tuning))
        values = {p.name: trainer_value(p, trial.params[p.name]) for p in tuning.params}
        out.append(values)
        # A smooth objective, so that TPE has something to model.
        study.tell(trial, -abs(math.log10(float(values.get("C", 1.0)))))
    return out


def test_grid_search_visits_every_point_once(tmp_path: Path) -> None:
    body = spec(
        {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 3},
        {"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": ["a", "b"]},
        {"parameterName": "rate", "type": "DISCRETE", "discreteValues": [0.1, 0.5]},
        algorithm="GRID_SEARCH",
        maxTrials=50,
    )
    assert TuningSpec.from_api(body).grid_size() == 12
    seen = [(v["n"], v["kind"], v["rate"]) for v in _suggestions(tmp_path, body, 12)]
    assert sorted(seen) == sorted(itertools.product([1, 2, 3], ["a", "b"], [0.1, 0.5]))


@pytest.mark.parametrize("algorithm", ["RANDOM_SEARCH", "ALGORITHM_UNSPECIFIED"])
def test_suggestions_respect_bounds_and_scales(tmp_path: Path, algorithm: str) -> None:
    body = spec(
        C,
        {"parameterName": "top", "type": "DOUBLE", "minValue": 0.001, "maxValue": 10,
         "scaleType": "UNIT_REVERSE_LOG_SCALE"},
        {"parameterName": "n", "type": "INTEGER", "minValue": 2, "maxValue": 9,
         "scaleType": "UNIT_LINEAR_SCALE"},
        {"parameterName": "d", "type": "DISCRETE", "discreteValues": [1.5, 2.5, 4.0]},
        algorithm=algorithm,
        maxTrials=300,
    )  # fmt: skip
    values = _suggestions(tmp_path, body, 300 if algorithm == "RANDOM_SEARCH" else 80)
    assert all(0.001 <= v["C"] <= 10 and 0.001 <= v["top"] <= 10 for v in values)
    assert all(isinstance(v["n"], int) and 2 <= v["n"] <= 9 for v in values)
    assert {v["d"] for v in values} <= {1.5, 2.5, 4.0}
    if algorithm == "RANDOM_SEARCH":
        # Log scale: half below the geometric middle (0.1); reverse log: about
        # 92 % above the arithmetic middle (5.0005).
        below = sum(v["C"] < 0.1 for v in values) / len(values)
        above = sum(v["top"] > 5.0005 for v in values) / len(values)
        assert 0.4 < below < 0.6 and above > 0.85


def test_training_output_puts_the_best_trial_first(tmp_path: Path) -> None:
    for goal, best in (("MAXIMIZE", 0.9), ("MINIMIZE", 0.1)):
        tuning = TuningSpec.from_api(spec(C, goal=goal, maxTrials=3))
        study = create_study(tuning, f"sqlite:///{tmp_path / 'mlnb.db'}", f"p/{goal}")
        for value in (0.5, 0.9, 0.1):
            trial = study.ask(distributions(tuning))
            trial.report(value / 2, 1)
            study.tell(trial, value)
        failed = study.ask(distributions(tuning))
        study.tell(failed, state=__import__("optuna").trial.TrialState.FAIL)
        output = training_output(tuning, study.trials, {failed.number: "boom"})
        assert output["trials"][0]["finalMetric"]["objectiveValue"] == best
        assert output["completedTrialCount"] == "3" and output["isHyperparameterTuningJob"] is True
        assert output["trials"][-1] | {} == output["trials"][-1] and output["trials"][-1]["state"] == "FAILED"
        assert output["trials"][-1]["errorMessage"] == "boom"
        assert output["trials"][0]["allMetrics"][0]["trainingStep"] == "1"


@pytest.mark.postgres
def test_studies_live_beside_mlnb_in_postgresql(fresh_postgres_url: str) -> None:
    from mlnb.store import Database

    db = Database(fresh_postgres_url)
    db.ensure_schema()  # mlnb's own tables and Alembic version first
    db.dispose()
    tuning = TuningSpec.from_api(spec(C, maxTrials=2))
    study = create_study(tuning, fresh_postgres_url, "p/pg-job", seed=1)
    trial = study.ask(distributions(tuning))
    study.tell(trial, 0.5)
    again = create_study(tuning, fresh_postgres_url, "p/pg-job")
    assert [t.value for t in again.trials] == [0.5]
    close_study(study)
    close_study(again)
    import sqlalchemy

    engine = sqlalchemy.create_engine(fresh_postgres_url)
    with engine.connect() as connection:
        schemas = {
            row[0]
            for row in connection.execute(
                sqlalchemy.text(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'studies'"
                )
            )
        }
    engine.dispose()
    assert schemas == {"mlnb_studies"}  # Optuna's tables, away from mlnb's own


def test_whole_discrete_values_reach_the_trainer_as_integers() -> None:
    tuning = TuningSpec.from_api(
        spec({"parameterName": "n", "type": "DISCRETE", "discreteValues": [0.5, 20]})
    )
    (param,) = tuning.params
    assert trainer_value(param, 20.0) == 20 and isinstance(trainer_value(param, 20.0), int)
    assert trainer_value(param, 0.5) == 0.5
