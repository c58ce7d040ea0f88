"""ML Engine's rules for prediction instances, checked once for every
framework, with errors that name the instance index and the field.

- ``instances`` is a non-empty list; each instance is a JSON object of named
  inputs, or a bare value or list for a single-input model (all instances
  alike);
- values are strings, numbers, booleans or lists; lists hold one type; no
  embedded objects, except ``{"b64": "..."}`` for binary data in inputs whose
  name ends in ``_bytes`` (or as a whole bare instance);
- the instance-key pattern ``{"key": 1, "values": [...]}`` passes the key
  through to the prediction.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["DecodedInstances", "InstanceError", "decode_each", "decode_instances"]

_SCALARS = (str, int, float, bool)
_NUMBERS = frozenset({int, float})
_ONE_TYPE = (frozenset({str}), frozenset({bool}))


class InstanceError(InvalidArgument):
    """An instance breaks a rule.

    Attributes:
        index: The instance's position in the request.
        field: The named input at fault, or ``None`` for a bare instance.
    """

    def __init__(self, message: str, index: int, field: str | None = None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


# Reads a request's instances again, from its body (see DecodedInstances).
Reread = Callable[[], list[Any]]


class DecodedInstances:
    """Instances ready for a Predictor, and the keys to put back.

    A numeric request checked with a ``reread`` (a server, which keeps its
    body's bytes) keeps only its array: the lists its body parsed into are
    freed at once, and parsed again from the body if a predictor that takes
    no array, the prediction log or a shadow asks for ``instances``. Kept
    while the request waited for its batch, sixteen requests' lists were
    what the server's allocator and collector worked through: freeing them
    took the 100-instance throughput at concurrency 16 from 0.81 to 0.90
    of the bare endpoint's, side by side.

    Attributes:
        instances: One entry per instance, binary inputs decoded to bytes.
        keys: The key of each instance when they carry one, else ``None``.
        key_field: The field the keys came from, and go back into.
        sent: The instances as the request sent them, for the prediction
            log, when decoding changed them; else ``None``.
        array: The instances as one numeric numpy array, when they are
            lists of numbers and the check built it: a predictor that takes
            arrays (``accepts_arrays``) is handed it, saving a second
            conversion.
    """

    __slots__ = ("_count", "_held", "_reread", "array", "key_field", "keys", "sent")

    def __init__(
        self,
        instances: list[Any] | None,
        keys: list[Any] | None,
        key_field: str = "key",
        sent: list[Any] | None = None,
        array: Any = None,
        *,
        reread: Reread | None = None,
        count: int = 0,
    ) -> None:
        """``instances``, or ``None`` with the ``reread`` that gives them
        and their ``count`` (both unused when ``instances`` is given)."""
        if instances is None and reread is None:
            raise ValueError("DecodedInstances needs its instances or a way to read them again")
        self._held = instances
        self._reread = reread
        self._count = len(instances) if instances is not None else count
        self.keys = keys
        self.key_field = key_field
        self.sent = sent
        self.array = array

    @property
    def instances(self) -> list[Any]:
        if self._held is None:
            self._held = self._reread() if self._reread is not None else []  # one is given: see __init__
        return self._held

    def __len__(self) -> int:
        return self._count

    def __add__(self, other: DecodedInstances) -> DecodedInstances:
        """Two requests' instances as one batch (see ``joined``)."""
        return DecodedInstances.joined([self, other])

    @classmethod
    def joined(cls, parts: Sequence[DecodedInstances]) -> DecodedInstances:
        """Several requests' instances as one batch, each keeping its keys,
        copied once (adding them two by two copies the growing batch again
        at each step: 240 µs for ten requests of 100 rows, against 18).
        When a part's lists are to be read again, so are the batch's.

        Raises:
            InvalidArgument: One carries keys and another not (or in
                another field): they cannot share a model call.
        """
        first = parts[0]
        if any((p.keys is None) != (first.keys is None) or p.key_field != first.key_field for p in parts):
            raise InvalidArgument("Instances with keys and instances without cannot share a batch")
        keys = None if first.keys is None else [k for p in parts for k in p.keys or ()]
        sent = None if all(p.sent is None for p in parts) else [x for p in parts for x in p.as_sent()]
        lazy = any(p._held is None for p in parts)
        return cls(
            None if lazy else [x for p in parts for x in p.instances],
            keys,
            first.key_field,
            sent,
            _joined(parts),
            reread=lambda: [x for p in parts for x in p.instances],
            count=sum(map(len, parts)),
        )

    def as_sent(self) -> list[Any]:
        """The instances as they were sent."""
        return self.instances if self.sent is None else self.sent


def decode_instances(
    instances: Any,
    key_field: str | None = "key",
    *,
    may_hold_booleans: bool = True,
    numbers_only: bool = False,
    reread: Reread | None = None,
) -> DecodedInstances:
    """Check ``instances`` against ML Engine's rules and decode binary inputs.

    Args:
        instances: The ``instances`` list of a predict request.
        key_field: Name of the field that carries an instance key, passed
            through to the prediction; ``None`` turns key handling off.
        may_hold_booleans: ``False`` when the caller knows no instance
            holds a boolean (a request whose JSON text has no ``true`` or
            ``false``): lists of numbers are then checked by numpy building
            their array, not value by value.
        numbers_only: ``True`` when the caller knows the instances hold
            nothing but numbers and lists (a request whose JSON text has no
            string but its ``"instances"`` key, and no ``true``, ``false``
            or ``null``): a float among the first instance's values then
            names the array's type, which numpy need not infer (40 against
            60 µs for 100 rows of 20).
        reread: Reads ``instances`` again (from a request's body): when
            they make one numeric array, the result holds only it, and the
            caller drops its own reference to the lists (``DecodedInstances``).

    Raises:
        InvalidArgument: Naming the instance index and field at fault.
    """
    if not isinstance(instances, list):
        raise InvalidArgument(f"'instances' must be a JSON list, got {_json_type(instances)}")
    if not instances:
        raise InvalidArgument("'instances' is empty: send at least one instance")
    if not may_hold_booleans:
        numeric = _numeric(instances, numbers_only, reread)
        if numeric is not None:
            return numeric
    if _plainly_valid(instances):
        return DecodedInstances(instances, None)  # as sent
    named = _is_named(instances[0])
    decoded: list[Any] = []
    keys: list[Any] = []
    for index, instance in enumerate(instances):
        if _is_named(instance) != named:
            raise InstanceError(
                f"Instance {index} is {_describe(instance)} but instance 0 is "
                f"{_describe(instances[0])}: instances must all be JSON objects of "
                "named inputs, or all bare values",
                index,
            )
        if named:
            value, key = _decode_named(instance, index, key_field)
            keys.append(key)
        else:
            value = _decode_value(instance, index, None, binary=True)
        decoded.append(value)
    if named and key_field is not None:
        has_key = [key is not _NO_KEY for key in keys]
        if any(has_key):
            if not all(has_key):
                missing = has_key.index(False)
                raise InstanceError(
                    f"Instance {missing} has no {key_field!r} field, but instance "
                    f"{has_key.index(True)} has one: give every instance a key or none",
                    missing,
                    key_field,
                )
            return DecodedInstances(decoded, keys, key_field, instances)
    return DecodedInstances(decoded, None, sent=instances)


_NO_KEY = object()


def decode_each(
    instances: Any, key_field: str | None = "key"
) -> tuple[DecodedInstances, list[int], list[InstanceError]]:
    """Check each instance on its own: the good ones decoded (with their
    positions in the request), and one error per bad one, so that one bad
    row does not cost the whole batch.

    Raises:
        InvalidArgument: ``instances`` is not a non-empty list.
    """
    if not isinstance(instances, list) or not instances:
        decode_instances(instances, key_field)  # raises the batch-level error
    good: list[Any] = []
    keys: list[Any] = []
    positions: list[int] = []
    errors: list[InstanceError] = []
    named: bool | None = None
    for index, instance in enumerate(instances):
        try:
            if named is not None and _is_named(instance) != named:
                raise InstanceError(
                    f"Instance {index} is {_describe(instance)} but the instances before it are not", index
                )
            one = decode_instances([instance], key_field)
        except InstanceError as e:
            errors.append(
                InstanceError(e.message.replace("Instance 0", f"Instance {index}", 1), index, e.field)
            )
            continue
        named = _is_named(instance)
        good.extend(one.instances)
        positions.append(index)
        if one.keys is not None:
            keys.extend(one.keys)
    with_keys = keys if keys and len(keys) == len(good) else None
    return DecodedInstances(good, with_keys, key_field or "key"), positions, errors


def _numeric(instances: list[Any], numbers_only: bool, reread: Reread | None) -> DecodedInstances | None:
    """The instances as their numeric array, when they make one: with the
    lists as sent, or (given ``reread``) without them."""
    array = _numeric_array(instances, numbers_only)
    if array is None:
        return None
    if reread is not None:
        return DecodedInstances(None, None, array=array, reread=reread, count=len(instances))
    return DecodedInstances(instances, None, array=array)  # as sent


def _numeric_array(instances: list[Any], numbers_only: bool = False) -> Any:
    """The instances as one numpy array of numbers when they are lists that
    hold only numbers (at any depth, one shape), else ``None``. Without
    booleans (which numpy would take as numbers) that is exactly what the
    value-by-value check passes, at C speed."""
    if frozenset(map(type, instances)) != {list}:
        return None
    import numpy as np

    if numbers_only and any(type(value) is float for value in instances[0]):
        # Numbers and lists only, one of them a float: numpy would infer
        # float64; said, it skips the inference. Anything else it cannot
        # take as a float (an empty object, a ragged row) fails as there.
        rows, width = len(instances), len(instances[0])
        if len(set(map(len, instances))) == 1:
            # Rows of one width: read value by value into a flat array, a
            # third faster than numpy finding the nested shape (57 against
            # 87 µs for 100 rows of 20); a row of lists or an object is
            # left to numpy below.
            try:
                flat = np.fromiter(chain.from_iterable(instances), np.float64, count=rows * width)
            except (ValueError, TypeError):
                pass
            else:
                return flat.reshape(rows, width)
        try:
            return np.asarray(instances, dtype=np.float64)
        except (ValueError, TypeError):
            return None
    try:
        array = np.asarray(instances)
    except ValueError:  # ragged, or lists beside numbers
        return None
    return array if array.dtype.kind in "if" else None


def _joined(parts: Sequence[DecodedInstances]) -> Any:
    """The requests' arrays as one, when each has one, all of one row shape."""
    arrays = [p.array for p in parts]
    if any(a is None for a in arrays) or len({a.shape[1:] for a in arrays}) != 1:
        return None
    import numpy as np

    return np.concatenate(arrays)


def _plainly_valid(instances: list[Any]) -> bool:
    """The common batch, checked at C speed: bare scalars of one kind, or flat
    lists whose elements are all numbers (or all strings, or all booleans).
    Anything else takes the full, per-instance check."""
    row_types = frozenset(map(type, instances))
    if row_types == {list}:
        element_types = frozenset(map(type, chain.from_iterable(instances)))
        return bool(element_types) and (element_types <= _NUMBERS or element_types in _ONE_TYPE)
    return row_types <= _NUMBERS or row_types in _ONE_TYPE


def _is_named(instance: Any) -> bool:
    return isinstance(instance, dict) and not _is_b64(instance)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _decode_named(instance: dict[str, Any], index: int, key_field: str | None) -> tuple[Any, Any]:
    if not instance:
        raise InstanceError(f"Instance {index} is an empty JSON object", index)
    key: Any = _NO_KEY
    fields = {}
    for name, value in instance.items():
        if name == key_field:
            if not isinstance(value, _SCALARS):
                raise InstanceError(
                    f"Instance {index}, field {name!r}: a key must be a string or a number", index, name
                )
            key = value
            continue
        fields[name] = _decode_value(value, index, name, binary=name.endswith("_bytes"))
    if key is not _NO_KEY and len(fields) == 1:
        # {"key": 1, "values": [...]}: the single remaining input is the instance.
        (only,) = fields.values()
        return only, key
    if not fields:
        raise InstanceError(
            f"Instance {index} holds only its key {key_field!r} and no input", index, key_field
        )
    return fields, key


def _decode_value(value: Any, index: int, field: str | None, binary: bool) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        _check_list(value, index, field)
        if binary and value and _is_b64(value[0]):
            return [_decode_value(item, index, field, binary) for item in value]
        return value
    where = _where(index, field)
    if value is None:
        raise InstanceError(f"{where}: null values are not allowed", index, field)
    if _is_b64(value):
        if not binary:
            raise InstanceError(
                f'{where} holds {{"b64": ...}}, but only inputs whose name ends in '
                "'_bytes' take binary data: rename the input, or send a plain string",
                index,
                field,
            )
        return _b64decode(value["b64"], index, field)
    if isinstance(value, dict):
        raise InstanceError(
            f'{where}: embedded JSON objects are not allowed (only {{"b64": ...}} for binary data)',
            index,
            field,
        )
    raise InstanceError(f"{where}: {_json_type(value)} is not a JSON value", index, field)


def _check_list(values: list[Any], index: int, field: str | None) -> None:
    first = _category(values[0]) if values else None
    for position, item in enumerate(values):
        category = _category(item)
        if category != first:
            raise InstanceError(
                f"{_where(index, field)}: a list must hold one type, but element "
                f"{position} is {category} and element 0 is {first}",
                index,
                field,
            )
        if category == "a list":
            _check_list(item, index, field)
        elif category in ("null", "an object"):
            raise InstanceError(
                f"{_where(index, field)}: element {position} is {category}, which a list may not hold",
                index,
                field,
            )


def _category(value: Any) -> str:
    kind = type(value)
    if kind is float or kind is int:
        return "a number"
    if kind is str:
        return "a string"
    if kind is list:
        return "a list"
    if kind is bool:
        return "a boolean"
    if value is None:
        return "null"
    if _is_b64(value):
        return "binary"
    return "an object"


def _b64decode(data: Any, index: int, field: str | None) -> bytes:
    where = _where(index, field)
    if not isinstance(data, str):
        raise InstanceError(f"{where}: the 'b64' value must be a base64 string", index, field)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InstanceError(f"{where}: the 'b64' value is not valid base64 ({e})", index, field) from e


def _where(index: int, field: str | None) -> str:
    return f"Instance {index}" if field is None else f"Instance {index}, field {field!r}"


def _describe(instance: Any) -> str:
    return "a JSON object" if _is_named(instance) else "a bare value"


def _json_type(value: Any) -> str:
    return {dict: "an object", str: "a string", type(None): "null"}.get(type(value), type(value).__name__)
