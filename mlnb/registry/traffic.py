"""A model's traffic, as a user writes it and as it is kept: a split of its
requests over versions (``{"v1": 90, "v2": 10}``, whole percents that sum to
100), and a shadow version that gets a copy of a share of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlnb.errors import InvalidArgument
from mlnb.naming import object_fields, validate_name

__all__ = ["parse_traffic_split", "routing_field_from_api", "shadow_from_api", "traffic_split_from_api"]


def traffic_split_from_api(split: Any) -> dict[str, int]:
    """``{"v1": 90, "v2": 10}`` checked: version names, whole percents from 0
    to 100 that sum to 100; versions at 0 are left out. ``{}`` is no split.

    Raises:
        InvalidArgument: A bad name, share or sum, named.
    """
    if split is None:
        return {}
    if not isinstance(split, Mapping):
        raise InvalidArgument('trafficSplit must be an object of percents: {"v1": 90, "v2": 10}')
    if not split:
        return {}
    shares: dict[str, int] = {}
    for name, share in split.items():
        validate_name("version", name)
        number = _percent(share, f"trafficSplit.{name}")
        if number:
            shares[name] = number
    if sum(shares.values()) != 100:
        shown = ", ".join(f"{k}={v}" for k, v in split.items())
        raise InvalidArgument(
            f"trafficSplit must add up to 100 percent; {shown} adds up to {sum(shares.values())}"
        )
    return shares


def parse_traffic_split(text: str) -> dict[str, int]:
    """``v1=90,v2=10`` (gcloud's spelling of a map) to ``{"v1": 90, "v2": 10}``.

    Raises:
        InvalidArgument: An entry without ``=``.
    """
    split: dict[str, Any] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, share = entry.partition("=")
        if not sep:
            raise InvalidArgument(f"--traffic-split takes VERSION=PERCENT,...; {entry!r} has no '='")
        split[name.strip()] = share.strip()
    return traffic_split_from_api(split)


def shadow_from_api(shadow: Any) -> dict[str, Any] | None:
    """``{"version": "v3", "percent": 10}`` checked; ``None`` or ``{}``: no shadow.

    Raises:
        InvalidArgument: No version, or a bad percent.
    """
    if not shadow:
        return None
    shadow = object_fields(shadow, "shadow", {"version", "percent"}, '{"version": "v3", "percent": 10}')
    version = validate_name("version", shadow.get("version"))
    percent = _percent(shadow.get("percent", 100), "shadow.percent")
    if percent == 0:
        raise InvalidArgument("shadow.percent must be from 1 to 100; remove the shadow to stop it")
    return {"version": version, "percent": percent}


def routing_field_from_api(field: Any) -> str | None:
    """The body field that routes a model's requests, checked; ``None`` or
    ``""``: none.

    Raises:
        InvalidArgument: Not a name.
    """
    if field in (None, ""):
        return None
    if not isinstance(field, str) or not field.isidentifier() or len(field) > 128:
        raise InvalidArgument(f"routingKeyField {field!r} must be a name: letters, digits, _")
    return field


def _percent(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise InvalidArgument(f"{what} must be a whole percent from 0 to 100, not {value!r}")
    return value
