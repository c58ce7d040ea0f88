"""A schedule's job template filled for one run.

In every string of the template (not its keys), ``{{ NAME }}`` becomes the
run's value of NAME, and ``{{ NAME | FORMAT }}`` a time formatted with
``strftime`` in the schedule's time zone (``{{ run_time | %Y/%m/%d }}``):

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

from mlnb.errors import InvalidArgument

__all__ = ["PARAMETERS", "check_template", "fill_template"]

PARAMETERS = ("run_time", "last_success_time", "schedule", "job_id", "run_number")
_PARAMETER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*([^}]*?))?\s*\}\}")


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
    if name not in values:
        raise InvalidArgument(
            f"The job template's {found.group(0)!r} names no parameter: a template may use "
            f"{', '.join(PARAMETERS)}"
        )
    value = values[name]
    if isinstance(value, datetime):
        if form:
            return value.astimezone(zone).strftime(form)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if form:
        raise InvalidArgument(f"The job template's {found.group(0)!r} formats {name}, which is not a time")
    return str(value)
