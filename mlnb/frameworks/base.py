"""The framework adapter contract: detect files, load a Predictor, save."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from mlnb.errors import ModelLoadError, import_extra

if TYPE_CHECKING:  # the registry and the CLI read this module without numpy
    import numpy as np

__all__ = [
    "Contributions",
    "Differentiable",
    "FrameworkAdapter",
    "LoadOptions",
    "ModelLoadError",
    "Predictor",
    "Scorer",
    "TreeEnsemble",
    "import_extra",
]


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. Serving, batch prediction and widgets know only this.

    ``predict`` takes decoded instances (lists, numbers, strings, bytes, or
    dicts of named inputs) and returns one prediction per instance, which may
    hold numpy values: the prediction layer makes them JSON-ready. A
    predictor whose class sets ``accepts_arrays = True`` may instead be
    handed instances that are lists of numbers as one numeric numpy array,
    when the request's check built one.
    """

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]: ...


@runtime_checkable
class Scorer(Protocol):
    """A predictor that gives the numbers behind its predictions, which
    explanations attribute: a classifier's class probabilities rather than
    its labels. A predictor without it is explained through its
    predictions, which must then be numbers."""

    def scores(self, instances: Sequence[Any]) -> Any:
        """(instances, outputs) numbers. Instances that are lists of
        numbers may come as one 2-D numpy array."""
        ...

    def feature_names(self) -> list[str] | None:
        """The names of the model's input columns, when it knows them."""
        ...


@dataclass(frozen=True)
class Contributions:
    """Exact additive attributions of a model's own outputs (TreeSHAP):
    for each instance and output, ``expected + values.sum()`` is the score.

    Attributes:
        values: (instances, outputs, features) each feature's contribution.
        expected: (outputs,) the score when no feature is known: the
            trees' mean over their training data, or over the baseline rows.
        score: What the outputs are, in words (``probability``,
            ``log-odds``, ``prediction``...).
    """

    values: np.ndarray
    expected: np.ndarray
    score: str


@runtime_checkable
class TreeEnsemble(Protocol):
    """A predictor that may be an ensemble of trees, attributed exactly."""

    def is_tree_ensemble(self) -> bool:
        """Whether the model itself (not a pipeline around it) is one."""
        ...

    def tree_contributions(self, instances: Sequence[Any], background: Sequence[Any] | None) -> Contributions:
        """TreeSHAP values of ``instances``: path-dependent (against the
        trees' training data) without ``background``, else interventional
        against those rows (instances of the same shape)."""
        ...


@runtime_checkable
class Differentiable(Protocol):
    """A predictor whose scores have gradients in its input features."""

    def is_differentiable(self) -> bool:
        """Whether it takes one input of numbers and answers with one
        output, so that the gradients are per input value."""
        ...

    def input_shape(self) -> tuple[int | None, ...]:
        """One instance's shape: ``(features,)`` for a table, ``(height,
        width, channels)`` or ``(height, width)`` for an image."""
        ...

    def input_name(self) -> str:
        """The input's name, which an image's attribution map is keyed by."""
        ...

    def gradients(self, rows: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The scores of ``rows`` (rows, *input shape) as (rows, outputs),
        and the gradients (rows, *input shape) of each row's ``labels``
        output (the top one where ``labels`` is None)."""
        ...


@dataclass(frozen=True)
class LoadOptions:
    """What a version knows that its files do not.

    Attributes:
        prediction_class: ``module.Class`` of a custom prediction routine.
        package_dirs: Local folders or archives holding the version's
            ``packageUris``, to be made importable for a custom routine.
        skops_trusted_types: Types a skops file may hold beyond skops's own
            trusted defaults.
    """

    prediction_class: str | None = None
    package_dirs: tuple[Path, ...] = ()
    skops_trusted_types: tuple[str, ...] = ()


@runtime_checkable
class FrameworkAdapter(Protocol):
    """One framework: which files it reads, how to load and save them.

    Attributes:
        name: The framework name a version stores (``SCIKIT_LEARN``...).
        aliases: Other spellings accepted from users (``sklearn``...).
        file_patterns: The files ``detect`` looks for, for error messages.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]]
    file_patterns: ClassVar[tuple[str, ...]]

    def detect(self, model_dir: Path) -> bool:
        """Whether ``model_dir`` holds a model this adapter reads."""
        ...

    def load(self, model_dir: Path, options: LoadOptions) -> Predictor:
        """Load the model in ``model_dir``.

        Raises:
            ModelLoadError: No model file, or a file that cannot be read.
            MissingExtra: The framework is not installed.
        """
        ...

    def save(self, model: Any, model_dir: Path) -> Path:
        """Export ``model`` into ``model_dir`` in the format ``load`` reads;
        returns the file or folder written."""
        ...
