"""A shadow version against the versions that served: instance by instance
over its logged copies, how often the two agree, and where they do not."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_SHOWN", "compare_shadow", "same_prediction"]

MAX_SHOWN = 100  # disagreements listed at most (all are counted)


def same_prediction(a: Any, b: Any, rel: float = 1e-6) -> bool:
    """Two predictions alike: numbers within ``rel``, lists and objects
    element by element, anything else equal."""
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a == b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_prediction(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_prediction(a[k], b[k], rel) for k in a)
    return bool(a == b)


def compare_shadow(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of a shadow's logged copies (oldest first)."""
    instances = agreed = errors = 0
    shown: list[dict[str, Any]] = []
    for entry in entries:
        served = entry.get("served") or []
        if "error" in entry:
            errors += 1
            if len(shown) < MAX_SHOWN:
                shown.append(_row(entry, None, None, None, entry["error"]))
            continue
        for index, (mine, theirs) in enumerate(zip(entry.get("predictions") or [], served, strict=False)):
            instances += 1
            if same_prediction(mine, theirs):
                agreed += 1
            elif len(shown) < MAX_SHOWN:
                sent = entry.get("instances") or []
                shown.append(_row(entry, theirs, mine, sent[index] if index < len(sent) else None))
    return {
        "copies": len(entries),
        "instances": instances,
        "agreement": agreed / instances if instances else None,
        "errors": errors,
        "disagreements": shown,
    }


def _row(
    entry: dict[str, Any], served: Any, shadow: Any, instance: Any, error: str | None = None
) -> dict[str, Any]:
    row = {
        "time": entry.get("time"),
        "servedBy": entry.get("shadowOf"),
        "shadowVersion": entry.get("version"),
        "served": served,
        "shadow": shadow,
        "instance": instance,
    }
    if error is not None:
        row["error"] = error
    return row
