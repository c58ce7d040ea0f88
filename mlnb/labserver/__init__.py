"""The jupyter_server extension behind the JupyterLab sidebar: ``/mlnb/api/...``
under Jupyter's own authentication and XSRF rules, a thin face over the
Engine."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mlnb.labserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from mlnb.labserver.handlers import setup_handlers

    setup_handlers(serverapp)
