"""Naming rules shared by every resource (models, versions, jobs), label
rules, parsing of resource names, and the check of mlnb's option objects."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["object_fields", "parse_resource", "validate_labels", "validate_name", "validate_version_ref"]

MAX_NAME = 128
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64


def validate_name(kind: str, name: object) -> str:
    """Check a model or version name and return it.

    The rules: letters, digits and underscores only, beginning with a letter,
    at most 128 characters.

    Raises:
        InvalidArgument: Saying which rule the name broke.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"A {kind} name is required")
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"The {kind} name {name[:20]}... is {len(name)} characters long; the most allowed is {MAX_NAME}"
        )
    if not name[0].isascii() or not name[0].isalpha():
        raise InvalidArgument(f"The {kind} name {name!r} must begin with a letter")
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "_"))})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidArgument(
            f"The {kind} name {name!r} may hold only letters, digits and underscores; it has {shown}"
        )
    return name


def object_fields(body: object, what: str, fields: set[str], shape: str) -> Mapping[str, Any]:
    """``body`` checked to be a JSON object of only ``fields``, as an
    mlnb option object is (``scheduling``, ``shadow``...); ``shape`` is
    an example the error shows.

    Raises:
        InvalidArgument: Not an object, or a field it does not take.
    """
    if not isinstance(body, Mapping):
        raise InvalidArgument(f"{what} must be an object: {shape}")
    unknown = set(body) - fields
    if unknown:
        raise InvalidArgument(f"{what} has unknown field(s): {', '.join(sorted(unknown))}")
    return body


def validate_version_ref(value: object) -> str:
    """A version name, or ``@ALIAS`` (mlnb's named pointer to a version),
    checked and returned.

    Raises:
        InvalidArgument: Saying which rule it broke.
    """
    if isinstance(value, str) and value.startswith("@"):
        validate_name("alias", value[1:])
        return value
    return validate_name("version", value)


_PROJECT = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def validate_project(project: object) -> str:
    """Check a project id and return it: a lowercase letter, then lowercase
    letters, digits, ``-`` and ``_``, 63 characters at most (every Google
    Cloud project id passes, and mlnb's own short names such as
    ``default``). A project is a folder and a key: nothing else gets near
    either.

    Raises:
        InvalidArgument: Naming the rule.
    """
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise InvalidArgument(
            f"The project {project!r} must begin with a lowercase letter and hold only lowercase "
            "letters, digits, '-' and '_' (63 characters at most)"
        )
    return project


def whole_number(value: object, name: str) -> int:
    """``value`` (a number, or its text as a query string carries it) as an
    int of 0 or more: offsets, page sizes, ports that a request names.

    Raises:
        InvalidArgument: Anything else, named.
    """
    text = str(value)
    # ASCII digits only: str.isdigit() passes "²", which int() refuses.
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise InvalidArgument(f"{name} must be a whole number of 0 or more, got {value!r}")
    return int(text)


_OPERATION = re.compile(r"[A-Za-z0-9_-]{1,300}")


def validate_operation_id(value: object) -> str:
    """Check an operation's id (``create_version_m_v1-1a2b3c``) and return it.

    Raises:
        InvalidArgument: Anything but letters, digits, ``_`` and ``-``, 300 at most.
    """
    if not isinstance(value, str) or not _OPERATION.fullmatch(value):
        raise InvalidArgument(
            f"The operation id {value!r} may hold only letters, digits, '_' and '-' (300 at most)"
        )
    return value


def validate_python_version(value: object, field: str = "pythonVersion") -> str | None:
    """A ``pythonVersion`` this mlnb can serve: its own Python (``3.11``,
    or ``3``), since jobs and versions run on the interpreter mlnb runs on.

    Raises:
        InvalidArgument: Another version, named with the one there is.
    """
    if value is None or value == "":
        return None
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if str(value) not in (here, str(sys.version_info.major)):
        raise InvalidArgument(
            f"{field} {value!r} cannot be served here: this mlnb runs Python {here}, and its jobs and "
            f"versions run on it; leave {field} out or give {here!r}",
            field=field,
        )
    return str(value)


def resource_leaf(kind: str, value: object, parent: str) -> str:
    """The name in ``value``: a bare name, or the full resource name under
    ``parent`` (``projects/p/models/m`` for a model of project ``p``).

    Raises:
        InvalidArgument: Any other path (``../../x``), or a bad name.
    """
    text = value if isinstance(value, str) else ""
    prefix = f"{parent}/{kind}s/"
    leaf = text[len(prefix) :] if text.startswith(prefix) else text
    if "/" in leaf:
        raise InvalidArgument(f"The {kind} name {text!r} is neither a name nor {prefix}NAME")
    return validate_name(kind, leaf if isinstance(value, str) else value)


def validate_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """Check labels as Google Cloud does: lowercase keys that begin with a
    letter, values of lowercase letters, digits, ``_`` and ``-``, 63
    characters each at most, 64 labels at most.

    Raises:
        InvalidArgument: Naming the label at fault.
    """
    if labels is not None and not isinstance(labels, Mapping):
        raise InvalidArgument(f"labels must be a map of strings, got {type(labels).__name__}")
    labels = dict(labels or {})
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(f"{len(labels)} labels given; the most allowed is {MAX_LABELS}")
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise InvalidArgument(
                f"Label key {key!r} must begin with a lowercase letter and hold only "
                "lowercase letters, digits, '_' and '-' (63 characters at most)"
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise InvalidArgument(
                f"Label {key!r} has value {value!r}; values hold only lowercase letters, "
                "digits, '_' and '-' (63 characters at most)"
            )
    return labels


def parse_resource(name: str, default_project: str) -> tuple[str, str, str | None]:
    """Split ``projects/p/models/m[/versions/v]``, or a bare model name, into
    (project, model, version).

    Raises:
        InvalidArgument: The name has another shape.
    """
    parts = name.split("/")
    if len(parts) == 1:
        return default_project, parts[0], None
    if len(parts) in (4, 6) and parts[0] == "projects" and parts[2] == "models":
        if len(parts) == 6 and parts[4] != "versions":
            raise InvalidArgument(f"Cannot parse resource name {name!r}")
        return parts[1], parts[3], parts[5] if len(parts) == 6 else None
    raise InvalidArgument(
        f"Cannot parse resource name {name!r}: expected a model name or "
        "projects/PROJECT/models/MODEL[/versions/VERSION]"
    )


def model_and_version(model: Any, version: Any) -> tuple[str | None, str | None]:
    """A batch prediction's ``modelName`` (``projects/p/models/m``) and
    ``versionName`` (``projects/p/models/m/versions/v``), or their short
    names, as the names ``(m, v)``.

    Raises:
        InvalidArgument: A name of neither shape.
    """
    if version:
        parts = str(version).split("/")
        if len(parts) >= 6 and parts[-2] == "versions" and parts[-4] == "models":
            return parts[-3], parts[-1]
        if len(parts) == 1 and model:
            return _short_model(model), parts[0]
        raise InvalidArgument(
            f"versionName {version!r} must be projects/PROJECT/models/MODEL/versions/VERSION"
        )
    return (_short_model(model) if model else None), None


def _short_model(model: Any) -> str:
    parts = str(model).split("/")
    if len(parts) == 1 or (len(parts) >= 4 and parts[-2] == "models"):
        return parts[-1]
    raise InvalidArgument(f"modelName {model!r} must be projects/PROJECT/models/MODEL")
