"""Each framework end to end: a model saved by the framework's own code,
deployed as a version, predicted through the Engine, compared with the
framework's own predict on the same inputs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import model_factory

from mlnb.api import Engine
from mlnb.errors import FailedPrecondition, InvalidArgument

pytestmark = pytest.mark.integration

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def deploy(engine: Engine, origin: Path, framework: str | None = None, **kwargs: Any) -> Any:
    engine.create_model("m")
    version = engine.create_version("m", "v1", origin, framework=framework, **kwargs)
    assert version.state == "READY", version.error_message
    return version


def test_sklearn_pipeline(engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    origin, model = sklearn_model
    assert deploy(engine, origin).framework == "SCIKIT_LEARN"
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()


def test_sklearn_pickle(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.sklearn_pickle_dir(tmp_path / "pkl")
    deploy(engine, origin)
    assert engine.predict("m", SAMPLES) == pytest.approx(model.predict(np.asarray(SAMPLES)).tolist())


def test_sklearn_named_inputs_reach_a_column_pipeline(engine: Engine, tmp_path: Path) -> None:
    import joblib
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"city": ["oslo", "lima", "oslo", "rome"], "size": [1.0, 2.0, 3.0, 4.0]})
    target = [10.0, 20.0, 30.0, 45.0]
    encode = make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough")
    model = make_pipeline(encode, LinearRegression()).fit(frame, target)
    (tmp_path / "m").mkdir()
    joblib.dump(model, tmp_path / "m" / "model.joblib")
    deploy(engine, tmp_path / "m")
    instances = [{"city": "lima", "size": 2.5}, {"city": "rome", "size": 1.0}]
    expected = model.predict(pd.DataFrame(instances)).tolist()
    assert engine.predict("m", instances) == pytest.approx(expected)


@pytest.mark.parametrize("filename", ["model.json", "model.ubj", "model.bst"])
def test_xgboost_booster_files(engine: Engine, tmp_path: Path, filename: str) -> None:
    import xgboost as xgb

    origin, booster = model_factory.xgboost_booster_dir(tmp_path / "xgb", filename)
    assert deploy(engine, origin).framework == "XGBOOST"
    expected = booster.predict(xgb.DMatrix(np.asarray(SAMPLES)))
    np.testing.assert_allclose(engine.predict("m", SAMPLES), expected, rtol=1e-6)


def test_xgboost_sklearn_api_pickle(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.xgboost_sklearn_dir(tmp_path / "xgbsk")
    assert deploy(engine, origin, framework="xgboost").framework == "XGBOOST"
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()


def test_xgboost_framework_refuses_a_sklearn_pickle(engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    engine.create_model("m")
    version = engine.create_version("m", "v1", sklearn_model[0], framework="XGBOOST")
    assert version.state == "FAILED"
    assert "not an XGBoost model" in (version.error_message or "")
    assert "framework 'scikit-learn'" in (version.error_message or "")


@pytest.mark.slow
def test_keras_file(engine: Engine, keras_model: tuple[Path, Any]) -> None:
    origin, model = keras_model
    assert deploy(engine, origin).framework == "TENSORFLOW"
    expected = model.predict(np.asarray(SAMPLES), verbose=0)
    np.testing.assert_allclose(engine.predict("m", SAMPLES), expected, rtol=1e-5)


@pytest.mark.slow
def test_savedmodel_signatures_and_outputs(engine: Engine, saved_model: tuple[Path, Any]) -> None:
    import tensorflow as tf

    origin, module = saved_model
    deploy(engine, origin)
    predictions = engine.predict("m", SAMPLES)
    expected = module.serve(tf.constant(SAMPLES, tf.float32))
    # Several outputs: one object per instance, keyed by output name.
    assert [p["label"] for p in predictions] == expected["label"].numpy().tolist()
    np.testing.assert_allclose([p["scores"] for p in predictions], expected["scores"].numpy(), rtol=1e-6)
    # A named signature with one output: bare values.
    doubled = engine.predict("m", SAMPLES[:1], signature_name="doubled")
    np.testing.assert_allclose(doubled, [[2 * v for v in SAMPLES[0]]], rtol=1e-6)
    with pytest.raises(InvalidArgument, match="signature_name 'nope' is not in the model"):
        engine.predict("m", SAMPLES, signature_name="nope")
    # Explained by integrated gradients through the signature's one float
    # output (the argmax label is left aside): a linear one's are exact.
    answer = engine.explain("m", SAMPLES)
    assert answer["method"] == "integratedGradientsAttribution"
    weights = module.weights.numpy()
    for sample, explanation in zip(SAMPLES, answer["explanations"], strict=True):
        (label,) = explanation["attributions_by_label"]
        index = int(np.argmax(np.asarray(sample) @ weights))
        assert label["label_index"] == index
        got = [label["attributions"][str(j)] for j in range(4)]
        np.testing.assert_allclose(got, weights[:, index] * np.asarray(sample), rtol=1e-5, atol=1e-6)
    # Named inputs work too, and keys pass through.
    keyed = engine.predict("m", [{"key": "a", "x": SAMPLES[0]}])
    assert keyed[0]["key"] == "a" and keyed[0]["label"] == predictions[0]["label"]


def test_mlflow_sklearn_skops_folder(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.mlflow_sklearn_dir(tmp_path / "mlflow-sk")
    assert (origin / "model.skops").exists()
    assert deploy(engine, origin).framework == "SCIKIT_LEARN"
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()


def test_mlflow_xgboost_folder(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.mlflow_xgboost_dir(tmp_path / "mlflow-xgb")
    assert deploy(engine, origin).framework == "XGBOOST"
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()


@pytest.mark.slow
def test_mlflow_keras_folder(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.mlflow_keras_dir(tmp_path / "mlflow-keras")
    assert deploy(engine, origin).framework == "TENSORFLOW"
    expected = model.predict(np.asarray(SAMPLES), verbose=0)
    np.testing.assert_allclose(engine.predict("m", SAMPLES), expected, rtol=1e-5)


def test_custom_prediction_routine(engine: Engine, tmp_path: Path) -> None:
    model_dir, package = model_factory.custom_routine(tmp_path / "custom", factor=3.0)
    version = deploy(engine, model_dir, prediction_class="scaled_sum.ScaledSum", package_uris=[package])
    assert version.framework == "CUSTOM"
    assert engine.predict("m", [[1, 2], [3, 4]]) == [9.0, 21.0]
    # The package was copied: changing the origin does not change the version.
    package.write_text("raise RuntimeError('changed')")
    assert engine.get_version("m", "v1").state == "READY"


def test_custom_routine_refuses_a_framework(engine: Engine, tmp_path: Path) -> None:
    model_dir, _package = model_factory.custom_routine(tmp_path / "custom")
    engine.create_model("m")
    with pytest.raises(InvalidArgument, match="predictionClass is for custom prediction routines"):
        engine.create_version(
            "m", "v1", model_dir, framework="SCIKIT_LEARN", prediction_class="scaled_sum.ScaledSum"
        )


def test_local_predict_without_registering(engine: Engine, sklearn_model: tuple[Path, Any]) -> None:
    origin, model = sklearn_model
    assert engine.local_predict(origin, SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()
    assert engine.list_models() == []


def test_origin_changes_do_not_reach_the_version(engine: Engine, tmp_path: Path) -> None:
    origin, model = model_factory.sklearn_pipeline_dir(tmp_path / "origin")
    deploy(engine, origin)
    shutil.rmtree(origin)
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()


def test_changed_files_are_refused(home: Path, sklearn_model: tuple[Path, Any]) -> None:
    engine = Engine(home=str(home))
    version = deploy(engine, sklearn_model[0])
    stored = Path(version.artifact_uri) / "model.joblib"
    stored.write_bytes(stored.read_bytes() + b"tampered")
    fresh = Engine(home=str(home))  # a new process: nothing loaded yet
    with pytest.raises(FailedPrecondition, match=r"model\.joblib changed or disappeared"):
        fresh.predict("m", SAMPLES)


def test_memory_artifact_root(home: Path, sklearn_model: tuple[Path, Any]) -> None:
    engine = Engine(home=str(home), artifact_root="memory://mlnb-test-artifacts")
    origin, model = sklearn_model
    version = deploy(engine, origin)
    assert version.artifact_uri.startswith("memory://")
    assert engine.predict("m", SAMPLES) == model.predict(np.asarray(SAMPLES)).tolist()
    engine.set_default_version("m", "v1")
    engine.delete_version("m", "v1")
    import fsspec

    assert not fsspec.filesystem("memory").exists(version.artifact_uri)


# Failures: the version ends FAILED with a clear message; nothing else changes.


def _failed(engine: Engine, origin: Path, **kwargs: Any) -> str:
    engine.create_model("m")
    before = [(v.name, v.state) for v in engine.list_versions("m")]
    version = engine.create_version("m", "bad", origin, **kwargs)
    assert version.state == "FAILED"
    assert engine.get_model("m").default_version is None
    assert before == []
    assert [e.action for e in engine.model_history("m")] == ["MODEL_CREATED", "VERSION_FAILED"]
    with pytest.raises(FailedPrecondition, match="no default version"):
        engine.predict("m", SAMPLES)
    with pytest.raises(FailedPrecondition, match="is FAILED"):
        engine.predict("m", SAMPLES, version="bad")
    return version.error_message or ""


def test_corrupt_model_file_fails_the_version(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.joblib").write_bytes(b"this is not a pickle")
    assert "model.joblib" in _failed(engine, tmp_path / "m")


def test_folder_without_model_fails_the_version(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("hello")
    message = _failed(engine, tmp_path / "m")
    assert "No model file found" in message and "found notes.txt" in message


def test_missing_extra_fails_the_version(
    engine: Engine, xgboost_model: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same as an environment without mlnb[xgboost]: importing xgboost fails.
    monkeypatch.setitem(sys.modules, "xgboost", None)
    message = _failed(engine, xgboost_model[0])
    assert "pip install 'mlnb[xgboost]'" in message


def test_failed_version_can_be_deleted_and_retried(
    engine: Engine, tmp_path: Path, sklearn_model: tuple[Path, Any]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pkl").write_bytes(b"\x80\x04junk")
    _failed(engine, tmp_path / "m")
    engine.delete_version("m", "bad")
    assert engine.create_version("m", "bad", sklearn_model[0]).state == "READY"


@pytest.mark.parametrize("kind", ["sklearn", "xgboost"])
def test_the_wrong_number_of_features_is_said_in_the_apis_terms(
    engine: Engine, kind: str, sklearn_model: tuple[Path, Any], xgboost_model: tuple[Path, Any]
) -> None:
    origin = sklearn_model[0] if kind == "sklearn" else xgboost_model[0]
    deploy(engine, origin)
    with pytest.raises(InvalidArgument, match=r"^Instance 1 has 2 values; the model expects 4 features$"):
        engine.predict("m", [SAMPLES[0], [1.0, 2.0]])
    with pytest.raises(InvalidArgument, match=r"^Instance 0 has 1 value; the model expects 4 features$"):
        engine.predict("m", [5.1, 3.5, 1.4, 0.2])  # a row sent as four instances
    assert len(engine.predict("m", SAMPLES)) == 3
