from __future__ import annotations

import pytest

from mlnb.errors import InvalidArgument
from mlnb.naming import whole_number
from mlnb.registry import parse_resource, validate_labels, validate_name


@pytest.mark.parametrize("name", ["census", "c", "Census_v2", "a" * 128, "x_1_2"])
def test_good_names_pass(name: str) -> None:
    assert validate_name("model", name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "required"),
        ("1census", "must begin with a letter"),
        ("_census", "must begin with a letter"),
        ("census-v2", "only letters, digits and underscores; it has '-'"),
        ("census v2", "it has ' '"),
        ("café", "it has 'é'"),
        ("a" * 129, "129 characters long; the most allowed is 128"),
    ],
)
def test_bad_names_say_which_rule(name: str, rule: str) -> None:
    with pytest.raises(InvalidArgument, match="version") as info:
        validate_name("version", name)
    assert rule in str(info.value)


def test_labels_follow_google_rules() -> None:
    assert validate_labels({"team": "ml-core", "stage": ""}) == {"team": "ml-core", "stage": ""}
    with pytest.raises(InvalidArgument, match="Label key 'Team'"):
        validate_labels({"Team": "x"})
    with pytest.raises(InvalidArgument, match="Label 'team' has value 'ML'"):
        validate_labels({"team": "ML"})
    with pytest.raises(InvalidArgument, match="65 labels"):
        validate_labels({f"k{i}": "v" for i in range(65)})


def test_resource_names_parse() -> None:
    assert parse_resource("census", "p0") == ("p0", "census", None)
    assert parse_resource("projects/p/models/m", "x") == ("p", "m", None)
    assert parse_resource("projects/p/models/m/versions/v", "x") == ("p", "m", "v")
    with pytest.raises(InvalidArgument, match="Cannot parse"):
        parse_resource("projects/p/jobs/j", "x")


@pytest.mark.parametrize("value", ["²", "٣", "-1", "1.5", "", " 1", True, None, [1]])
def test_a_whole_number_is_ascii_digits_only(value: object) -> None:
    with pytest.raises(InvalidArgument, match="must be a whole number of 0 or more"):
        whole_number(value, "offset")
    assert whole_number("0042", "offset") == 42 and whole_number(7, "port") == 7
