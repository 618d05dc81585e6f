"""Null spellings, trimming, defaults, timestamps and times of day in dataset specs and
their checks, and the row shapes that let such files go to COPY as they are (no services)."""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from core.datasets import ColumnSpec, load_spec, spec_named
from core.errors import ConfigurationError
from tasks.imports import samples
from tasks.imports.checks import ColumnCheck, local_time
from tasks.imports.reading import Clean, Rows, open_text
from tasks.imports.report import ErrorReport
from tasks.imports.shapes import field_pattern, row_shapes
from tasks.imports.validate import BatchValidator

STAMP_FORMS = ["2024-01-31 13:45:00", "2024-01-31T13:45:00", "2024/01/31 13:45", "2024/1/31 9:05",
               "2024-01-31T13:45:00.123456Z", "2024-01-31 13:45:00+09:00", "2024-01-31 13:45+0900",
               "2013-01-01 10:00:00+00", "2024-02-29", "2024-01-31T13:45:00-05:00"]


def check(kind="text", **options) -> ColumnCheck:
    return ColumnCheck(ColumnSpec("c", kind, **options))


def problems(column: ColumnCheck, values) -> dict:
    return {v: column.problem(v) for v in values if column.problem(v)}


@pytest.mark.parametrize("value", STAMP_FORMS)
def test_iso_and_spreadsheet_timestamps_pass(value):
    column = check("timestamp")
    assert column.problem(value) is None
    assert column.batch_ok(column.prepared((value, value)))


@pytest.mark.parametrize("value, message", [
    ("31/01/2024 13:45", "is not a date and time (YYYY-MM-DD HH:MM[:SS[.ffffff]], a T or a "
                         "space between them, optionally an offset such as Z or +09:00)"),
    ("2024-01-31 24:00", "is not a date and time (YYYY-MM-DD"),
    ("2024-01-31 13:45+16:00", "is not a date and time (YYYY-MM-DD"),
    ("2024-01-31 13:45:00.1234567", "is not a date and time (YYYY-MM-DD"),
    ("2023-02-29 10:00", "is not a date and time that exists"),
    ("2024-04-31", "is not a date and time that exists"),
])
def test_a_timestamp_in_another_form_is_refused_naming_the_form_expected(value, message):
    column = check("timestamp")
    assert column.problem(value).startswith(message)
    assert not column.batch_ok(column.prepared(("2024-01-01 00:00", value)))


def test_times_of_day_pass_and_others_are_refused_naming_the_form():
    column = check("time")
    assert problems(column, ["9:05", "09:05:00", "23:59:59.999999", "00:00"]) == {}
    assert problems(column, ["24:00", "9.05", "13:60", "1:45 PM"]) == dict.fromkeys(
        ["24:00", "9.05", "13:60", "1:45 PM"],
        "is not a time of day (HH:MM or HH:MM:SS[.ffffff], 00:00 to 23:59:59)")


def test_a_null_spelling_is_no_value_and_a_required_column_refuses_it_saying_so():
    optional = check("integer", null=("NA", "NULL"))
    assert problems(optional, ["NA", "NULL", "", "12"]) == {}
    assert optional.problem("na") == "is not a whole number"
    assert optional.batch_ok(optional.prepared(("NA", "1", "NULL", "")))
    required = check("integer", required=True, null=("NA",))
    assert required.problem("NA") == ("is 'NA', which this dataset reads as no value, "
                                      "and the column is required")
    assert required.problem("") == "is required"
    assert not required.batch_ok(required.prepared(("1", "NA")))


def test_a_column_that_trims_drops_surrounding_whitespace_before_every_check():
    column = check("integer", trim=True, null=("NA",))
    assert problems(column, [" 12 ", "\u300012", " NA ", "  "]) == {}
    assert column.prepared((" 12 ", " NA ")) == ("12", "")
    assert check("integer").problem(" 12 ") == "is not a whole number"
    text = check("text", trim=True, max_length=3)
    assert text.problem("  abc  ") is None and text.loaded("  abc  ") == "abc"


