"""The ``%ml`` and ``%%ml`` magics: ``%load_ext mlnb`` in a notebook."""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%ml`` / ``%%ml`` in an IPython shell."""
    from mlnb.magics.ipython import MlMagics

    ipython.register_magics(MlMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Close the Engines the magics opened."""
    from mlnb.magics.ipython import close_engines

    close_engines()
