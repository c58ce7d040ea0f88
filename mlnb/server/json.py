"""JSON in and out with orjson, with the request limits in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mlnb.errors import InvalidArgument, RequestTooLarge
from mlnb.server.schemas import check_body

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_INSTANCES = 100_000


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


async def read_json(request: Request) -> Any:
    """The request body as JSON; ``{}`` when empty.

    Raises:
        RequestTooLarge: Over ``MAX_BODY_BYTES`` (read no further than that).
        InvalidArgument: Not JSON (NaN and Infinity included).
    """
    return parse_json(await read_body(request))


async def read_body(request: Request) -> bytes:
    """The request body's bytes.

    Raises:
        RequestTooLarge: Over ``MAX_BODY_BYTES`` (read no further than that).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestTooLarge(f"The request body is {declared} bytes; the most allowed is {MAX_BODY_BYTES}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestTooLarge(f"The request body is over {MAX_BODY_BYTES} bytes, the most allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON; ``{}`` when blank.

    Raises:
        InvalidArgument: Not JSON (NaN and Infinity included).
    """
    if not raw.strip():
        return {}
    try:
        # orjson refuses NaN and Infinity (not JSON) and nesting deeper than
        # 1024, so neither can reach a model or exhaust the stack.
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidArgument(f"The request body is not valid JSON: {e}") from e


async def read_object(
    request: Request, schema: Mapping[str, str] | None = None, where: str = "body"
) -> dict[str, Any]:
    """``read_json`` for a resource body, which must be a JSON object whose
    fields have the types of ``schema`` (``mlnb.server.schemas``).

    Raises:
        RequestTooLarge, InvalidArgument: As ``read_json``, not an object, or
            a field of the wrong type (named as ``where.field``).
    """
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidArgument(f"The request body must be a JSON object, not a {type(body).__name__}")
    if schema is not None:
        check_body(body, schema, where)
    return body
