"""The error report of an import: one CSV line per problem (line, column, value, message).

Written to a spooled temporary file as problems are found (memory stays small
however many rows are bad) and stored in the bucket when the import ends. Its
cells come from the user's file and operators open anyone's report, so a cell a
spreadsheet would run as a formula is written as text (``core.exports.neutralize``).
"""
from __future__ import annotations

import codecs
import csv
import io
import tempfile

from core.exports import neutralize

HEADER = ("line", "column", "value", "message")
SAMPLE = 10


class ErrorReport:
    """Collects problems; keeps the first few for the job's own record."""

    def __init__(self):
        self.file = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b")
        self.text = io.TextIOWrapper(self.file, encoding="utf-8", newline="")
        self.text.write(codecs.BOM_UTF8.decode())  # so spreadsheets read it as UTF-8
        self.writer = csv.writer(self.text)
        self.writer.writerow(HEADER)
        self.problems = 0
        self.sample: list[dict] = []

    def __call__(self, line: int, column: str, value: str, message: str) -> None:
        self.problems += 1
        self.writer.writerow((line, neutralize(column), neutralize(value[:500]),
                              neutralize(message)))
        if len(self.sample) < SAMPLE:
            self.sample.append({"line": line, "column": column, "value": value[:100],
                                "message": message})

    def store(self, s3, bucket: str, key: str) -> None:
        """Upload the report to ``bucket``/``key``."""
        self.text.flush()
        self.file.seek(0)
        s3.upload_fileobj(self.file, bucket, key,
                          ExtraArgs={"ContentType": "text/csv; charset=utf-8"})

    def close(self) -> None:
        self.text.close()


def describe(problem: dict) -> str:
    """One problem in words: ``line 4, column email: 'x@' is not an email address``."""
    where = f"line {problem['line']}" + (f", column {problem['column']}" if problem["column"]
                                         else "")
    value = f"{problem['value']!r} " if problem["column"] else ""
    return f"{where}: {value}{problem['message']}"
