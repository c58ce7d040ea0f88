"""Framework adapters: one per framework, behind one contract.

Built-in: scikit-learn, XGBoost, TensorFlow/Keras and custom prediction
routines. Third parties register an adapter class (or factory) under the
``mlnb.frameworks`` entry point group.
"""

from __future__ import annotations

from mlnb.frameworks.base import (
    Contributions,
    Differentiable,
    FrameworkAdapter,
    LoadOptions,
    ModelLoadError,
    Predictor,
    Scorer,
    TreeEnsemble,
    import_extra,
)
from mlnb.frameworks.registry import (
    ENTRY_POINT_GROUP,
    AdapterRegistry,
    normalize_framework,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterRegistry",
    "Contributions",
    "Differentiable",
    "FrameworkAdapter",
    "LoadOptions",
    "ModelLoadError",
    "Predictor",
    "Scorer",
    "TreeEnsemble",
    "import_extra",
    "normalize_framework",
]
