from typing import Any, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socratic.types import (
    Embedding,
    Image,
    coerce_value,
    element_type,
    is_assignable,
    parse_cli_value,
    parse_type,
    type_name,
)

leaf = st.sampled_from([str, int, float, bool, Image, Embedding, Any])
types = st.recursive(
    leaf,
    lambda inner: st.one_of(
        inner.map(lambda t: list[t]),
        st.tuples(st.sampled_from([str, int]), inner).map(lambda kv: dict[kv[0], kv[1]]),
        inner.filter(lambda t: t is not Any).map(lambda t: Optional[t]),  # noqa: UP045
    ),
    max_leaves=4,
)


@given(types)
def test_type_names_round_trip(tp):
    assert parse_type(type_name(tp)) == tp


@given(types)
def test_every_type_accepts_itself(tp):
    assert is_assignable(tp, tp)


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        (str, str, True),
        (int, float, True),
        (float, int, False),
        (bool, int, False),
        (str, Optional[str], True),  # noqa: UP045
        (Optional[str], str, False),  # noqa: UP045
        (str, Union[int, str], True),  # noqa: UP007
        (Union[int, str], str, False),  # noqa: UP007
        (list[str], list[str], True),
        (list[int], list[float], True),
        (list[str], list[int], False),
        (list[str], str, False),  # no implicit list -> scalar
        (str, list[str], False),  # no implicit scalar -> list
        (dict[str, float], dict[str, float], True),
        (dict[str, int], dict[str, str], False),
        (list[list[str]], list[str], False),
        (Any, list[str], True),
        (list[str], Any, True),
        (Image, str, False),
    ],
)
def test_is_assignable(src, dst, ok):
    assert is_assignable(src, dst) is ok


def test_parse_type_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown type 'strng'"):
        parse_type("list[strng]")
    with pytest.raises(ValueError, match="missing"):
        parse_type("list[str")
    with pytest.raises(ValueError, match="takes no parameters"):
        parse_type("str[int]")
    with pytest.raises(ValueError, match="cannot read"):
        parse_type("list[str]; import os")


def test_element_type():
    assert element_type(list[str]) is str
    assert element_type(Any) is Any
    assert element_type(str) is None


def test_coerce_values():
    assert coerce_value(2, float) == 2.0 and isinstance(coerce_value(2, float), float)
    assert coerce_value("a.png", Image) == Image("a.png")
    assert coerce_value(None, Optional[int]) is None  # noqa: UP045
    assert coerce_value({"a": 1}, dict[str, float]) == {"a": 1.0}
    with pytest.raises(TypeError, match="input 'n' expects int, got bool True"):
        coerce_value(True, int, what="input 'n'")
    with pytest.raises(TypeError, match="expects list\\[str\\]"):
        coerce_value(["a", 1], list[str])


def test_cli_values_parse_as_yaml_except_strings():
    assert parse_cli_value("[a, b]", list[str], what="x") == ["a", "b"]
    assert parse_cli_value("3", int, what="x") == 3
    assert parse_cli_value("3", str, what="x") == "3"
    with pytest.raises(TypeError, match="-i n expects int, got str 'three'"):
        parse_cli_value("three", int, what="-i n")


def test_image_reads_lazily_and_names_bad_files(tmp_path):
    from PIL import Image as PILImage

    from socratic.errors import SocraticError

    good = tmp_path / "ok.png"
    PILImage.new("RGB", (4, 3), (255, 0, 0)).save(good)
    assert Image(good).pil().size == (4, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(SocraticError, match="cannot read image .*bad.jpg"):
        Image(bad).pil()
    with pytest.raises(SocraticError, match="image file not found: .*missing.png"):
        Image(tmp_path / "missing.png").pil()
    assert Image(good).key != Image(bad).key
