"""Google's JSON error body for every error the server answers with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mlnb.errors import MlnbError
from mlnb.server.json import json_response


def error_response(status: int, message: str, canonical: str) -> Response:
    """``{"error": {"code": ..., "message": ..., "status": ...}}``."""
    return json_response({"error": {"code": status, "message": message, "status": canonical}}, status)


async def mlnb_error(_request: Request, exc: Exception) -> Response:
    """The one translation of mlnb's errors into HTTP answers."""
    if not isinstance(exc, MlnbError):
        raise exc
    return error_response(exc.http, exc.message, exc.status)