def test_a_timestamp_without_an_offset_is_given_its_columns_zone_as_postgresql_reads_it():
    column = check("timestamp", timezone="America/New_York")
    assert column.loaded("2013-01-01 05:00:00") == "2013-01-01T05:00:00-05:00"
    assert column.loaded("2013-07-01T05:00") == "2013-07-01T05:00:00-04:00"
    assert column.loaded("2013-01-01 05:00:00+09") == "2013-01-01 05:00:00+09"
    # A time the clock skips or repeats takes standard time, as PostgreSQL does.
    zone = ZoneInfo("America/New_York")
    assert local_time(datetime(2018, 3, 11, 2, 30), zone).utcoffset().total_seconds() == -5 * 3600
    assert local_time(datetime(2018, 11, 4, 1, 30), zone).utcoffset().total_seconds() == -5 * 3600
    assert column.loaded("") == ""


def spec_file(tmp_path, dataset: str, column: str):
    path = tmp_path / "things.toml"
    path.write_text(f'[dataset]\nname = "things"\ntable = "things"\nkey = "id"\n{dataset}\n'
                    f'[[columns]]\nname = "id"\ntype = "integer"\n'
                    f'[[columns]]\nname = "c"\n{column}\n')
    return load_spec(path)


def test_null_trim_and_timezone_of_the_dataset_hold_for_each_column_unless_it_says_otherwise(
        tmp_path):
    spec = spec_file(tmp_path, 'null = ["", "NA", "NULL"]\ntrim = true\ntimezone = "Asia/Tokyo"',
                     'type = "timestamp"\nnull = ["-"]\ntrim = false')
    assert spec.column("id").null == ("NA", "NULL") and spec.column("id").trim
    assert spec.column("c").null == ("-",) and not spec.column("c").trim
    assert spec.column("c").timezone == "Asia/Tokyo" and spec.session_zone == "Asia/Tokyo"
    assert spec.copy_null == "NA"
    assert "c timestamptz" in spec.create_table_sql()


def test_a_default_is_read_as_its_columns_type_and_a_timestamp_default_gets_its_offset(tmp_path):
    spec = spec_file(tmp_path, 'timezone = "America/New_York"',
                     'type = "timestamp"\ndefault = 2013-01-01T05:00:00')
    assert spec.column("c").default == "2013-01-01T05:00:00-05:00"
    assert spec_file(tmp_path, "", 'type = "boolean"\ndefault = false').column("c").default == (
        "false")


@pytest.mark.parametrize("dataset, column, words", [
    ("", 'type = "integer"\ndefault = "many"', "column c: default 'many' is not a integer value"),
    ("", 'required = true\ndefault = "x"', "a default is for optional columns"),
    ('timezone = "Mars/Olympus"', "", "dataset: timezone 'Mars/Olympus' is not an IANA time zone"),
    ("", 'null = ["N,A"]', "null spelling 'N,A' may hold no comma, quote"),
    ("", 'null = "NA"', 'column c: null must be a list of strings, such as ["", "NA"]'),
    ("trim = 1", "", "dataset: trim must be true or false"),
    ("", 'type = "timestamp"\nmin = "2020-01-01"', "min applies to numbers and dates only"),
])
def test_a_spec_with_a_bad_null_trim_timezone_or_default_says_what_to_fix(
        tmp_path, dataset, column, words):
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        spec_file(tmp_path, dataset, column)


def shape_of(spec: ColumnSpec, null="", zone="UTC"):
    return re.compile(f"(?:{field_pattern(spec, null, zone)})\n")


