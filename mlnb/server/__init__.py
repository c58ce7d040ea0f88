"""The REST server: ML Engine's v1 API as an ASGI app over the Engine."""

from __future__ import annotations

from mlnb.server.app import create_app

__all__ = ["create_app"]
