"""Templates: a schedule's job template filled for one run, and a
pipeline's steps filled from the steps before.

In every string of a template (not its keys), ``{{ NAME }}`` becomes the
value of NAME (``{{ a.b.c }}`` reaches into nested objects), and ``{{
NAME | FORMAT }}`` a time formatted with ``strftime`` in the given time
zone (``{{ run_time | %Y/%m/%d }}``). A schedule's run has:

- ``run_time``: the time the run fell due (RFC 3339, UTC);
- ``last_success_time``: the due time of the schedule's latest run whose
  job succeeded, else its start time, else its creation time (so that a
  batch job predicts "all data collected since the last job");
- ``schedule``, ``job_id``, ``run_number`` (1 for the first run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from mlnb.errors import InvalidArgument

__all__ = ["PARAMETERS", "check_template", "fill_template"]

PARAMETERS = ("run_time", "last_success_time", "schedule", "job_id", "run_number")
_PARAMETER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*(?:\|\s*([^}]*?))?\s*\}\}")


def fill_template(template: Any, values: Mapping[str, Any], zone: ZoneInfo) -> Any:
    """``template`` with every parameter filled from ``values``.

    Raises:
        InvalidArgument: A parameter mlnb does not know, or a format given
            to one that is not a time.
    """
    if isinstance(template, str):
        return _PARAMETER.sub(lambda found: _value(found, values, zone), template)
    if isinstance(template, Mapping):
        return {key: fill_template(value, values, zone) for key, value in template.items()}
    if isinstance(template, list):
        return [fill_template(value, values, zone) for value in template]
    return template


def check_template(template: Any, zone: ZoneInfo) -> None:
    """Fill ``template`` with sample values, so that a bad parameter is
    refused when the schedule is made, not when it first runs.

    Raises:
        InvalidArgument: As ``fill_template``.
    """
    sample = datetime(2026, 1, 1, tzinfo=UTC)
    values = {
        "run_time": sample,
        "last_success_time": sample,
        "schedule": "s",
        "job_id": "j",
        "run_number": 1,
    }
    fill_template(template, values, zone)


def _value(found: re.Match[str], values: Mapping[str, Any], zone: ZoneInfo) -> str:
    name, form = found.group(1), found.group(2)
    value: Any = values
    for part in name.split("."):  # steps.train.jobDir: into nested objects
        if not isinstance(value, Mapping) or part not in value:
            raise InvalidArgument(
                f"The template's {found.group(0)!r} names no value: it may use {', '.join(_names(values))}"
            )
        value = value[part]
    if isinstance(value, datetime):
        if form:
            return value.astimezone(zone).strftime(form)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if form:
        raise InvalidArgument(f"The template's {found.group(0)!r} formats {name}, which is not a time")
    if isinstance(value, bool):
        return "true" if value else "false"
    return (
        value
        if isinstance(value, str)
        else orjson.dumps(value).decode()
        if isinstance(value, dict | list)
        else str(value)
    )


def _names(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The names a template may use: nested objects' fields, dotted."""
    names = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            names.extend(_names(value, f"{prefix}{key}."))
        else:
            names.append(f"{prefix}{key}")
    return names
