"""Where a batch's recipients come from: inline rows, a CSV in the bucket, or a table.

Each source is read as a stream of dicts, so tens of thousands of recipients
never sit in memory at once. CSVs may be UTF-8 (with or without BOM) or
CP932 (Shift_JIS as Japanese spreadsheets save it).
"""
from __future__ import annotations

import csv
import io
from typing import Iterator

from botocore.exceptions import ClientError
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import JobFailed

SNIFF_BYTES = 64 * 1024


def rows(params: dict, *, s3, bucket: str, session: Session,
         tables: tuple[str, ...]) -> Iterator[dict]:
    """The recipients a batch's params name, one dict each, in order."""
    if "rows" in params:
        return iter(params["rows"])
    if "csv" in params:
        return csv_rows(s3, bucket, params["csv"])
    return table_rows(session, params["table"], tables)


def csv_rows(s3, bucket: str, key: str) -> Iterator[dict]:
    """Rows of a CSV object, decoded as UTF-8 (BOM or not), else CP932."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise JobFailed(f"there is no file {key!r} in the bucket; upload the CSV first") \
                from None
        raise
    stream = io.BufferedReader(_Raw(body), buffer_size=SNIFF_BYTES)
    encoding = _encoding(stream.peek(SNIFF_BYTES)[:SNIFF_BYTES])
    reader = csv.DictReader(io.TextIOWrapper(stream, encoding=encoding, newline=""))
    if not reader.fieldnames:
        raise JobFailed(f"the CSV {key!r} is empty; its first line must name the columns")
    return _checked(reader, key)


def _checked(reader: csv.DictReader, key: str) -> Iterator[dict]:
    try:
        for row in reader:
            if None in row:
                raise JobFailed(f"{key} line {reader.line_num}: more values than columns")
            yield row
    except UnicodeDecodeError:
        raise JobFailed(f"{key} line {reader.line_num}: not UTF-8 or Shift_JIS (CP932) "
                        "text; save the file as UTF-8") from None


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
    """An S3 streaming body as a raw stream for ``io.BufferedReader``."""

    def __init__(self, body):
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.body.read(len(buffer))
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
