"""XGBoost: ``model.bst``, ``model.json``, ``model.ubj`` (Booster files),
scikit-learn-API XGBoost models in ``model.joblib``/``model.pkl``, and
MLflow's xgboost flavor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mlnb.errors import InvalidArgument
from mlnb.frameworks.base import Contributions, LoadOptions, ModelLoadError, Predictor, import_extra
from mlnb.frameworks.mlflow_folder import flavor_file, mlflow_flavors
from mlnb.frameworks.sklearn import EstimatorPredictor, load_pickled
from mlnb.frameworks.tabular import check_width, to_features
from mlnb.frameworks.trees import TreeAttributor, is_tree_model

_BOOSTER_FILES = ("model.bst", "model.json", "model.ubj")
_PICKLE_FILES = ("model.joblib", "model.pkl")
# MLflow records the class to load into; only these are ever instantiated,
# whatever the file says.
_MLFLOW_CLASSES = {
    "xgboost.core.Booster": "Booster",
    "xgboost.sklearn.XGBClassifier": "XGBClassifier",
    "xgboost.sklearn.XGBRegressor": "XGBRegressor",
    "xgboost.sklearn.XGBRanker": "XGBRanker",
    "xgboost.sklearn.XGBRFClassifier": "XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor": "XGBRFRegressor",
}


def _xgb() -> Any:
    return import_extra("xgboost", "xgboost", "An XGBoost model")


class BoosterPredictor:
    """A native ``xgboost.Booster``."""

    accepts_arrays: ClassVar[bool] = True  # DMatrix converts lists to one anyway

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self._dmatrix = _xgb().DMatrix
        self._width = int(booster.num_features())
        self._trees = TreeAttributor(booster) if is_tree_model(booster) else None

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        result: Sequence[Any] = self.booster.predict(self._dmatrix(self._features(instances)))
        return result

    def _features(self, instances: Sequence[Any]) -> Any:
        try:
            features = to_features(instances)
        except ValueError:  # rows of different lengths
            check_width(instances, self._width)
            raise
        if isinstance(features, np.ndarray) and features.dtype.kind not in "fiub":
            raise InvalidArgument("XGBoost instances must be lists of numbers")
        if not (isinstance(features, np.ndarray) and features.ndim == 2 and features.shape[1] == self._width):
            # XGBoost predicts fewer columns than it was trained on without a
            # word (they read as missing): refused here, in the API's terms.
            check_width(instances, self._width)
        return features

    def feature_names(self) -> list[str] | None:
        names = self.booster.feature_names
        return [str(n) for n in names] if names else None

    def scores(self, instances: Sequence[Any]) -> Any:
        return self.predict(instances)

    def is_tree_ensemble(self) -> bool:
        return self._trees is not None

    def tree_contributions(self, instances: Sequence[Any], background: Sequence[Any] | None) -> Contributions:
        if self._trees is None:
            raise TypeError("This booster has no trees (a linear booster)")
        rows = None if background is None else self._features(background)
        return self._trees.contributions(self._features(instances), rows)


class XGBoostAdapter:
    """The XGBoost adapter."""

    name: ClassVar[str] = "XGBOOST"
    aliases: ClassVar[tuple[str, ...]] = ("xgboost", "xgb")
    file_patterns: ClassVar[tuple[str, ...]] = (*_BOOSTER_FILES, "MLmodel (xgboost flavor)")

    def detect(self, model_dir: Path) -> bool:
        # A pickle may hold an XGBoost estimator, but it is read as
        # scikit-learn unless the user says XGBOOST: both predict the same.
        if "xgboost" in mlflow_flavors(model_dir):
            return True
        return any((model_dir / name).is_file() for name in _BOOSTER_FILES)

    def load(self, model_dir: Path, options: LoadOptions) -> Predictor:
        xgb = _xgb()
        flavor = mlflow_flavors(model_dir).get("xgboost")
        if flavor is not None:
            return self._load_mlflow(xgb, model_dir, flavor)
        for name in _BOOSTER_FILES:
            if (model_dir / name).is_file():
                return BoosterPredictor(_load_booster(xgb.Booster(), model_dir / name))
        for name in _PICKLE_FILES:
            if (model_dir / name).is_file():
                serialization = "joblib" if name.endswith("joblib") else "pickle"
                model = load_pickled(model_dir / name, serialization, options)
                return _wrap(xgb, model, name)
        raise ModelLoadError(
            "No XGBoost model file in the folder: expected one of "
            f"{', '.join(_BOOSTER_FILES + _PICKLE_FILES)}"
        )

    def _load_mlflow(self, xgb: Any, model_dir: Path, flavor: dict[str, Any]) -> Predictor:
        class_path = str(flavor.get("model_class") or "xgboost.core.Booster")
        if class_path not in _MLFLOW_CLASSES:
            raise ModelLoadError(f"The MLflow xgboost model class {class_path!r} is not supported")
        model = getattr(xgb, _MLFLOW_CLASSES[class_path])()
        model = _load_booster(model, flavor_file(model_dir, flavor, "data"))
        return _wrap(xgb, model, "MLmodel")

    def save(self, model: Any, model_dir: Path) -> Path:
        model_dir.mkdir(parents=True, exist_ok=True)
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        path = model_dir / "model.ubj"
        booster.save_model(str(path))
        return path


def _load_booster(model: Any, path: Path) -> Any:
    try:
        if path.suffix in (".json", ".ubj"):
            model.load_model(str(path))
        else:
            # model.bst (ML Engine's name) and MLflow's model.xgb carry no
            # format in their name: from a buffer XGBoost detects it.
            model.load_model(bytearray(path.read_bytes()))
    except Exception as e:  # XGBoostError, and ValueError for unknown formats
        raise ModelLoadError(f"{path.name} is not a readable XGBoost model: {e}") from e
    return model


def _wrap(xgb: Any, model: Any, source: str) -> Predictor:
    if isinstance(model, xgb.Booster):
        return BoosterPredictor(model)
    if isinstance(model, xgb.XGBModel):
        return EstimatorPredictor(model)
    kind = f"{type(model).__module__}.{type(model).__name__}"
    raise ModelLoadError(
        f"{source} holds a {kind}, not an XGBoost model; deploy it with the framework "
        "that made it (for scikit-learn: framework 'scikit-learn')"
    )