def test_the_row_shape_takes_a_null_spelling_only_where_copy_reads_it_as_null():
    numbers = ColumnSpec("n", "integer", null=("NA",))
    assert shape_of(numbers).fullmatch("\n") and not shape_of(numbers).fullmatch("NA\n")
    assert shape_of(numbers, "NA").fullmatch("NA\n") and shape_of(numbers, "NA").fullmatch('"NA"\n')
    assert not shape_of(numbers, "NA").fullmatch("\n")  # COPY … NULL 'NA' reads it as ''
    namibia = ColumnSpec("country", "text")  # NA is a country here, not a no-value
    assert shape_of(namibia).fullmatch("NA\n")
    assert not shape_of(namibia, "NA").fullmatch("NA\n")
    flags = ColumnSpec("b", "boolean", null=("N",))  # N would otherwise be false
    assert not shape_of(flags).fullmatch("N\n") and check("boolean", null=("N",)).loaded("N") == ""
    assert shape_of(flags).fullmatch("n\n") and shape_of(flags).fullmatch("no\n")  # case counts


def test_the_row_shape_takes_an_offsetless_timestamp_only_in_the_sessions_zone():
    stamps = ColumnSpec("t", "timestamp", timezone="Asia/Tokyo")
    for value in STAMP_FORMS:
        assert shape_of(stamps, zone="Asia/Tokyo").fullmatch(value + "\n"), value
    assert not shape_of(stamps, zone="UTC").fullmatch("2024-01-31 13:45\n")
    assert shape_of(stamps, zone="UTC").fullmatch("2024-01-31 13:45+09:00\n")
    assert not shape_of(stamps, zone="Asia/Tokyo").fullmatch("2023-02-29 13:45\n")


def test_the_row_shape_refuses_whitespace_a_trimming_column_would_drop():
    text = ColumnSpec("s", "text", trim=True, max_length=5)
    assert shape_of(text).fullmatch("ab c\n") and shape_of(text).fullmatch('"ab"\n')
    assert not any(shape_of(text).fullmatch(v) for v in [" ab\n", "ab \n", '" ab"\n', "\u3000a\n"])


def flights_file(rows: int) -> bytes:
    out = io.StringIO(newline="")
    samples.write_flights(out, rows)
    return out.getvalue().encode()


def test_an_r_style_flights_file_goes_to_copy_as_it_is_with_null_na():
    data = flights_file(3000)
    text, _, codec = open_text(io.BytesIO(data))
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("flights"), rows.read_header())
    pieces = list(rows.pieces(4000, validator.shapes))
    assert all(isinstance(p, Clean) for p in pieces)
    assert sum(p.records for p in pieces) == 3000
    assert {p.null for p in pieces if "NA" in p.text} == {"NA"}
    assert "".join(p.text for p in pieces) == data.decode().split("\n", 1)[1]


def test_rows_of_a_file_mixing_empty_cells_na_and_padding_are_loaded_alike_on_the_slow_path():
    head = ",".join(samples.FLIGHTS_HEADER)
    data = (f"{head}\n2013,1,1,NA, ,UA,1,,EWR,IAH,2013-01-01 05:00:00,05:15:00\n"
            f"2013,1,1, 517 ,2,UA,2, NA ,EWR,IAH,2013-01-01T10:00:00Z,NA\n").encode()
    text, _, codec = open_text(io.BytesIO(data))
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("flights"), rows.read_header())
    report = ErrorReport()
    loaded = []
    for batch, lines, _ in rows.batches(10):
        good, bad = validator.check(batch, lines, report)
        loaded += good
    assert not report.problems
    assert loaded == [
        ("2013", "1", "1", "", "", "UA", "1", "", "EWR", "IAH", "2013-01-01T05:00:00-05:00",
         "05:15:00"),
        ("2013", "1", "1", "517", "2", "UA", "2", "", "EWR", "IAH", "2013-01-01T10:00:00Z", "")]


def test_a_shape_per_null_spelling_is_built_for_a_dataset_that_has_one():
    spec = spec_named("flights")
    assert [s.null for s in row_shapes(list(spec.columns), spec.copy_null, spec.session_zone)] == [
        "", "NA"]
    assert datetime.fromisoformat("2013-01-01T05:00:00-05:00").astimezone(timezone.utc).hour == 10
