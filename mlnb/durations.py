"""Durations as users and the API write them: ``7200s`` (the API's
Duration), ``10m``, ``1h``, ``500ms``, or bare seconds."""

from __future__ import annotations

import re

from mlnb.errors import InvalidArgument

__all__ = ["format_duration", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str | float) -> float:
    """Seconds of ``10m``, ``30s``, ``7200s``, ``1h``, ``1d``, ``500ms`` or ``90``.

    Raises:
        InvalidArgument: Not a duration.
    """
    if isinstance(text, int | float) and not isinstance(text, bool) and text >= 0:
        return float(text)
    found = _DURATION.fullmatch(str(text).strip())
    if not found:
        raise InvalidArgument(f"{text!r} is not a duration: write 30s, 10m, 1h, 1d or 500ms")
    return float(found.group(1)) * _UNITS[found.group(2)]


def format_duration(seconds: float) -> str:
    """The API's Duration spelling: ``7200s``, ``0.5s``."""
    return f"{seconds:g}s"
