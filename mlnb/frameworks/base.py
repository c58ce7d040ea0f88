"""The framework adapter contract: detect files, load a Predictor, save."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from mlnb.errors import ModelLoadError, import_extra

__all__ = [
    "FrameworkAdapter",
    "LoadOptions",
    "ModelLoadError",
    "Predictor",
    "Scorer",
    "import_extra",
]


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. Serving, batch prediction and widgets know only this.

    ``predict`` takes decoded instances (lists, numbers, strings, bytes, or
    dicts of named inputs) and returns one prediction per instance, which may
    hold numpy values: the prediction layer makes them JSON-ready.
    """

    def predict(self, instances: Sequence[Any], **kwargs: Any) -> Sequence[Any]: ...


@runtime_checkable
class Scorer(Protocol):
    """A predictor that gives the numbers behind its predictions, which
    explanations attribute: a classifier's class probabilities rather than
    its labels. A predictor without it is explained through its
    predictions, which must then be numbers."""

    def scores(self, instances: Sequence[Any]) -> Any:
        """(instances, outputs) numbers."""
        ...

    def feature_names(self) -> list[str] | None:
        """The names of the model's input columns, when it knows them."""
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
