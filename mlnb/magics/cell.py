"""Reading a magic's line and cell body: ``$name`` substitution, flags
given as YAML keys of the body, and the bodies that carry a payload
(a trainer script, a ``trainingInput``, instances)."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from typing import Any

import click
import orjson
import yaml

from mlnb.cli.output import yaml_error_line
from mlnb.errors import InvalidArgument

# `$name` or `${name}`; `$$` is a literal dollar sign.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def substitute(text: str, namespace: Mapping[str, Any], *, quote: bool) -> str:
    """Replace ``$name`` with the notebook variable's value: strings and
    numbers as they print, lists and dicts as JSON (which YAML reads);
    ``quote`` shell-quotes each value for a magic line.

    Raises:
        InvalidArgument: An unknown variable, or one of another type.
    """

    def value_of(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        if name not in namespace:
            raise InvalidArgument(f"${name} is not a variable of the notebook")
        value = namespace[name]
        if isinstance(value, str | int | float | bool | os.PathLike) or value is None:
            text = str(value)
        elif isinstance(value, list | tuple | dict):
            text = json.dumps(value, default=str)
        else:
            raise InvalidArgument(
                f"${name} is a {type(value).__name__}: only strings, numbers, lists and dicts can be "
                "written into a magic (give a DataFrame or array by name with --instances)"
            )
        return shlex.quote(text) if quote else text

    return _VARIABLE.sub(value_of, text)


def split_line(line: str) -> list[str]:
    """The magic line's words, as a shell splits them.

    Raises:
        InvalidArgument: An unclosed quote.
    """
    try:
        return shlex.split(line)
    except ValueError as e:
        raise InvalidArgument(f"cannot read the magic line ({e}): {line}") from e


def option_words(
    command: click.Command, values: Mapping[str, Any], line_words: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """Turn body keys naming ``command``'s options into command-line words.

    Keys may be spelled ``job-dir``, ``job_dir`` or ``--job-dir``. Returns
    the words and the keys that name no option.

    Raises:
        InvalidArgument: A key also given on the line, or a value the
            option cannot take.
    """
    options: dict[str, click.Option] = {}
    for candidate in command.params:
        if isinstance(candidate, click.Option):
            for opt in candidate.opts:
                if opt.startswith("--"):
                    options[opt[2:]] = candidate
    given = {word.split("=", 1)[0] for word in line_words if word.startswith("-")}
    words: list[str] = []
    rest: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).lstrip("-").replace("_", "-")
        param = options.get(name)
        if param is None:
            rest[str(key)] = value
            continue
        if set(param.opts) & given:
            raise InvalidArgument(f"--{name} is given both on the magic line and in the cell body: keep one")
        words += _words_for(f"--{name}", param, value)
    return words, rest


def _words_for(flag: str, param: click.Option, value: Any) -> list[str]:
    if param.is_flag:
        if not isinstance(value, bool):
            raise InvalidArgument(f"{flag} in the cell body is a switch: give true or false")
        return [flag] if value else []
    if param.nargs == 2 and isinstance(value, dict):  # -p NAME VALUE, repeatable
        return [word for name, item in value.items() for word in (flag, str(name), _scalar(item))]
    if param.multiple and isinstance(value, list):
        return [word for item in value for word in (flag, _scalar(item))]
    if isinstance(value, list):  # comma-separated flags: --packages, --input-paths
        return [flag, ",".join(_scalar(item) for item in value)]
    if isinstance(value, dict):  # --labels
        return [flag, ",".join(f"{k}={_scalar(v)}" for k, v in value.items())]
    if value is None:
        return []
    return [flag, _scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def parse_instances(body: str) -> tuple[list[Any], dict[str, Any], str]:
    """Instances from a cell body, by gcloud's rule for ``--json-instances``:
    one JSON instance a line (``[5.1, 3.5, 1.4, 0.2]`` alone is one
    instance); several at once as a mapping whose ``instances`` key holds
    them (JSON or YAML; its other keys are flags), or a JSON or YAML list
    written over several lines. Returns the instances, those other keys,
    and how the body was read (for an error to say so).

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
                f"the cell body is neither JSON lines nor YAML ({yaml_error_line(e)}): "
                'give one JSON instance a line, or {"instances": [...]}'
            ) from None
    if isinstance(whole, list):
        return whole, {}, f"a list of {len(whole)} instances"
    if isinstance(whole, dict):
        flags = dict(whole)
        instances = flags.pop("instances", None)
        if instances is not None and not isinstance(instances, list):
            raise InvalidArgument("'instances' in the cell body must be a list")
        return instances or [], flags, f"the {len(instances or [])} instances of its 'instances' list"
    raise InvalidArgument(
        'the cell body must hold instances: one JSON instance a line, or {"instances": [...]} (JSON or YAML)'
    )


def instances_from(value: Any, name: str) -> list[Any]:
    """A notebook value as a list of instances: a DataFrame's rows (as
    lists), a Series' or an array's items, or a list as it is.

    Raises:
        InvalidArgument: Anything else.
    """
    if hasattr(value, "to_numpy") and hasattr(value, "columns"):  # pandas.DataFrame
        return value.to_numpy().tolist()  # type: ignore[no-any-return]
    if hasattr(value, "tolist"):  # numpy arrays, pandas Series
        items = value.tolist()
        return items if isinstance(items, list) else [items]
    if isinstance(value, list | tuple):
        return list(value)
    raise InvalidArgument(
        f"--instances {name} is a {type(value).__name__}: give a DataFrame, a Series, an array or a list"
    )
