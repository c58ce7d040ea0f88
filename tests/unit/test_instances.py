"""Every instance-format rule, with the error it gives."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mlnb.errors import InvalidArgument
from mlnb.prediction import DecodedInstances, decode_instances


def test_bare_lists_pass_unchanged() -> None:
    batch = decode_instances([[1, 2.5], [3, 4]])
    assert batch.instances == [[1, 2.5], [3, 4]]
    assert batch.keys is None


def test_named_inputs_pass() -> None:
    batch = decode_instances([{"age": 30, "city": "Oslo"}, {"age": 41, "city": "Lima"}])
    assert batch.instances[1] == {"age": 41, "city": "Lima"}


def test_b64_decoded_for_bytes_inputs() -> None:
    data = base64.b64encode(b"\x00\xffpng").decode()
    batch = decode_instances([{"image_bytes": {"b64": data}, "size": 3}])
    assert batch.instances == [{"image_bytes": b"\x00\xffpng", "size": 3}]


def test_bare_b64_instance_is_binary() -> None:
    batch = decode_instances([{"b64": base64.b64encode(b"abc").decode()}])
    assert batch.instances == [b"abc"]


def test_list_of_b64_in_bytes_input() -> None:
    item = {"b64": base64.b64encode(b"z").decode()}
    batch = decode_instances([{"images_bytes": [item, item]}])
    assert batch.instances == [{"images_bytes": [b"z", b"z"]}]


def test_key_is_passed_through_and_single_input_unwrapped() -> None:
    batch = decode_instances([{"key": 1, "values": [1.0, 2.0]}, {"key": "b", "values": [3.0, 4.0]}])
    assert batch.instances == [[1.0, 2.0], [3.0, 4.0]]
    assert batch.keys == [1, "b"]


def test_key_with_several_inputs_keeps_the_object() -> None:
    batch = decode_instances([{"key": 7, "a": 1, "b": 2}])
    assert batch.instances == [{"a": 1, "b": 2}]
    assert batch.keys == [7]


def test_key_handling_can_be_turned_off() -> None:
    batch = decode_instances([{"key": 7, "a": 1}], key_field=None)
    assert batch.instances == [{"key": 7, "a": 1}]
    assert batch.keys is None


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ({"a": 1}, "'instances' must be a JSON list, got an object"),
        ("text", "'instances' must be a JSON list, got a string"),
        ([], "'instances' is empty"),
        ([[1, 2], {"a": 1}], "Instance 1 is a JSON object but instance 0 is a bare value"),
        ([{"a": 1}, [1, 2]], "Instance 1 is a bare value but instance 0 is a JSON object"),
        ([None], "Instance 0: null values are not allowed"),
        ([{"a": None}], "Instance 0, field 'a': null values are not allowed"),
        ([{"a": 1}, {"a": {"nested": 1}}], "Instance 1, field 'a': embedded JSON objects are not allowed"),
        (
            [{"image": {"b64": "AAAA"}}],
            "Instance 0, field 'image' holds {\"b64\": ...}, but only inputs whose name ends in '_bytes'",
        ),
        (
            [{"x_bytes": {"b64": "not base64!"}}],
            "Instance 0, field 'x_bytes': the 'b64' value is not valid base64",
        ),
        ([{"x_bytes": {"b64": 12}}], "the 'b64' value must be a base64 string"),
        (
            [[1, "a"]],
            "Instance 0: a list must hold one type, but element 1 is a string and element 0 is a number",
        ),
        ([[[1, 2], [3, "x"]]], "element 1 is a string and element 0 is a number"),
        ([[1, True]], "element 1 is a boolean and element 0 is a number"),
        ([[[1], 2]], "element 1 is a number and element 0 is a list"),
        ([[{"a": 1}]], "element 0 is an object, which a list may not hold"),
        ([{}], "Instance 0 is an empty JSON object"),
        ([{"key": 1}], "Instance 0 holds only its key 'key' and no input"),
        ([{"key": [1], "v": 2}], "Instance 0, field 'key': a key must be a string or a number"),
        ([{"key": 1, "v": 2}, {"v": 3}], "Instance 1 has no 'key' field, but instance 0 has one"),
    ],
)
def test_bad_instances_name_index_and_field(instances: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        decode_instances(instances)
    assert message in str(info.value)
    if "boolean" not in message:  # the bulk check refuses the same, in the same words
        with pytest.raises(InvalidArgument) as bulk:
            decode_instances(instances, may_hold_booleans=False)
        assert str(bulk.value) == str(info.value)


@pytest.mark.parametrize(
    "instances",
    [[[1, 2.5], [3, 4]], [[[1, 2], [3, 4]]], [[1, 2**70]], [[], []]],
)
def test_bulk_check_passes_what_the_value_check_passes(instances: Any) -> None:
    bulk = decode_instances(instances, may_hold_booleans=False)
    assert bulk.instances == decode_instances(instances).instances == instances
    if bulk.array is not None:  # 2**70 has no numpy number: checked value by value
        assert bulk.array.tolist() == instances


def test_bulk_check_hands_an_array_to_a_model_that_takes_one() -> None:
    from mlnb.prediction import predict_decoded

    class Takes:
        accepts_arrays = True

        def predict(self, instances: Any, **kwargs: Any) -> Any:
            return [type(instances).__name__] * len(instances)

    class Lists(Takes):
        accepts_arrays = False

    joined = decode_instances([[1, 2]], may_hold_booleans=False) + decode_instances(
        [[3, 4], [5, 6]], may_hold_booleans=False
    )
    assert joined.array.tolist() == [[1, 2], [3, 4], [5, 6]] and joined.instances == joined.array.tolist()
    assert predict_decoded(Takes(), joined) == ["ndarray"] * 3
    assert predict_decoded(Lists(), joined) == ["list"] * 3
    # One request without an array (checked value by value): the batch has none.
    mixed = joined + decode_instances([[7, 8]])
    assert mixed.array is None and predict_decoded(Takes(), mixed) == ["list"] * 4


def test_each_instance_checked_on_its_own() -> None:
    from mlnb.prediction import decode_each

    batch, positions, errors = decode_each([[1, 2], [1, "x"], [3, 4], None, {"a": 1}])
    assert batch.instances == [[1, 2], [3, 4]] and positions == [0, 2]
    assert [(e.index, e.field) for e in errors] == [(1, None), (3, None), (4, None)]
    assert errors[0].message.startswith("Instance 1: a list must hold one type")
    assert errors[1].message == "Instance 3: null values are not allowed"
    assert "Instance 4 is a JSON object" in errors[2].message


def test_errors_carry_index_and_field() -> None:
    from mlnb.prediction import InstanceError

    with pytest.raises(InstanceError) as info:
        decode_instances([{"a": 1}, {"a": None}])
    assert (info.value.index, info.value.field) == (1, "a")


def test_many_requests_join_at_once_keeping_their_keys_in_order() -> None:
    from mlnb.errors import InvalidArgument

    parts = [decode_instances([[n, n + 1], [n + 2, n + 3]], may_hold_booleans=False) for n in range(0, 40, 4)]
    joined = DecodedInstances.joined(parts)
    assert joined.array.shape == (20, 2) and joined.array[:, 0].tolist() == list(range(0, 40, 2))
    assert joined.instances == joined.array.tolist() and joined.keys is None
    keyed = [decode_instances([{"key": k, "values": [k]}]) for k in ("a", "b", "c")]
    assert DecodedInstances.joined(keyed).keys == ["a", "b", "c"]
    with pytest.raises(InvalidArgument, match="with keys and instances without"):
        DecodedInstances.joined([*keyed, parts[0]])
    # Arrays of other row shapes: no array for the batch, the lists still join.
    wide = decode_instances([[1, 2, 3]], may_hold_booleans=False)
    assert DecodedInstances.joined([parts[0], wide]).array is None


@pytest.mark.parametrize(
    "instances",
    [
        [[1.5, 2], [3, 4]],
        [[1, 2], [3, 4.5]],  # the float not in the first row: numpy infers it
        [[1, 2], [3, 4]],
        [[1.5, {}]],
        [[1.5, 2], [3]],
        [[[1.5, 2]], [[3, 4]]],
        [[1.5, 2**64 - 1]],  # the largest integer orjson parses as one (larger ones are floats)
        [[1.5, 2], [3, [4]]],  # rows of one width, one of them holding a list
        [[1.5, [2, 3]], [4, [5, 6]]],
        [[1.5, 2]] * 100,
    ],
)
def test_a_body_of_numbers_only_gives_the_array_numpy_would_infer(instances: Any) -> None:
    from mlnb.prediction.instances import _numeric_array

    inferred, named = _numeric_array(instances), _numeric_array(instances, numbers_only=True)
    assert (inferred is None) == (named is None)
    if inferred is not None:
        assert named.dtype == inferred.dtype and named.tolist() == inferred.tolist()


def test_numbers_checked_with_a_reread_are_held_as_their_array_only() -> None:
    """A server's numeric request: the lists its body parsed into are not
    kept beside the array (the caller frees them at once), and are read
    again, as sent, only when something asks for them."""
    import gc

    rows = [[1.5, 2], [3.0, 4]]
    reads: list[int] = []

    def reread() -> list[Any]:
        reads.append(1)
        return [[1.5, 2], [3.0, 4]]

    decoded = decode_instances(rows, may_hold_booleans=False, numbers_only=True, reread=reread)
    assert not any(holder is decoded for holder in gc.get_referrers(rows))
    assert len(decoded) == 2 and decoded.array.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    other = decode_instances(
        [[5.5, 6]], may_hold_booleans=False, numbers_only=True, reread=lambda: [[5.5, 6]]
    )
    kept = decode_instances([[7.5, 8]], may_hold_booleans=False)  # no reread: the lists as sent, kept
    batch = DecodedInstances.joined([decoded, other, kept])
    assert len(batch) == 4 and batch.array.shape == (4, 2) and reads == []
    # Asked for: read again, once, as sent (2 stays an integer; the array's
    # row would say 2.0), in the batch's order.
    assert batch.as_sent() == [[1.5, 2], [3.0, 4], [5.5, 6], [7.5, 8]]
    assert [type(row[1]) for row in batch.instances] == [int, int, int, int]
    assert reads == [1] and decoded.instances is decoded.instances and reads == [1]
    with pytest.raises(ValueError, match="needs its instances"):
        DecodedInstances(None, None)
