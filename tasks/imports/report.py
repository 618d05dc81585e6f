"""The error report of an import: one CSV line per problem (line, column, value, message).

Written to a spooled temporary file as problems are found (memory stays small
however many rows are bad) and stored in the bucket when the import ends. It
lists at most ``max_problems``; a problem past them in a file that has more bad
rows than the import allows stops the reading (``TooManyProblems``), as the
import fails whatever the rest holds; while the import may still succeed, the
problems past them are counted, not listed. Its
cells come from the user's file and operators open anyone's report, so a cell a
spreadsheet would run as a formula is written as text (``core.exports.neutralize``).
"""
from __future__ import annotations

import codecs
import csv
import io
import tempfile

from core.csvimport import MAX_PROBLEMS
from core.errors import JobFailed
from core.exports import neutralize

HEADER = ("line", "column", "value", "message")
SAMPLE = 10


class TooManyProblems(JobFailed):
    """A problem the full report has no room for, in a file whose import fails anyway."""

    def __init__(self, line, max_problems: int):
        super().__init__(f"stopped reading at line {line}: the file has more than "
                         f"{max_problems:,} problems (IMPORT_MAX_PROBLEMS); the error report "
                         f"lists the first {max_problems:,}")
        self.line = line


class ErrorReport:
    """Collects problems, at most ``max_problems`` of them, in a file of which at most
    ``max_bad_rows`` rows may be bad; keeps the first few for the job's own record."""

    def __init__(self, max_problems: int = MAX_PROBLEMS, max_bad_rows: int = 0):
        self.max_problems, self.max_bad_rows = max_problems, max_bad_rows
        self.bad_rows, self.last_line = 0, None  # a row's problems come together
        self.unlisted = 0
        self.file = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b")
        self.text = io.TextIOWrapper(self.file, encoding="utf-8", newline="")
        self.text.write(codecs.BOM_UTF8.decode())  # so spreadsheets read it as UTF-8
        self.writer = csv.writer(self.text)
        self.writer.writerow(HEADER)
        self.problems = 0
        self.sample: list[dict] = []

    def __call__(self, line: int, column: str, value: str, message: str) -> None:
        if line != self.last_line:
            self.bad_rows, self.last_line = self.bad_rows + 1, line
        if self.problems >= self.max_problems:
            if self.bad_rows > self.max_bad_rows:
                raise TooManyProblems(line, self.max_problems)
            self.unlisted += 1
            return
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
