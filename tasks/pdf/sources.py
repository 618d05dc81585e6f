"""Where a batch's recipients come from: inline rows, a CSV in the bucket, or a table.

Each source is read as a stream of dicts, so tens of thousands of recipients
never sit in memory at once. CSVs may be UTF-8 (with or without BOM) or
CP932 (Shift_JIS as Japanese spreadsheets save it).
"""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from typing import Iterator

from botocore.exceptions import ClientError
from sqlalchemy import text
from sqlalchemy.orm import Session

from core import pdfbatch
from core.errors import JobFailed
from core.pdfbatch import RecipientLimits

SNIFF_BYTES = 64 * 1024


def rows(params: dict, *, s3, bucket: str, session: Session, tables: tuple[str, ...],
         limits: RecipientLimits) -> Iterator[dict]:
    """The recipients a batch's params name, one dict each, in order, within ``limits``."""
    if "rows" in params:
        return _at_most(params["rows"], limits.rows, "params.rows item")
    if "csv" in params:
        return csv_rows(s3, bucket, params["csv"], limits)
    table = params["table"]
    return _at_most(table_rows(session, table, tables), limits.rows, f"table {table!r} row")


def _at_most(recipients, limit: int, where: str) -> Iterator[dict]:
    for n, row in enumerate(recipients, start=1):
        if problem := pdfbatch.too_many_rows(n, limit):
            raise JobFailed(f"{where} {n:,}: {problem}")
        yield row


def csv_rows(s3, bucket: str, key: str, limits: RecipientLimits) -> Iterator[dict]:
    """Rows of a recipients CSV object, decoded as UTF-8 (BOM or not), else CP932.

    The file's size and header are checked before this returns, each row as it is
    read; anything over ``limits`` raises ``JobFailed`` naming the line, the column
    and the setting that allows more.
    """
    body = _open(s3, bucket, key, limits.bytes)
    stream = io.BufferedReader(_Raw(body, key, limits.bytes), buffer_size=SNIFF_BYTES)
    encoding = _encoding(stream.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    reader = csv.reader(io.TextIOWrapper(stream, encoding=encoding, newline=""))
    with _reading(reader, key, _longer_than(limits.header_chars, "a column name",
                                            "PDF_RECIPIENTS_MAX_HEADER_CHARS")):
        header = next(reader, None)
    if not header:
        raise JobFailed(f"the CSV {key!r} is empty; its first line must name the columns")
    _check_header(header, key, limits)
    return _records(reader, header, key, limits)


def _open(s3, bucket: str, key: str, limit: int):
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise JobFailed(f"there is no file {key!r} in the bucket; upload the CSV first") \
                from None
        raise
    if answer.get("ContentLength", 0) > limit:
        answer["Body"].close()
        raise JobFailed(_too_big(key, limit, answer["ContentLength"]))
    return answer["Body"]


def _too_big(key: str, limit: int, size: int | None = None) -> str:
    what = f"is {size:,} bytes," if size is not None else "is"
    return (f"{key} {what} larger than the {limit:,} bytes a recipients file may hold "
            "(PDF_RECIPIENTS_MAX_BYTES); split it into several batches")


def _longer_than(limit: int, what: str, setting: str, length: int | None = None) -> str:
    size = f"{length:,}" if length is not None else f"{csv.field_size_limit():,}+"
    return f"{what} of {size} characters, more than the {limit:,} characters allowed ({setting})"


def _check_header(header: list[str], key: str, limits: RecipientLimits) -> None:
    if len(header) > limits.columns:
        raise JobFailed(f"{key} line 1, column {limits.columns + 1:,}: more than the "
                        f"{limits.columns:,} columns a recipients file may have "
                        "(PDF_RECIPIENTS_MAX_COLUMNS); keep only those the template uses")
    for n, name in enumerate(header, start=1):
        if len(name) > limits.header_chars:
            raise JobFailed(f"{key} line 1, column {n:,}: " + _longer_than(
                limits.header_chars, "a column name", "PDF_RECIPIENTS_MAX_HEADER_CHARS",
                len(name)))


def _records(reader, header: list[str], key: str, limits: RecipientLimits) -> Iterator[dict]:
    count = 0
    with _reading(reader, key, _longer_than(limits.value_chars, "a value",
                                            "PDF_RECIPIENTS_MAX_VALUE_CHARS")):
        for values in reader:
            if not values:
                continue  # a blank line, as csv.DictReader skips it
            count += 1
            yield _record(header, values, f"{key} line {reader.line_num}", count, limits)


def _record(header: list[str], values: list[str], where: str, count: int,
            limits: RecipientLimits) -> dict:
    if len(values) > len(header):
        raise JobFailed(f"{where}: more values than columns")
    if max(map(len, values)) > limits.value_chars:  # looked at in C; named only when over
        name, value = next((n, v) for n, v in zip(header, values) if len(v) > limits.value_chars)
        raise JobFailed(f"{where}, column {name!r}: " + _longer_than(
            limits.value_chars, "a value", "PDF_RECIPIENTS_MAX_VALUE_CHARS", len(value)))
    if problem := pdfbatch.too_many_rows(count, limits.rows):
        raise JobFailed(f"{where}: {problem}")
    if len(values) == len(header):
        return dict(zip(header, values))
    return {name: values[n] if n < len(values) else None for n, name in enumerate(header)}


@contextmanager
def _reading(reader, key: str, too_long: str):
    """Decoding and parsing errors as one sentence naming the line; ``too_long`` says what
    a field over csv's own limit (above every allowed length) is."""
    try:
        yield
    except UnicodeDecodeError:
        raise JobFailed(f"{key} line {reader.line_num + 1}: not UTF-8 or Shift_JIS (CP932) "
                        "text; save the file as UTF-8") from None
    except csv.Error as exc:
        problem = too_long if "field limit" in str(exc) else \
            f"not a CSV file this reader can parse ({exc})"
        raise JobFailed(f"{key} line {reader.line_num}: {problem}") from None


def _encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        # A multi-byte character may be cut at the end of the sample.
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        return "utf-8" if exc.start >= len(head) - 3 else "cp932"


class _Raw(io.RawIOBase):
    """An S3 streaming body as a raw stream for ``io.BufferedReader``, at most ``limit``
    bytes of it (an object's size is checked before; this holds whatever the body is)."""

    def __init__(self, body, key: str, limit: int):
        self.body, self.key, self.limit, self.read_so_far = body, key, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.body.read(len(buffer))
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise JobFailed(_too_big(self.key, self.limit))
        buffer[:len(data)] = data
        return len(data)


def table_rows(session: Session, table: str, allowed: tuple[str, ...]) -> Iterator[dict]:
    """Every row of an allowed table of the app's own database, by its first column."""
    if table not in allowed:
        raise JobFailed(f"table {table!r} is not one a batch may read; allowed: "
                        f"{', '.join(allowed) or 'none (set PDF_SOURCE_TABLES)'}")
    result = session.execute(text(f'SELECT * FROM "{table}" ORDER BY 1'),
                             execution_options={"yield_per": 1000})
    for row in result.mappings():
        yield {k: _plain(v) for k, v in row.items()}


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)
