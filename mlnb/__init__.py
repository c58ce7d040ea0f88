"""mlnb: a self-hosted, notebook-first machine-learning engine.

It trains, tunes, keeps and serves models as Google Cloud ML Engine did, on
your own machine. Start with :class:`mlnb.Engine`::

    import mlnb
    engine = mlnb.Engine()
    engine.create_model("census")
    engine.create_version("census", "v1", origin="model_dir/")
    engine.predict("census", [[25, 1, 40]])

``import mlnb`` stays light: the Engine, its store and every framework load
when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlnb._version import __version__
from mlnb.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MissingExtra,
    MlnbError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from mlnb.states import JobKind, JobState, VersionState

if TYPE_CHECKING:
    from mlnb.api import Engine
    from mlnb.config import Settings
    from mlnb.records import ModelEvent, ModelRecord, VersionRecord

__all__ = [
    "AlreadyExists",
    "Engine",
    "FailedPrecondition",
    "InvalidArgument",
    "JobKind",
    "JobState",
    "MissingExtra",
    "MlnbError",
    "ModelEvent",
    "ModelRecord",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Settings",
    "Unavailable",
    "VersionRecord",
    "VersionState",
    "__version__",
]

_LAZY = {
    "Engine": "mlnb.api",
    "Settings": "mlnb.config",
    "ModelEvent": "mlnb.records",
    "ModelRecord": "mlnb.records",
    "VersionRecord": "mlnb.records",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mlnb``: the ``%ml`` and ``%%ml`` magics."""
    from mlnb.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from mlnb.magics import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
