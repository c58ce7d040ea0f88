"""TensorFlow SavedModel (a signature, ``serving_default`` unless named) and
Keras ``.keras`` files, also inside MLflow folders."""

from __future__ import annotations

import functools
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
        self._gradients: GradientFunction | None = None
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

    @functools.cached_property
    def _explained(self) -> tuple[str, Any, str] | None:
        """The default signature's one input (name, spec) and its one
        floating-point output (labels such as an argmax are left aside):
        what gradients are of; None when it has no such pair. Read once:
        an explanation asks for it several times a request."""
        function = self.loaded.signatures[self.default_signature]
        inputs: dict[str, Any] = function.structured_input_signature[1]
        floats = [name for name, out in function.structured_outputs.items() if out.dtype.is_floating]
        if len(inputs) != 1 or len(floats) != 1:
            return None
        ((name, spec),) = inputs.items()
        return (name, spec, floats[0]) if spec.dtype.is_floating else None

    def is_differentiable(self) -> bool:
        return self._explained is not None

    def input_shape(self) -> tuple[int | None, ...]:
        explained = self._explained
        return tuple(explained[1].shape[1:]) if explained else ()

    def input_name(self) -> str:
        explained = self._explained
        return explained[0] if explained else "input"

    def gradients(self, rows: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._gradients is None:
            explained = self._explained
            if explained is None:
                raise TypeError("The signature has no one floating-point input and output")
            name, spec, output = explained
            function = self.loaded.signatures[self.default_signature]
            self._gradients = GradientFunction(lambda x: function(**{name: x})[output], spec.dtype)
        return self._gradients(rows, labels)


class KerasPredictor:
    """A Keras 3 model loaded from a ``.keras`` file."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.input_names = [getattr(t, "name", f"input_{i}") for i, t in enumerate(model.inputs)]
        self.output_names = list(getattr(model, "output_names", None) or [])
        self._gradients: GradientFunction | None = None

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
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) < 2:
            return False
        dtype = str(getattr(inputs[0], "dtype", "float32") or "float32")
        return dtype.startswith(("float", "bfloat"))

    def input_shape(self) -> tuple[int | None, ...]:
        return tuple(self.model.inputs[0].shape[1:])

    def input_name(self) -> str:
        return str(self.input_names[0])

    def gradients(self, rows: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._gradients is None:
            model = self.model
            self._gradients = GradientFunction(
                lambda x: model(x, training=False), model.inputs[0].dtype or "float32"
            )
        return self._gradients(rows, labels)


class GradientFunction:
    """The scores of a model's one output and the gradients of each row's
    chosen score in its input, traced once into a graph (an eager
    GradientTape costs milliseconds a call)."""

    def __init__(self, scores_of: Any, dtype: Any) -> None:
        self.scores_of = scores_of
        self.dtype = dtype
        self._traced: Any = None

    def __call__(self, rows: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, outputs) scores, and the gradients of each row's
        ``labels`` output (its top one where ``labels`` is None)."""
        tf = _tf()
        if self._traced is None:
            self._traced = tf.function(self._trace, reduce_retracing=True, autograph=False)
        chosen = np.full(len(rows), -1) if labels is None else labels
        scores, grads = self._traced(
            tf.convert_to_tensor(np.asarray(rows), dtype=self.dtype),
            tf.convert_to_tensor(np.asarray(chosen, dtype=np.int64)),
        )
        return np.asarray(scores.numpy(), dtype=float), np.asarray(grads.numpy(), dtype=float)

    def _trace(self, x: Any, labels: Any) -> tuple[Any, Any]:
        tf = _tf()
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.reshape(self.scores_of(x), (tf.shape(x)[0], -1))
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
