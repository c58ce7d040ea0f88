"""JSON in and out with orjson, with the request limits in one place."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mlnb.errors import InvalidArgument

MAX_BODY_BYTES = 10 * 1024 * 1024


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def read_json(request: Request) -> Any:
    """The request body as JSON; ``{}`` when empty.

    Raises:
        InvalidArgument: Too large, or not JSON (NaN and Infinity included).
    """
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidArgument(f"The request body is {len(raw)} bytes; the most allowed is {MAX_BODY_BYTES}")
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidArgument(f"The request body is not valid JSON: {e}") from e
