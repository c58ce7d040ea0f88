from __future__ import annotations

import numpy as np

from mlnb.prediction import attach_keys, to_jsonable


def test_numpy_values_become_python() -> None:
    value = {"scores": np.array([0.5, 1.5], dtype=np.float32), "label": np.int64(2)}
    assert to_jsonable(value) == {"scores": [0.5, 1.5], "label": 2}
    assert to_jsonable(np.array(["a", "b"])) == ["a", "b"]
    assert to_jsonable([np.float64("nan")]) == [None]


def test_bytes_are_text_or_b64() -> None:
    assert to_jsonable(b"caf\xc3\xa9") == "café"
    assert to_jsonable(b"\xff\x00") == {"b64": "/wA="}


def test_keys_go_into_objects_or_wrap_values() -> None:
    assert attach_keys([1, {"a": 2}], ["k1", "k2"]) == [
        {"key": "k1", "prediction": 1},
        {"key": "k2", "a": 2},
    ]
