"""The adapter registry: built-ins registered lazily, third parties through
the ``mlnb.frameworks`` entry point group. A broken plugin raises a clear
error when it is used and never breaks ``import mlnb``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from mlnb.errors import InvalidArgument, MlnbError
from mlnb.frameworks.base import FrameworkAdapter, ModelLoadError

ENTRY_POINT_GROUP = "mlnb.frameworks"

# Detection order: the most specific files first; custom is never detected.
_BUILTINS: dict[str, str] = {
    "TENSORFLOW": "mlnb.frameworks.tensorflow:TensorFlowAdapter",
    "XGBOOST": "mlnb.frameworks.xgboost:XGBoostAdapter",
    "SCIKIT_LEARN": "mlnb.frameworks.sklearn:SklearnAdapter",
    "CUSTOM": "mlnb.frameworks.custom:CustomAdapter",
}
_BUILTIN_ALIASES = {
    "SKLEARN": "SCIKIT_LEARN",
    "TF": "TENSORFLOW",
    "KERAS": "TENSORFLOW",
    "XGB": "XGBOOST",
}


def normalize_framework(name: str) -> str:
    """``scikit-learn``, ``sklearn``, ``SCIKIT_LEARN`` all give ``SCIKIT_LEARN``."""
    key = name.strip().upper().replace("-", "_")
    return _BUILTIN_ALIASES.get(key, key)


class AdapterRegistry:
    """Framework adapters by name, created on first use."""

    def __init__(self, package_cache: Path) -> None:
        self._factories: dict[str, Callable[[], FrameworkAdapter]] = {}
        self._adapters: dict[str, FrameworkAdapter] = {}
        self._broken: dict[str, str] = {}
        self._package_cache = package_cache
        self._plugins_loaded = False
        for name, target in _BUILTINS.items():
            self._factories[name] = self._builtin_factory(target)

    def _builtin_factory(self, target: str) -> Callable[[], FrameworkAdapter]:
        def create() -> FrameworkAdapter:
            module_name, class_name = target.split(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            if class_name == "CustomAdapter":
                return cls(self._package_cache)  # type: ignore[no-any-return]
            return cls()  # type: ignore[no-any-return]

        return create

    def register(self, name: str, factory: Callable[[], FrameworkAdapter]) -> None:
        """Add or replace an adapter; ``factory`` is called on first use."""
        key = normalize_framework(name)
        self._factories[key] = factory
        self._adapters.pop(key, None)
        self._broken.pop(key, None)

    def names(self) -> list[str]:
        """Every framework name known, built-ins first."""
        self._load_plugins()
        return list(self._factories) + [n for n in self._broken if n not in self._factories]

    def get(self, name: str) -> FrameworkAdapter:
        """The adapter for ``name`` (any accepted spelling).

        Raises:
            InvalidArgument: No such framework.
            MlnbError: The plugin that provides it failed to load.
        """
        key = normalize_framework(name)
        if key not in self._factories:
            self._load_plugins()
        if key in self._broken:
            raise MlnbError(f"The framework plugin {key!r} failed to load: {self._broken[key]}")
        if key not in self._factories:
            raise InvalidArgument(f"Unknown framework {name!r}; known frameworks: {', '.join(self.names())}")
        if key not in self._adapters:
            self._adapters[key] = self._factories[key]()
        return self._adapters[key]

    def detect(self, model_dir: Path) -> FrameworkAdapter:
        """The first adapter whose files are in ``model_dir``.

        Raises:
            ModelLoadError: No adapter recognises the folder; the message
                lists what was expected and what was found.
        """
        for name in self.names():
            if name in self._broken:
                continue
            adapter = self.get(name)
            if adapter.detect(model_dir):
                return adapter
        expected = [p for n in self.names() if n not in self._broken for p in self.get(n).file_patterns]
        found = sorted(p.name for p in model_dir.iterdir())[:10] if model_dir.is_dir() else []
        raise ModelLoadError(
            f"No model file found: expected one of {', '.join(expected)}; "
            f"found {', '.join(found) or 'nothing'}"
        )

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            key = normalize_framework(entry.name)
            try:
                self._factories[key] = entry.load()
            except Exception as e:  # a plugin's import may fail in any way
                self._broken[key] = f"{type(e).__name__}: {e}"
