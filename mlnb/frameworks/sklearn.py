"""scikit-learn: ``model.joblib``, ``model.pkl``, ``model.skops``, and MLflow's
sklearn flavor. Pipelines load whole, so preprocessing runs server-side."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from mlnb.errors import MissingExtra
from mlnb.frameworks.base import Contributions, LoadOptions, ModelLoadError, Predictor, import_extra
from mlnb.frameworks.mlflow_folder import flavor_file, mlflow_flavors
from mlnb.frameworks.tabular import check_width, to_features
from mlnb.frameworks.trees import TreeAttributor, is_tree_model

_FILES = ("model.joblib", "model.pkl", "model.skops")


class EstimatorPredictor:
    """Any object with a scikit-learn ``predict``."""

    accepts_arrays: ClassVar[bool] = True  # the model converts lists to one anyway

    def __init__(self, model: Any) -> None:
        self.model = model
        # Read once: a prediction of lists to a model fitted on a DataFrame uses them.
        names = getattr(model, "feature_names_in_", None)
        self._names = [str(n) for n in names] if names is not None else None
        self._trees = TreeAttributor(model) if is_tree_model(model) else None

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        try:
            result: Sequence[Any] = self.model.predict(self._features(instances))
        except Exception:
            # Said in the API's terms when the width is the fault (checked
            # only then: the happy path pays nothing).
            check_width(instances, getattr(self.model, "n_features_in_", None))
            raise
        return result

    def scores(self, instances: Sequence[Any]) -> Any:
        """Class probabilities for a classifier, else the predictions."""
        features = self._features(instances)
        if hasattr(self.model, "predict_proba"):
            try:
                return self.model.predict_proba(features)
            except AttributeError:
                pass  # a pipeline whose last step has no probabilities
        return self.model.predict(features)

    def _features(self, instances: Sequence[Any]) -> Any:
        features = to_features(instances)
        names = self._names
        if names is not None and getattr(features, "ndim", 0) == 2 and features.shape[1] == len(names):
            # Lists for a model fitted on a DataFrame: its columns, by position.
            import pandas as pd

            return pd.DataFrame(features, columns=names)
        return features

    def feature_names(self) -> list[str] | None:
        return self._names

    def classes(self) -> list[Any] | None:
        """A classifier's classes, in the order of its probabilities."""
        classes = getattr(self.model, "classes_", None)
        if classes is None or not hasattr(self.model, "predict_proba"):
            return None
        return list(classes.tolist() if hasattr(classes, "tolist") else classes)

    def is_tree_ensemble(self) -> bool:
        return self._trees is not None

    def tree_contributions(self, instances: Sequence[Any], background: Sequence[Any] | None) -> Contributions:
        if self._trees is None:
            raise TypeError(f"{type(self.model).__name__} is not a tree ensemble")
        rows = None if background is None else self._features(background)
        return self._trees.contributions(self._features(instances), rows)


def load_pickled(path: Path, serialization: str, options: LoadOptions) -> Any:
    """Load a joblib, pickle or skops file (the pickles only from trusted origins).

    Raises:
        ModelLoadError: The file is corrupt, or a skops file holds untrusted types.
    """
    try:
        if serialization == "skops":
            return _load_skops(path, options)
        if serialization == "joblib":
            import joblib

            return joblib.load(path)
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - versions only load checksummed files
    except (ModelLoadError, MissingExtra):
        raise
    except ImportError as e:
        raise ModelLoadError(
            f"Loading {path.name} needs the module '{e.name}', which is not installed in mlnb's environment"
        ) from e
    except Exception as e:  # unpickling a bad file raises anything: IndexError, EOFError...
        raise ModelLoadError(
            f"{path.name} is not a readable {serialization} file: {type(e).__name__}: {e}"
        ) from e


def _load_skops(path: Path, options: LoadOptions) -> Any:
    sio = import_extra("skops.io", "skops", "Loading a skops file")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # skops raises many kinds on a bad zip
        raise ModelLoadError(f"{path.name} is not a readable skops file: {e}") from e
    refused = sorted(set(untrusted) - set(options.skops_trusted_types))
    if refused:
        raise ModelLoadError(
            f"{path.name} holds types that skops does not trust: {', '.join(refused)}. "
            "If you trust this file, list them in MLNB_SKOPS_TRUSTED_TYPES."
        )
    return sio.load(path, trusted=list(untrusted) or None)


class SklearnAdapter:
    """The scikit-learn adapter."""

    name: ClassVar[str] = "SCIKIT_LEARN"
    aliases: ClassVar[tuple[str, ...]] = ("sklearn", "scikit-learn", "scikit_learn")
    file_patterns: ClassVar[tuple[str, ...]] = (*_FILES, "MLmodel (sklearn flavor)")

    def detect(self, model_dir: Path) -> bool:
        if "sklearn" in mlflow_flavors(model_dir):
            return True
        return any((model_dir / name).is_file() for name in _FILES)

    def load(self, model_dir: Path, options: LoadOptions) -> Predictor:
        return EstimatorPredictor(load_pickled(*self._model_file(model_dir), options))

    def _model_file(self, model_dir: Path) -> tuple[Path, str]:
        flavor = mlflow_flavors(model_dir).get("sklearn")
        if flavor is not None:
            fmt = str(flavor.get("serialization_format") or "cloudpickle")
            path = flavor_file(model_dir, flavor, "pickled_model")
            return path, "skops" if fmt == "skops" else "pickle"
        for name in _FILES:
            if (model_dir / name).is_file():
                return model_dir / name, name.rsplit(".", 1)[1].replace("pkl", "pickle")
        raise ModelLoadError(f"No scikit-learn model file in the folder: expected one of {', '.join(_FILES)}")

    def save(self, model: Any, model_dir: Path) -> Path:
        import joblib

        model_dir.mkdir(parents=True, exist_ok=True)
        path = model_dir / "model.joblib"
        joblib.dump(model, path)
        return path
