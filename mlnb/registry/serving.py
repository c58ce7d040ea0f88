"""How a version asks to be served: how many server worker processes keep it
loaded (ML Engine's manualScaling / autoScaling) and how its concurrent
requests are batched (an mlnb extension, ``batching``)."""

from __future__ import annotations

from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.records import VersionRecord

__all__ = ["check_batching", "check_scaling", "nodes_kept_loaded"]

# Beyond these a setting is a typo, not a wish: a batch of a million
# instances or a second of waiting per request helps no one.
_MAX_BATCH_SIZE = 100_000
_MAX_WAIT_MS = 1000.0


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidArgument(f"{what} must be a whole number, not {value!r}")
    try:
        number = int(value)  # the JSON of int64 fields may be a string
    except ValueError:
        raise InvalidArgument(f"{what} must be a whole number, not {value!r}") from None
    if number < 0:
        raise InvalidArgument(f"{what} must be 0 or more, not {number}")
    return number


def check_scaling(manual: dict[str, Any] | None, auto: dict[str, Any] | None) -> None:
    """Refuse scaling settings ML Engine would refuse.

    Raises:
        InvalidArgument: Both kinds given, an unknown field, or a count that
            is not a whole number of 0 or more.
    """
    if manual and auto:
        raise InvalidArgument("Give manualScaling or autoScaling, not both")
    for body, name, fields in ((manual, "manualScaling", {"nodes"}), (auto, "autoScaling", {"minNodes"})):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InvalidArgument(f"{name} must be an object such as {{{next(iter(fields))!r}: 1}}")
        unknown = set(body) - fields - {"maxNodes"}
        if unknown:
            raise InvalidArgument(f"{name} has unknown fields: {', '.join(sorted(unknown))}")
        for key in body:
            _count(body[key], f"{name}.{key}")


def nodes_kept_loaded(version: VersionRecord) -> int:
    """How many server worker processes keep the version loaded; 0 means it
    is loaded on its first request and may be unloaded when memory is short."""
    if version.manual_scaling:
        return int(version.manual_scaling.get("nodes") or 0)
    if version.auto_scaling:
        return int(version.auto_scaling.get("minNodes") or 0)
    return 0


def check_batching(batching: dict[str, Any] | None) -> None:
    """Refuse batching settings that are not sensible.

    Raises:
        InvalidArgument: Naming the field and its allowed range.
    """
    if batching is None:
        return
    if not isinstance(batching, dict):
        raise InvalidArgument('batching must be an object such as {"maxBatchSize": 64, "maxWaitMs": 2}')
    unknown = set(batching) - {"maxBatchSize", "maxWaitMs"}
    if unknown:
        raise InvalidArgument(
            f"batching has unknown fields: {', '.join(sorted(unknown))}; it takes maxBatchSize and maxWaitMs"
        )
    if "maxBatchSize" in batching:
        size = _count(batching["maxBatchSize"], "batching.maxBatchSize")
        if not 1 <= size <= _MAX_BATCH_SIZE:
            raise InvalidArgument(f"batching.maxBatchSize must be from 1 to {_MAX_BATCH_SIZE}, not {size}")
    if "maxWaitMs" in batching:
        wait = batching["maxWaitMs"]
        if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= _MAX_WAIT_MS:
            raise InvalidArgument(
                f"batching.maxWaitMs must be a number from 0 to {_MAX_WAIT_MS:g}, not {wait!r}"
            )
