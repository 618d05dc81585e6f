"""The environment reader the core and the autoscaler share: each kind of value, and
errors that name the variable, the value and what was expected."""
import pytest

from core.env import FLAG, INTEGER, MAPPING, NAMES, NUMBER, TEXT, UNSET, Reader, choice, split_names


class Bad(Exception):
    pass


def read(value, kind, **limits):
    return Reader({"X": value}, Bad).get("X", kind, "default", **limits)


@pytest.mark.parametrize("value, kind, parsed", [
    ("hello", TEXT, "hello"),
    (" pass word ", TEXT, " pass word "),
    (" 42 ", INTEGER, 42),
    ("-3", INTEGER, -3),
    ("0.25", NUMBER, 0.25),
    ("7", NUMBER, 7.0),
    ("on", FLAG, True), ("TRUE", FLAG, True), ("yes", FLAG, True), ("1", FLAG, True),
    ("off", FLAG, False), ("False", FLAG, False), ("no", FLAG, False), ("0", FLAG, False),
    ("a, b,,c ", NAMES, ("a", "b", "c")),
    ("a=1, b = x=y", MAPPING, {"a": "1", "b": "x=y"}),
    ("SMTP", choice("file", "smtp"), "smtp"),
    ("fargate", choice("FARGATE", "EC2"), "FARGATE"),
])
def test_each_kind_parses_its_values(value, kind, parsed):
    assert read(value, kind) == parsed


@pytest.mark.parametrize("value, kind, message", [
    ("many", INTEGER, "X='many' is not a whole number"),
    ("1.5", INTEGER, "X='1.5' is not a whole number"),
    ("soon", NUMBER, "X='soon' is not a number"),
    ("nan", NUMBER, "X='nan' is not a number"),
    ("inf", NUMBER, "X='inf' is not a number"),
    ("maybe", FLAG, "X='maybe' is not on or off (true/false, yes/no and 1/0 also work)"),
    ("a=1,b", MAPPING, "X='a=1,b' is not key=value pairs separated by commas"),
    ("=1", MAPPING, "X='=1' is not key=value pairs separated by commas"),
    ("pigeon", choice("file", "smtp"), "X='pigeon' is not one of: file, smtp"),
])
def test_a_bad_value_names_the_variable_the_value_and_what_is_expected(value, kind, message):
    with pytest.raises(Bad) as error:
        read(value, kind)
    assert str(error.value) == message


@pytest.mark.parametrize("value, kind, limits, message", [
    ("3", INTEGER, {"low": 5}, "X=3 is below the minimum of 5"),
    ("30", INTEGER, {"high": 20}, "X=30 is above the maximum of 20"),
    ("0", NUMBER, {"low": 0.001}, "X=0 is below the minimum of 0.001"),
])
def test_a_value_out_of_range_names_the_limit(value, kind, limits, message):
    with pytest.raises(Bad) as error:
        read(value, kind, **limits)
    assert str(error.value) == message


def test_limits_are_inclusive():
    assert read("5", INTEGER, low=5, high=5) == 5


@pytest.mark.parametrize("environ", [{}, {"X": ""}, {"X": "   "}])
def test_unset_or_blank_gives_the_default(environ):
    assert Reader(environ, Bad).get("X", INTEGER, 7) == 7
    assert Reader(environ, Bad).get("X", INTEGER) is UNSET


def test_an_empty_value_is_kept_when_asked():
    assert Reader({"X": ""}, Bad).get("X", TEXT, "d", keep_empty=True) == ""
    assert Reader({"X": ""}, Bad).get("X", NAMES, ("a",), keep_empty=True) == ()


def test_the_first_name_that_is_set_wins():
    reader = Reader({"OLD": "b", "NEW": " "}, Bad)
    assert reader.get(("NEW", "OLD"), TEXT, "c") == "b"
    assert reader.get(("NONE", "ALSO_NONE"), TEXT, "c") == "c"


@pytest.mark.parametrize("kind, value, text", [
    (TEXT, "x", "x"), (INTEGER, 5, "5"), (NUMBER, 0.5, "0.5"),
    (FLAG, True, "on"), (FLAG, False, "off"), (NAMES, ("a", "b"), "a,b"),
    (MAPPING, {"a": "1", "b": "2"}, "a=1,b=2"),
])
def test_each_kind_writes_what_it_reads_back(kind, value, text):
    assert kind.write(value) == text
    assert read(text, kind) == value


def test_split_names_drops_blanks():
    assert split_names(" , a ,b, ") == ("a", "b")
