"""pageSize/pageToken paging of list calls (the filter language is
``mlnb.listing``'s, shared with the CLI)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from starlette.requests import Request

from mlnb.errors import InvalidArgument

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page(request: Request, items: Sequence[T]) -> tuple[Sequence[T], str | None]:
    """The page of ``items`` that ``pageSize`` and ``pageToken`` ask for, and
    the token of the next page (``None`` on the last).

    Raises:
        InvalidArgument: A bad page size or token.
    """
    try:
        size = int(request.query_params.get("pageSize") or DEFAULT_PAGE_SIZE)
    except ValueError as e:
        raise InvalidArgument("pageSize must be a whole number") from e
    if size < 0:
        raise InvalidArgument(f"pageSize must be 0 (the default size) or more, got {size}")
    if not 0 < size <= MAX_PAGE_SIZE:
        size = DEFAULT_PAGE_SIZE if size == 0 else MAX_PAGE_SIZE
    start = _offset(request.query_params.get("pageToken"))
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        offset = -1
    if offset < 0:
        raise InvalidArgument(f"pageToken {token!r} is not one this server gave")
    return offset
