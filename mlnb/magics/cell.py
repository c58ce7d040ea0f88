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
