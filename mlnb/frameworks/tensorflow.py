"""TensorFlow SavedModel (a signature, ``serving_default`` unless named) and
Keras ``.keras`` files, also inside MLflow folders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mlnb.errors import InvalidArgument
from mlnb.frameworks.base import LoadOptions, ModelLoadError, Predictor, import_extra

_SEARCH_DEPTH = 3


def _tf() -> Any:
    return import_extra("tensorflow", "tensorflow", "A TensorFlow model")


def _find(model_dir: Path, pattern: str) -> list[Path]:
    found: list[Path] = []
    for depth in range(_SEARCH_DEPTH):
        found.extend(sorted(model_dir.glob("/".join(["*"] * depth + [pattern]))))
    return found


def _rows(outputs: Mapping[str, Any], count: int) -> Sequence[Any]:
    """One prediction per instance: the value for a single output, an object
    keyed by output name for several (ML Engine's rule)."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    if len(arrays) == 1:
        (only,) = arrays.values()
        return only[:count]  # type: ignore[return-value]
    return [{name: array[i] for name, array in arrays.items()} for i in range(count)]


def _column(instances: Sequence[Any], name: str | None, index: int) -> list[Any]:
    if name is None:
        return list(instances)
    try:
        return [instance[name] for instance in instances]
    except (KeyError, TypeError) as e:
        raise InvalidArgument(
            f"Instance {index} lacks the input {name!r} that the model's signature needs"
        ) from e


class SignaturePredictor:
    """One signature of a SavedModel; ``signature_name`` picks another."""

    def __init__(self, loaded: Any, default_signature: str = "serving_default") -> None:
        self.loaded = loaded
        self.default_signature = default_signature
        if default_signature not in loaded.signatures:
            raise ModelLoadError(
                f"The SavedModel has no signature {default_signature!r} "
                f"(signatures: {', '.join(sorted(loaded.signatures)) or 'none'})"
            )

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        tf = _tf()
        name = kwargs.get("signature_name") or self.default_signature
        if name not in self.loaded.signatures:
            raise InvalidArgument(
                f"signature_name {name!r} is not in the model "
                f"(signatures: {', '.join(sorted(self.loaded.signatures))})"
            )
        function = self.loaded.signatures[name]
        specs: dict[str, Any] = function.structured_input_signature[1]
        named = bool(instances) and isinstance(instances[0], Mapping)
        if len(specs) > 1 and not named:
            raise InvalidArgument(
                f"The signature {name!r} takes several inputs ({', '.join(sorted(specs))}): "
                "each instance must be a JSON object naming them"
            )
        inputs = {}
        for input_name, spec in specs.items():
            column = _column(instances, input_name if named else None, 0)
            inputs[input_name] = tf.constant(column, dtype=spec.dtype)
        outputs = function(**inputs)
        return _rows({k: v.numpy() for k, v in outputs.items()}, len(instances))


class KerasPredictor:
    """A Keras 3 model loaded from a ``.keras`` file."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.input_names = [getattr(t, "name", f"input_{i}") for i, t in enumerate(model.inputs)]
        self.output_names = list(getattr(model, "output_names", None) or [])
        self._gradient_function: Any = None

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]:
        named = bool(instances) and isinstance(instances[0], Mapping)
        if named:
            features: Any = {name: np.asarray(_column(instances, name, 0)) for name in self.input_names}
        else:
            features = np.asarray(instances)
        outputs = self.model.predict_on_batch(features)
        if isinstance(outputs, Mapping):
            return _rows(outputs, len(instances))
        if isinstance(outputs, list | tuple):
            names = self.output_names or [f"output_{i}" for i in range(len(outputs))]
            return _rows(dict(zip(names, outputs, strict=True)), len(instances))
        # An array, not a list of rows: it becomes JSON in one tolist().
        return np.asarray(outputs)  # type: ignore[return-value]

    def is_differentiable(self) -> bool:
        inputs, outputs = self.model.inputs, self.model.outputs
        return len(inputs) == 1 and len(outputs) == 1 and len(inputs[0].shape) == 2

    def gradients(self, rows: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        tf = _tf()
        if self._gradient_function is None:
            self._gradient_function = tf.function(
                self._scores_and_gradients, reduce_retracing=True, autograph=False
            )
        dtype = self.model.inputs[0].dtype or "float32"
        chosen = (
            np.full(len(rows), -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        )
        scores, grads = self._gradient_function(
            tf.convert_to_tensor(np.asarray(rows), dtype=dtype), tf.convert_to_tensor(chosen)
        )
        return np.asarray(scores.numpy(), dtype=float), np.asarray(grads.numpy(), dtype=float)

    def _scores_and_gradients(self, x: Any, labels: Any) -> tuple[Any, Any]:
        """Traced once into a graph (eager GradientTape costs milliseconds a
        call): the scores of ``x`` and the gradient of each row's
        ``labels`` output (-1: its top one)."""
        tf = _tf()
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = self.model(x, training=False)
            scores = tf.reshape(scores, (tf.shape(x)[0], -1))
            chosen = tf.where(labels < 0, tf.argmax(scores, axis=1), labels)
            explained = tf.gather(scores, chosen, axis=1, batch_dims=1)
        # Each row's output depends on that row alone, so the gradient of
        # their sum is each row's own gradient.
        return scores, tape.gradient(explained, x)


class TensorFlowAdapter:
    """The TensorFlow adapter: SavedModel folders and Keras files."""

    name: ClassVar[str] = "TENSORFLOW"
    aliases: ClassVar[tuple[str, ...]] = ("tensorflow", "tf", "keras")
    file_patterns: ClassVar[tuple[str, ...]] = ("saved_model.pb", "*.keras")

    def detect(self, model_dir: Path) -> bool:
        return bool(_find(model_dir, "saved_model.pb") or _find(model_dir, "*.keras"))

    def load(self, model_dir: Path, options: LoadOptions) -> Predictor:
        keras_files = _find(model_dir, "*.keras")
        saved_models = _find(model_dir, "saved_model.pb")
        if keras_files:
            keras = import_extra("keras", "tensorflow", "A Keras model")
            try:
                return KerasPredictor(keras.saving.load_model(keras_files[0], compile=False))
            except (OSError, ValueError, KeyError) as e:
                raise ModelLoadError(f"{keras_files[0].name} is not a readable Keras file: {e}") from e
        if saved_models:
            tf = _tf()
            try:
                loaded = tf.saved_model.load(str(saved_models[0].parent))
            except (OSError, ValueError) as e:
                raise ModelLoadError(f"The SavedModel cannot be read: {e}") from e
            return SignaturePredictor(loaded)
        raise ModelLoadError("No TensorFlow model in the folder: expected saved_model.pb or a .keras file")

    def save(self, model: Any, model_dir: Path) -> Path:
        model_dir.mkdir(parents=True, exist_ok=True)
        if hasattr(model, "save") and hasattr(model, "inputs"):
            path = model_dir / "model.keras"
            model.save(path)
            return path
        _tf().saved_model.save(model, str(model_dir))
        return model_dir
