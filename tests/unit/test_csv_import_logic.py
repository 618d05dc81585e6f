"""Dataset specs, decoding, CSV parsing and row checks of CSV imports (no services)."""
from __future__ import annotations

import csv
import io

import pytest

from core import csvimport
from core.datasets import load_spec, load_specs, spec_named
from core.errors import ConfigurationError, InvalidRequest
from tasks.imports import samples
from tasks.imports import reading
from tasks.imports.reading import Clean, FileProblem, Rows, open_text
from tasks.imports.report import ErrorReport, TooManyProblems
from tasks.imports.validate import BatchValidator


def parse(data: bytes, encoding="auto", dataset="customers", size=3):
    text, _, codec = open_text(io.BytesIO(data), encoding)
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named(dataset), rows.read_header())
    report = ErrorReport()
    good, lines = [], []
    for batch, starts, _ in rows.batches(size):
        ok, _ = validator.check(batch, starts, report)
        good += ok
        lines += starts
    return codec, validator, good, report, lines


def csv_bytes(*lines: str, encoding="utf-8") -> bytes:
    return "\r\n".join(lines).encode(encoding) + b"\r\n"


HEAD = "顧客コード,氏名,メールアドレス,登録日,ポイント,備考"


def test_the_customers_spec_maps_japanese_headers_to_its_columns():
    spec = load_specs()["customers"]
    assert spec.table == "customers" and spec.key == ("customer_code",)
    assert spec.match_headers(["氏名", "メールアドレス", " E-Mail ", "ＰＯＩＮＴＳ", "謎"]) == [
        "name", "email", "email", "points", None]
    assert "PRIMARY KEY (customer_code)" in spec.create_table_sql()


def test_a_broken_spec_file_is_named_with_what_to_fix(tmp_path):
    path = tmp_path / "things.toml"
    path.write_text('[dataset]\nname = "things"\ntable = "things"\nkey = "id"\n'
                    '[[columns]]\nname = "id"\ntype = "uuidish"\n')
    with pytest.raises(ConfigurationError, match=r"things.toml: column id: type 'uuidish'"):
        load_spec(path)


def test_an_unknown_dataset_lists_the_known_ones():
    with pytest.raises(InvalidRequest, match="'orders' is not a dataset; one of: customers"):
        spec_named("orders")


