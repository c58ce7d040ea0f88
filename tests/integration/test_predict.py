"""Online prediction through the Engine: the default version, warm
predictors, keys, and errors that name the instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import model_factory

from mlnb.api import Engine
from mlnb.config import Settings
from mlnb.errors import InvalidArgument, NotFound

pytestmark = pytest.mark.integration

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def two_versions(engine: Engine, tmp_path: Path) -> tuple[Any, Any]:
    """v1 classifies, v2 regresses: their answers tell which one served."""
    classifier_dir, classifier = model_factory.sklearn_pipeline_dir(tmp_path / "cls")
    regressor_dir, regressor = model_factory.sklearn_pickle_dir(tmp_path / "reg")
    engine.create_model("m")
    engine.create_version("m", "v1", classifier_dir)
    engine.create_version("m", "v2", regressor_dir)
    return classifier, regressor


def test_default_and_named_versions(engine: Engine, two_versions: tuple[Any, Any]) -> None:
    classifier, regressor = two_versions
    assert engine.predict("m", SAMPLES) == classifier.predict(np.asarray(SAMPLES)).tolist()
    assert engine.predict("m", SAMPLES, version="v2") == regressor.predict(np.asarray(SAMPLES)).tolist()
    engine.set_default_version("m", "v2")
    assert engine.predict("m", SAMPLES) == regressor.predict(np.asarray(SAMPLES)).tolist()


def test_other_processes_see_a_new_default_within_the_ttl(
    settings: Settings, engine: Engine, two_versions: tuple[Any, Any]
) -> None:
    classifier, regressor = two_versions
    server = Engine(settings.replace(resolve_ttl_s=0.0))
    assert server.predict("m", SAMPLES) == classifier.predict(np.asarray(SAMPLES)).tolist()
    engine.set_default_version("m", "v2")
    assert server.predict("m", SAMPLES) == regressor.predict(np.asarray(SAMPLES)).tolist()
    engine.set_default_version("m", "v1")
    engine.delete_version("m", "v2")
    with pytest.raises(NotFound, match="no version 'v2'"):
        server.predict("m", SAMPLES, version="v2")
    server.close()


def test_keys_pass_through(engine: Engine, two_versions: tuple[Any, Any]) -> None:
    classifier, _ = two_versions
    answer = engine.predict("m", [{"key": "a", "values": SAMPLES[0]}, {"key": "b", "values": SAMPLES[1]}])
    expected = classifier.predict(np.asarray(SAMPLES)).tolist()
    assert answer == [{"key": "a", "prediction": expected[0]}, {"key": "b", "prediction": expected[1]}]


def test_bad_instances_are_refused_before_the_model(engine: Engine, two_versions: tuple[Any, Any]) -> None:
    with pytest.raises(InvalidArgument, match="Instance 1: a list must hold one type"):
        engine.predict("m", [SAMPLES[0], [1.0, "x", 2.0, 3.0]])
    with pytest.raises(InvalidArgument, match="Instance 0 has 2 values; the model expects 4 features"):
        engine.predict("m", [[1.0, 2.0]])
    with pytest.raises(InvalidArgument, match="The model could not predict these instances: ValueError"):
        engine.predict("m", [["a", "b", "c", "d"]])  # the right width, values the model cannot read


def test_last_use_time_is_recorded(engine: Engine, two_versions: tuple[Any, Any]) -> None:
    assert engine.get_version("m", "v1").last_use_time is None
    engine.predict("m", SAMPLES)
    engine.close()
    assert engine.get_version("m", "v1").last_use_time is not None


def test_online_prediction_logging(
    engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    origin, model = model_factory.sklearn_pipeline_dir(tmp_path / "m")
    engine.create_model("logged", online_prediction_logging=True)
    engine.create_version("logged", "v1", origin)
    engine.create_model("sampled_out", online_prediction_logging=True)
    engine.create_version("sampled_out", "v1", origin, request_logging_config={"samplingPercentage": 0.0})
    engine.create_model("quiet")
    engine.create_version("quiet", "v1", origin)
    for name in ("logged", "sampled_out", "quiet"):
        engine.predict(name, SAMPLES)
    with pytest.raises(InvalidArgument):
        engine.predict("logged", [[1.0, "x"]])
    entries = engine.prediction_log("logged")
    assert [e["version"] for e in entries] == ["v1", "v1"]
    assert entries[0]["instances"] == SAMPLES
    assert entries[0]["predictions"] == model.predict(np.asarray(SAMPLES)).tolist()
    assert "a list must hold one type" in entries[1]["error"]
    assert engine.prediction_log("sampled_out") == [] and engine.prediction_log("quiet") == []
    assert engine.get_version("sampled_out", "v1").to_api()["requestLoggingConfig"] == {
        "samplingPercentage": 0.0
    }
    from mlnb.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLNB_HOME", str(engine.settings.home))
        assert main(["models", "prediction-log", "logged"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["TIME", "VERSION", "INSTANCES", "RESULT"]
    assert "error: Instance 0: a list must hold one type" in out


def test_a_prediction_log_of_an_older_mlnb_is_moved_into_the_store(engine: Engine) -> None:
    legacy = engine.settings.paths.prediction_logs / "default" / "old.jsonl"
    legacy.parent.mkdir(parents=True)
    entries = [
        {"time": "2026-01-01T00:00:00Z", "version": "v1", "instances": [1], "predictions": [2]},
        {"time": "2026-01-02T00:00:00Z", "version": "v2", "instances": [3], "error": "bad"},
    ]
    entries = [{**e, "model": "old"} for e in entries]
    legacy.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert engine.prediction_log("old") == entries
    # Moved once: the folder is renamed, and a second Engine reads the same entries.
    assert not legacy.exists()
    assert (engine.settings.paths.prediction_logs.with_name("prediction-logs.imported") / "default").is_dir()
    other = Engine(engine.settings)
    try:
        assert other.prediction_log("old") == entries
        assert other.prediction_log("old", limit=1) == entries[1:]
    finally:
        other.close()
