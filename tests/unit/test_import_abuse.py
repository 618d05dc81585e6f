"""Files made to hold an import: values and lines whose checks or reading would cost
more than linear time. Each attack is refused by a limit looked at before the costly
step, or meets only patterns linear in their input (no services)."""
from __future__ import annotations

import csv
import io
import threading

import pytest

from core.csvimport import MAX_RECORD_CHARS
from core.datasets import ColumnSpec, spec_named
from core.errors import JobCancelled
from tasks.imports.checks import ColumnCheck
from tasks.imports.job import in_thread
from tasks.imports.reading import READ_SIZE, Clean, FileProblem, Rows, open_text
from tasks.imports.validate import BatchValidator

HEADER = b"customer_code,name,email,registered_on,note\r\n"


def dots(length: int) -> str:
    """The value whose every split the old e-mail pattern tried: a@......@."""
    return "a@" + "." * (length - 3) + "@"


class Endless(io.RawIOBase):
    """``head``, then ``line_bytes`` of one line (made as they are read), then ``tail``;
    counts the bytes handed out."""

    def __init__(self, head: bytes, line_bytes: int, fill: bytes = b"a", tail: bytes = b"\r\n"):
        self.head, self.left, self.fill, self.tail = head, line_bytes, fill, tail
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head[:n], self.head[n:]
        elif self.left > 0:
            take = min(n, self.left)
            data = (self.fill * (take // len(self.fill) + 1))[:take]
            self.left -= take
        else:
            data, self.tail = self.tail[:n], self.tail[n:]
        self.bytes_read += len(data)
        return data


def read_all(source, shaped: bool, size: int = 4000, limit: int = MAX_RECORD_CHARS):
    """Every piece of a file, through the row shape or only the CSV parser."""
    text, _, codec = open_text(source)
    rows = Rows(text, codec, limit)
    validator = BatchValidator(spec_named("customers"), rows.read_header(), limit)
    return list(rows.pieces(size, validator.shapes if shaped else None))


def test_an_email_of_dots_longer_than_its_column_is_refused_by_its_length():
    check = ColumnCheck(spec_named("customers").column("email"))  # max_length 254
    value = dots(40_000)
    assert check.batch_ok(("a@example.jp", value)) is False
    assert check.problem(value) == "is 40000 characters long; at most 254 are allowed"


def test_an_email_of_dots_within_the_record_limit_is_matched_in_linear_time():
    # Without max_length the e-mail pattern itself meets the value: 500,000 characters
    # took the old pattern half an hour (quadratic: 12 s at 40,000).
    check = ColumnCheck(ColumnSpec("email", "email", required=True))
    value = dots(500_000)
    assert check.batch_ok((value,)) is False
    assert check.problem(value) == "is not an email address"
    assert check.problem("a@mail.example.jp") is None and check.batch_ok(("a@b.jp", "x@y.z"))


@pytest.mark.parametrize("column", [ColumnSpec("email", "email"), ColumnSpec("code", "text",
                                                                             pattern="[a-z@.]+")])
def test_a_megabyte_value_in_a_column_without_max_length_is_refused_by_the_value_limit(column):
    check = ColumnCheck(column)
    value = dots(MAX_RECORD_CHARS + 1)
    assert check.batch_ok((value,)) is False
    assert check.problem(value) == (
        "is 1,048,577 characters long; no value may be longer than 1,048,576 characters "
        "(the most a record may hold, IMPORT_MAX_RECORD_CHARS)")


def test_a_pattern_that_backtracks_never_sees_a_value_longer_than_its_column():
    # (a|a)*b tries 2**n ways on n a's: the length is looked at first, on both paths.
    check = ColumnCheck(ColumnSpec("code", "text", max_length=20, pattern="(a|a)*b"))
    assert check.batch_ok(("a" * 19 + "b", "a" * 60)) is False
    assert check.problem("a" * 60) == "is 60 characters long; at most 20 are allowed"
    assert check.batch_ok(("a" * 19 + "b", "ab")) is True


def test_a_value_holding_the_batch_separator_is_not_taken_for_two_short_values():
    check = ColumnCheck(ColumnSpec("code", "text", max_length=3, pattern="[a-z]+"))
    assert check.batch_ok(("abc", "de")) is True
    assert check.batch_ok(("ab\x1fcd",)) is False
    assert check.problem("ab\x1fcd") == "is 5 characters long; at most 3 are allowed"


@pytest.mark.parametrize("shaped", [True, False], ids=["row shape", "CSV parser"])
def test_a_32_mb_line_fails_the_file_naming_it_after_reading_one_record_and_one_block(shaped):
    source = Endless(HEADER + b"C1,x,a@b.jp,2024-01-01,", 32 << 20)
    with pytest.raises(FileProblem) as refused:
        read_all(source, shaped)
    assert str(refused.value).startswith(
        "line 2 is longer than 1,048,576 characters, the most a record may hold "
        "(IMPORT_MAX_RECORD_CHARS)")
    assert source.bytes_read <= len(HEADER) + MAX_RECORD_CHARS + READ_SIZE


def test_a_quote_never_closed_fails_the_file_naming_the_line_where_its_record_starts():
    source = Endless(HEADER + b'C1,x,a@b.jp,2024-01-01,"', 8 << 20, fill=b"one line\r\n")
    with pytest.raises(FileProblem, match="the record that starts on line 2 .a quoted value "
                                          "that is never closed"):
        read_all(source, shaped=True)
    assert source.bytes_read <= len(HEADER) + MAX_RECORD_CHARS + READ_SIZE


def test_a_value_longer_than_the_csv_modules_own_limit_but_within_a_record_is_read():
    # The csv module refuses fields over 131,072 characters by default: one limit, the
    # record's, says what is too long.
    data = HEADER + b"C1,x,a@b.jp,2024-01-01," + b"n" * 200_000 + b"\r\n"
    (batch, lines, _), = read_all(io.BytesIO(data), shaped=False)
    assert lines == [2] and len(batch[0][4]) == 200_000


def test_a_lower_record_limit_holds_on_the_row_shape_too():
    data = HEADER + b"C1,x,a@b.jp,2024-01-01," + b"n" * 1500 + b"\r\n"
    with pytest.raises(FileProblem, match="line 2 is longer than 1,024 characters"):
        read_all(io.BytesIO(data), shaped=True, limit=1024)
    pieces = read_all(io.BytesIO(data), shaped=True, limit=2048)
    assert isinstance(pieces[0], Clean) and pieces[0].records == 1


def test_a_batch_of_long_records_ends_once_it_holds_what_a_record_may():
    row = b"C1,x,a@b.jp,2024-01-01," + b"n" * 1000 + b"\r\n"
    pieces = read_all(io.BytesIO(HEADER + row * 30), shaped=False, limit=10_000)
    assert [len(batch) for batch, _, _ in pieces] == [10, 10, 10]


def test_a_cancel_between_batches_stops_the_load_before_the_next_batch():
    cancelled, made = threading.Event(), []

    def batches():
        for n in range(100):
            made.append(n)
            yield f"batch {n}\n"

    def watch():
        if cancelled.is_set():
            raise JobCancelled("cancelled by its owner")

    loaded = []
    with pytest.raises(JobCancelled):
        for chunk in in_thread(batches(), depth=2, watch=watch):
            loaded.append(chunk)
            cancelled.set()  # the owner cancels while the first batch loads
    assert loaded == ["batch 0\n"]
    assert len(made) <= 4  # the parser stopped too: one loaded, two queued, one waiting


ROW = b"C1,x,a@b.jp,2024-01-01,\r\n"


def pieces_and_rows(data: bytes, shaped: bool):
    """Every piece of a file, and the reader (which counts what the CSV parser got)."""
    text, _, codec = open_text(io.BytesIO(data))
    rows = Rows(text, codec)
    validator = BatchValidator(spec_named("customers"), rows.read_header())
    return list(rows.pieces(4000, validator.shapes if shaped else None)), rows


@pytest.mark.parametrize("shaped", [True, False], ids=["row shape", "CSV parser"])
@pytest.mark.parametrize("blank", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_a_file_of_blank_lines_is_read_without_parsing_each_one(shaped, blank):
    data = HEADER + blank * 300_000 + ROW.replace(b"a@b.jp", b"bad") + blank * 300_000
    pieces, rows = pieces_and_rows(data, shaped)
    (batch, lines, raw), = pieces  # the bad row, alone: blank lines are no records
    assert batch == [["C1", "x", "bad", "2024-01-01", ""]] and lines == [300_002]
    assert raw == ROW.replace(b"a@b.jp", b"bad").decode()
    assert rows.handed == len(HEADER) + len(ROW) - 3  # the parser saw two lines in all
    assert rows.line == 600_002


def test_blank_lines_between_clean_rows_leave_the_rows_on_the_row_shape():
    data = HEADER + (ROW + b"\r\n" * 1000) * 50
    pieces, rows = pieces_and_rows(data, shaped=True)
    assert all(isinstance(piece, Clean) for piece in pieces)
    assert sum(piece.records for piece in pieces) == 50 and rows.handed == len(HEADER)


def test_a_quoted_value_of_many_lines_reaches_the_parser_in_a_few_pieces(monkeypatch):
    handed = []

    def counting(lines, **options):
        return reader(map(lambda line: handed.append(line) or line, lines), **options)

    reader = csv.reader
    monkeypatch.setattr(csv, "reader", counting)
    note = "line\r\n" * 40_000 + 'a ""quoted"" end\nmore\r'
    data = (HEADER + b'C1,x,a@b.jp,2024-01-01,"' + note.encode() + b'"\r\n'
            + ROW.replace(b"a@b.jp", b"bad"))
    pieces, rows = pieces_and_rows(data, shaped=False)
    (batch, lines, _), = pieces
    assert batch[0][4] == note.replace('""', '"') and lines == [2, 40_005]
    assert rows.line == 40_005  # the value holds 40,002 line breaks
    assert len(handed) <= 10  # the header, the row's first line, its value in a few blocks…