def test_quoted_commas_quotes_and_line_breaks_parse_and_lines_are_where_records_start():
    data = csv_bytes(HEAD, 'C1,山田 太郎,a@example.jp,2024-01-05,10,"一行目,\r\n二行目"',
                     'C2,"佐藤 ""花子""",b@example.jp,2024/1/6,,', "", "C3,鈴木,c@example.jp,2024-02-29,0,")
    codec, validator, good, report, lines = parse(data)
    assert codec == "utf-8" and report.problems == 0
    assert good[0][-1] == "一行目,\r\n二行目" and good[1][1] == '佐藤 "花子"'
    assert lines == [2, 4, 6]
    assert validator.columns == ["customer_code", "name", "email", "registered_on", "points", "note"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_each_supported_encoding_is_detected(encoding):
    data = csv_bytes(HEAD, "C1,髙橋 ①,a@example.jp,2024-01-05,1,～", encoding=encoding)
    codec, _, good, report, _ = parse(data)
    assert codec == encoding and report.problems == 0
    assert good[0][1] == "髙橋 ①" and good[0][-1] == "～"


CP932_SAMPLE = "～−①髙".encode("cp932")  # as Japanese Excel saves them


def test_cp932_round_trips_the_characters_shift_jis_gets_wrong():
    data = csv_bytes(HEAD, "C1,{0},a@example.jp,2024-01-05,1,{0}", encoding="cp932").replace(
        b"{0}", CP932_SAMPLE)
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    _, _, good, _, _ = parse(data, encoding="shift_jis")  # declared: read as CP932
    assert good[0][1] == CP932_SAMPLE.decode("cp932") == "～－①髙"
    assert good[0][1].encode("cp932") == CP932_SAMPLE


@pytest.mark.parametrize("data, words", [
    (b"", "the file is empty"),
    (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
    ("顧客コード,氏名\r\n".encode("utf-16-le"), "binary data"),
    (b"code,\x81\x20name\r\n" * 10, "neither UTF-8 nor Shift_JIS"),
    ("氏名,メールアドレス\r\n山田,a@example.jp\r\n".encode(), "no column for customer_code"),
    (b'customer_code,name,email,registered_on\r\nC1,"open,a@b.jp,2024-01-01\r\n', "well-formed"),
])
def test_file_level_problems_fail_with_one_clear_sentence(data, words):
    with pytest.raises(FileProblem, match=words):
        parse(data)


def test_a_utf8_file_declared_as_utf8_that_is_not_says_where():
    data = csv_bytes(HEAD, "C1,髙橋,a@example.jp,2024-01-05,1,", encoding="cp932")
    with pytest.raises(FileProblem, match="not valid utf-8 text near line"):
        parse(data, encoding="utf-8")


def test_three_bad_rows_are_each_reported_with_line_column_value_and_message():
    data = csv_bytes(HEAD, "C1,山田,a@example.jp,2024-01-05,1,",
                     "C2,佐藤,not-an-email,2024-01-05,1,",
                     "C3,鈴木,c@example.jp,2024-02-30,1,",
                     "C4,田中,d@example.jp,2024-01-05,-5,",
                     "C5,伊藤,e@example.jp,2024-01-05,5,")
    _, _, good, report, _ = parse(data)
    assert [g[0] for g in good] == ["C1", "C5"]
    assert report.problems == 3
    assert [(p["line"], p["column"], p["value"], p["message"]) for p in report.sample] == [
        (3, "メールアドレス", "not-an-email", "is not an email address"),
        (4, "登録日", "2024-02-30", "is not a date that exists"),
        (5, "ポイント", "-5", "must be between 0 and 100000000"),
    ]


@pytest.mark.parametrize("value, column, message", [
    ("", "name", "is required"),
    ("x" * 101, "name", "is 101 characters long; at most 100 are allowed"),
    ("C 1", "customer_code", "does not match the pattern"),
    ("不明", "gender", "must be one of: 男性, 女性, その他, 回答しない"),
    ("1.5", "points", "is not a whole number"),
    ("abc", "balance", "is not a number"),
    ("1000000000.01", "balance", "must be between -1000000000 and 1000000000"),
    ("2023-02-29", "registered_on", "is not a date that exists"),
    ("2023/4/31", "registered_on", "is not a date that exists"),
    ("1899-12-31", "birth_date", "must be between 1900-01-01 and 2030-12-31"),
])
def test_each_kind_of_check_says_what_is_wrong(value, column, message):
    spec = spec_named("customers")
    row = {"customer_code": "C1", "name": "山田", "email": "a@example.jp",
           "registered_on": "2024-01-01", column: value}
    data = csv_bytes(",".join(row), ",".join(row.values()))
    report = parse(data)[3]
    assert report.problems == 1 and message in report.sample[0]["message"]
    assert spec.column(column)


def test_leap_days_and_dates_near_a_bound_that_exist_pass():
    row = "C1,山田,a@example.jp,{},2024/2/29,1900-01-01"
    data = csv_bytes("顧客コード,氏名,メールアドレス,残高,登録日,生年月日",
                     row.format("1000000000"), row.format("-0.5").replace("C1", "C2"))
    _, _, good, report, _ = parse(data)
    assert report.problems == 0 and len(good) == 2


def test_import_parameters_are_checked():
    assert csvimport.validate({"dataset": "customers", "key": "imports/x.csv"}) == {
        "dataset": "customers", "key": "imports/x.csv", "encoding": "auto", "max_bad_rows": 0}
    with pytest.raises(InvalidRequest, match="max_bad_rows"):
        csvimport.validate({"dataset": "customers", "key": "imports/x.csv", "max_bad_rows": -1})
    with pytest.raises(InvalidRequest, match="encoding"):
        csvimport.options({"encoding": "latin-1"})


def test_an_object_gives_the_same_idempotency_key_every_time():
    key = csvimport.upload_key("customers", "../顧客 一覧.csv")
    assert key.startswith("imports/customers/") and ".." not in key
    assert (csvimport.upload_idempotency_key(key, '"abc"')
            == csvimport.upload_idempotency_key(key, "abc"))


def test_the_sample_file_passes_every_check():
    _, _, good, report, _ = parse(samples.customers_csv(500))
    assert report.problems == 0 and len(good) == 500


def parse_fast(data: bytes, size: int = 4000, encoding: str = "auto"):
    """Like ``parse``, through the row shape: clean runs come back as text."""
    text, _, codec = open_text(io.BytesIO(data), encoding)
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("customers"), rows.read_header())
    report = ErrorReport()
    good, records = [], 0
    for piece in rows.pieces(size, validator.shapes):
        if isinstance(piece, Clean):
            records += piece.records
            good += list(csv.reader(io.StringIO(piece.text, newline="")))
        else:
            ok, _ = validator.check(piece[0], piece[1], report)
            records += len(piece[0])
            good += [list(row) for row in ok]
    return good, report, records


def test_rows_the_row_shape_passes_and_rows_it_sends_to_the_exact_checks_end_alike():
    edge = ["C1,山田,,a@example.jp,1900-01-01,,,,100000000,1000000000,2024/2/29,",
            "C2,佐藤,,b@example.jp,2030-12-31,,,,+5,-0.5,2000-02-29,",
            "C3,鈴木,,c@example.jp,,,,,007,1000000000.01,1900-02-29,",
            'C4,"田中 ""一郎""",,"d@example.jp",,"男性",,,0,0,2023/4/30,"a,\r\nb"',
            "C5,伊藤,,e@example.jp,,不明,,,1,1,2024-13-01,", "", "C6,渡辺,,f@example.jp,,,,,,,2024-01-01,"]
    data = samples.customers_csv(50) + csv_bytes(*edge)  # 58 lines: its notes break lines
    fast_good, fast_report, records = parse_fast(data, size=7)
    _, _, good, report, _ = parse(data)
    assert records == 56 and fast_good == [list(row) for row in good]
    assert [(p["line"], p["column"], p["value"]) for p in fast_report.sample] == [
        (p["line"], p["column"], p["value"]) for p in report.sample] == [
        (61, "残高", "1000000000.01"), (61, "登録日", "1900-02-29"),
        (64, "性別", "不明"), (64, "登録日", "2024-13-01")]


def test_a_bad_value_after_many_good_ones_is_found_without_retrying_the_good_ones():
    rows = [f"C{n},山田,a{n}@mail.example.co.jp,2024-01-05,1," for n in range(200)]
    data = csv_bytes(HEAD, *rows, "C200,佐藤,bad-email,2024-01-05,1,")
    _, _, good, report, _ = parse(data, size=10_000)
    assert len(good) == 200 and report.sample[0]["line"] == 202



def test_a_byte_the_codec_refuses_is_named_with_its_line_on_either_path():
    data = samples.customers_csv(30) + "C99,髙橋,z@example.jp,,,,,,,,2024-01-05,".encode("cp932")
    with pytest.raises(FileProblem, match="not valid utf-8 text near line 34 "):
        parse_fast(data, encoding="utf-8")
    with pytest.raises(FileProblem, match="not valid utf-8 text near line 34 "):
        parse(data, encoding="utf-8")


def report_lines(report: ErrorReport) -> list[list[str]]:
    report.text.flush()
    report.file.seek(0)
    return list(csv.reader(io.StringIO(report.file.read().decode("utf-8-sig"))))


def test_an_error_report_does_not_carry_a_formula():
    data = csv_bytes(HEAD, "C1,山田,a@example.jp,2024-01-05,1,",
                     'C2,佐藤,"=HYPERLINK(""http://x.example/"",""open"")",2024-01-05,1,',
                     "C3,鈴木,c@example.jp,2024-01-05,-5,")
    _, _, _, report, _ = parse(data)
    report("4", "@SUM(A1)", "\tcmd", "+1 in a message")
    header, *rows = report_lines(report)
    assert header == ["line", "column", "value", "message"]
    assert rows[:2] == [
        ["3", "メールアドレス", "'=HYPERLINK(\"http://x.example/\",\"open\")",
         "is not an email address"],
        ["4", "ポイント", "'-5", "must be between 0 and 100000000"]]
    assert rows[2] == ["4", "'@SUM(A1)", "'\tcmd", "'+1 in a message"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                   for row in rows for cell in row)


@pytest.mark.parametrize("block", [3, 7, 1 << 18], ids=["3", "7", "a block"])
def test_runs_of_blank_lines_before_a_bad_row_leave_its_line_number_right(monkeypatch, block):
    monkeypatch.setattr(reading, "READ_SIZE", block)  # a CRLF split between blocks too
    good = "C1,山田,a@example.jp,2024-01-05,1,"
    data = (csv_bytes(HEAD, good) + b"\r\n\r\n" + b"\r" * 3 + b"\n" * 4 + b"\r\n\r"
            + csv_bytes("C2,佐藤,not-an-email,2024-01-05,1,", good) + b"\n\r\n"
            + csv_bytes('C3,鈴木,"x\r\n\r\ny",2024-02-30,1,'))
    # Lines: 1 header, 2 C1, 3-4 CRLF, 5-6 CR, 7 CRLF (the third CR and the first LF),
    # 8-10 LF, 11 CRLF, 12 CR, 13 C2, 14 C1, 15 LF, 16 CRLF, 17-19 C3 (a value of three).
    for read in (parse_fast, lambda data: parse(data)[2:4]):
        _, report, *_ = read(data)
        assert [(p["line"], p["column"]) for p in report.sample] == [
            (13, "メールアドレス"), (17, "メールアドレス"), (17, "登録日")]


def bad_rows(count: int) -> bytes:
    return csv_bytes(HEAD, *(f"C{n},山田,a{n}@example.jp,2024-02-30,-1," for n in range(count)))


def test_an_import_stops_reading_at_its_problem_cap_naming_the_line():
    text, _, codec = open_text(io.BytesIO(bad_rows(100)))
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("customers"), rows.read_header())
    report, checked = ErrorReport(max_problems=5, max_bad_rows=0), []
    with pytest.raises(TooManyProblems) as stopped:
        for batch, lines, _ in rows.batches(2):
            validator.check(batch, lines, report)
            checked += lines
    assert str(stopped.value) == (
        "stopped reading at line 4: the file has more than 5 problems (IMPORT_MAX_PROBLEMS); "
        "the error report lists the first 5")
    assert checked == [2, 3] and report.problems == 5  # two problems a row
    assert [row[0] for row in report_lines(report)[1:]] == ["2", "2", "3", "3", "4"]


def test_an_import_that_may_skip_more_bad_rows_than_its_cap_reads_on_listing_the_first():
    text, _, codec = open_text(io.BytesIO(bad_rows(100)))
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("customers"), rows.read_header())
    report, bad = ErrorReport(max_problems=5, max_bad_rows=100), 0
    for batch, lines, _ in rows.batches(7):
        bad += validator.check(batch, lines, report)[1]
    assert bad == report.bad_rows == 100
    assert (report.problems, report.unlisted) == (5, 195)


def test_an_import_allowing_fewer_bad_rows_stops_at_the_first_row_past_them_once_full():
    report = ErrorReport(max_problems=3, max_bad_rows=4)
    for line in range(2, 6):  # four bad rows, one problem each: all allowed
        report(line, "email", "x", "is not an email address")
    with pytest.raises(TooManyProblems, match="at line 6: the file has more than 3 problems"):
        report(6, "email", "x", "is not an email address")
