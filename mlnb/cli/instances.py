"""Instances typed as text (a notebook cell's body, the model browser's
box), read by gcloud's rule for ``--json-instances``, so that every face
reads the same text the same way."""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from mlnb.cli.output import yaml_error_line
from mlnb.errors import InvalidArgument

__all__ = ["parse_instances"]


def parse_instances(body: str, what: str = "the cell body") -> tuple[list[Any], dict[str, Any], str]:
    """Instances from a cell body, by gcloud's rule for ``--json-instances``:
    one JSON instance a line (``[5.1, 3.5, 1.4, 0.2]`` alone is one
    instance); several at once as a mapping whose ``instances`` key holds
    them (JSON or YAML; its other keys are flags), or a JSON or YAML list
    written over several lines. Returns the instances, those other keys,
    and how the body was read (for an error to say so); errors call the
    body ``what``.

    Raises:
        InvalidArgument: The body holds no instances, in one line.
    """
    text = body.strip()
    if not text:
        return [], {}, "empty"
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        whole = None
    if not isinstance(whole, dict):
        try:
            instances = [orjson.loads(line) for line in lines]
        except orjson.JSONDecodeError:
            pass
        else:
            count = f"{len(instances)} instance{'s' if len(instances) != 1 else ''}"
            return instances, {}, f"{count}, one JSON instance a line"
        try:
            whole = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidArgument(
                f"{what} is neither JSON lines nor YAML ({yaml_error_line(e)}): "
                'give one JSON instance a line, or {"instances": [...]}'
            ) from None
    if isinstance(whole, list):
        return whole, {}, f"a list of {len(whole)} instances"
    if isinstance(whole, dict):
        flags = dict(whole)
        instances = flags.pop("instances", None)
        if instances is not None and not isinstance(instances, list):
            raise InvalidArgument(f"'instances' in {what} must be a list")
        return instances or [], flags, f"the {len(instances or [])} instances of its 'instances' list"
    raise InvalidArgument(
        f'{what} must hold instances: one JSON instance a line, or {{"instances": [...]}} (JSON or YAML)'
    )
