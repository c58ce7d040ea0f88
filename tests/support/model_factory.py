"""Tiny real models, trained and saved the way each framework's own users
save them (no mlnb import), for the end-to-end and contract tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    features, labels = load_iris(return_X_y=True)
    return features.astype(np.float64), labels


def sklearn_pipeline_dir(root: Path) -> tuple[Path, Any]:
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    root.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, root / "model.joblib")
    return root, model


def sklearn_pickle_dir(root: Path) -> tuple[Path, Any]:
    import pickle

    from sklearn.tree import DecisionTreeRegressor

    features, labels = iris()
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(features, labels)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    return root, model


def xgboost_booster_dir(root: Path, filename: str = "model.json") -> tuple[Path, Any]:
    import xgboost as xgb

    features, labels = iris()
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
        xgb.DMatrix(features, label=labels),
        num_boost_round=5,
    )
    root.mkdir(parents=True, exist_ok=True)
    if filename.endswith(".bst"):
        # XGBoost names no format for .bst: write UBJSON, as ML Engine users' files hold.
        booster.save_model(str(root / "model.ubj"))
        (root / "model.ubj").rename(root / filename)
    else:
        booster.save_model(str(root / filename))
    return root, booster


def xgboost_sklearn_dir(root: Path) -> tuple[Path, Any]:
    import joblib
    import xgboost as xgb

    features, labels = iris()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(features, labels)
    root.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, root / "model.joblib")
    return root, model


def keras_dir(root: Path) -> tuple[Path, Any]:
    import keras

    features, labels = iris()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(features, labels, epochs=1, verbose=0)
    root.mkdir(parents=True, exist_ok=True)
    model.save(root / "model.keras")
    return root, model


def savedmodel_dir(root: Path) -> tuple[Path, Any]:
    """A SavedModel with two signatures: ``serving_default`` (two outputs)
    and ``doubled`` (one output), both over one float input ``x``."""
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = tf.Variable([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0], [-1.0, 0.25]])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            scores = tf.matmul(x, self.weights)
            return {"scores": scores, "label": tf.argmax(scores, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def doubled(self, x: Any) -> dict[str, Any]:
            return {"y": x * 2.0}

    module = Scorer()
    signatures = {"serving_default": module.serve, "doubled": module.doubled}
    tf.saved_model.save(module, str(root), signatures=signatures)
    return root, module


def mlflow_sklearn_dir(root: Path) -> tuple[Path, Any]:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    features, labels = iris()
    model = LogisticRegression(max_iter=500).fit(features, labels)
    mlflow.sklearn.save_model(model, str(root))
    return root, model


def mlflow_xgboost_dir(root: Path) -> tuple[Path, Any]:
    import mlflow.xgboost
    import xgboost as xgb

    features, labels = iris()
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(features, labels)
    mlflow.xgboost.save_model(model, str(root))
    return root, model


CUSTOM_ROUTINE = '''
import json
import os
import time


class ScaledSum:
    """A custom prediction routine: sums each instance, times a factor read
    from the model folder (which may also ask loading to take a while)."""

    def __init__(self, factor, predict_seconds=0, fail_after=None):
        self.factor = factor
        self.predict_seconds = predict_seconds
        self.fail_after = fail_after
        self.calls = 0

    @classmethod
    def from_path(cls, model_dir):
        with open(os.path.join(model_dir, "factor.json")) as f:
            config = json.load(f)
        time.sleep(config.get("load_seconds", 0))
        return cls(config["factor"], config.get("predict_seconds", 0), config.get("fail_after"))

    def predict(self, instances, **kwargs):
        time.sleep(self.predict_seconds)
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError(f"broken past call {self.fail_after}")
        return [self.factor * sum(instance) for instance in instances]
'''


def custom_routine(
    root: Path,
    factor: float = 2.0,
    load_seconds: float = 0.0,
    predict_seconds: float = 0.0,
    fail_after: int | None = None,
) -> tuple[Path, Path]:
    """A model folder and a one-file package holding ``scaled_sum.ScaledSum``
    (which may take its time to load and to predict, and may raise on every
    call past its ``fail_after``-th in a process)."""
    model_dir = root / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "factor": factor,
        "load_seconds": load_seconds,
        "predict_seconds": predict_seconds,
        "fail_after": fail_after,
    }
    (model_dir / "factor.json").write_text(json.dumps(config))
    package = root / "scaled_sum.py"
    package.write_text(CUSTOM_ROUTINE)
    return model_dir, package


def sklearn_logistic_dir(root: Path) -> tuple[Path, Any]:
    import joblib
    from sklearn.linear_model import LogisticRegression

    features, labels = iris()
    model = LogisticRegression(max_iter=500).fit(features, labels)
    root.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, root / "model.joblib")
    return root, model


def mlflow_keras_dir(root: Path) -> tuple[Path, Any]:
    import mlflow.keras

    _, model = keras_dir(root.with_name(root.name + "-source"))
    mlflow.keras.save_model(model, str(root))
    return root, model
