"""A YAML body or file (``--config FILE``, ``--input FILE``, a ``%%ml`` cell
body) read as a mapping: one reader, one line for every mistake."""

from __future__ import annotations

import pytest

from mlnb.cli.output import yaml_mapping
from mlnb.errors import InvalidArgument


def test_a_mapping_and_an_empty_text() -> None:
    assert yaml_mapping("scaleTier: BASIC\nargs: [--epochs, '3']\n", "--config c.yaml") == {
        "scaleTier": "BASIC",
        "args": ["--epochs", "3"],
    }
    assert yaml_mapping("", "--config c.yaml") == {}
    assert yaml_mapping('{"a": 1}', "--input i.json") == {"a": 1}


def test_bad_yaml_is_one_line_naming_the_text_and_the_place() -> None:
    with pytest.raises(InvalidArgument) as caught:
        yaml_mapping("trainingInput:\n  scaleTier: [BASIC\n", "the cell body (a trainingInput)")
    message = caught.value.message
    assert message.startswith("the cell body (a trainingInput) is not valid YAML: ")
    assert "\n" not in message and "at line 3, column 1" in message


def test_a_list_is_not_a_mapping() -> None:
    with pytest.raises(InvalidArgument, match=r"^--input i.yaml must hold a mapping, not a list$"):
        yaml_mapping("- 1\n- 2\n", "--input i.yaml")
