"""From a byte stream to rows: count bytes, pick the encoding, decode, parse CSV.

Pure: the stream is anything with ``read(n)`` (an S3 body, a file). Memory is
one read buffer plus one batch of rows, whatever the file's size.
"""
from __future__ import annotations

import codecs
import csv
import io
from typing import Iterator

from core import csvimport
from core.errors import JobFailed

READ_SIZE = 1 << 20
HEAD_SIZE = 1 << 16


class FileProblem(JobFailed):
    """The file as a whole cannot be imported; the message says why in one sentence."""


class CountingStream(io.RawIOBase):
    """A raw stream over ``source.read``, replaying ``head`` first and counting bytes."""

    def __init__(self, source, head: bytes = b""):
        self.source, self.head, self.bytes_read = source, head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            data, self.head = self.head[:len(buffer)], self.head[len(buffer):]
        else:
            data = self.source.read(len(buffer))
        buffer[:len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def detect_encoding(head: bytes) -> str:
    """The codec of a file from its first bytes: UTF-8 with BOM, UTF-8, or CP932."""
    if head.startswith(b"PK\x03\x04"):
        raise FileProblem("the file is an Excel workbook or a ZIP archive, not a CSV file; "
                          "save it from the spreadsheet as CSV and upload that")
    if b"\x00" in head:
        raise FileProblem("the file holds binary data (NUL bytes), so it is not a CSV file "
                          "(UTF-16 text is not supported: save it as CSV UTF-8)")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for codec in ("utf-8", "cp932"):
        try:
            codecs.getincrementaldecoder(codec)().decode(head, final=False)
            return codec
        except UnicodeDecodeError:
            continue
    raise FileProblem("the file's text is neither UTF-8 nor Shift_JIS (CP932); save it "
                      "as 'CSV UTF-8' or declare its encoding")


def open_text(source, declared: str = "auto") -> tuple[io.TextIOWrapper, CountingStream, str]:
    """Decode ``source`` as text; returns the text stream, its byte counter and the codec."""
    head = source.read(HEAD_SIZE)
    if not head:
        raise FileProblem("the file is empty")
    codec = csvimport.ENCODINGS.get(declared) or detect_encoding(head)
    if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    counter = CountingStream(source, head)
    text = io.TextIOWrapper(io.BufferedReader(counter, READ_SIZE), encoding=codec,
                            errors="strict", newline="")
    return text, counter, codec


class Rows:
    """CSV records of a text stream, in batches, with the line each record starts on
    and the batch's raw text (so a clean batch can go to the database as it came)."""

    def __init__(self, text: io.TextIOWrapper, codec: str):
        self._raw: list[str] = []
        self.reader = csv.reader(self._lines(text), strict=True)
        self.codec = codec
        self.header: list[str] = []
        self.newline = "\n"

    def _lines(self, text) -> Iterator[str]:
        raw = self._raw
        for line in text:
            raw.append(line)
            yield line

    def read_header(self) -> list[str]:
        self.header = next(self._guarded(), None) or []
        if not any(h.strip() for h in self.header):
            raise FileProblem("the file has no header line (its first line is empty)")
        first = self._raw[0] if self._raw else ""
        self.newline = "\r\n" if first.endswith("\r\n") else first[-1:] or "\n"
        if self.newline not in ("\n", "\r", "\r\n"):
            self.newline = "\n"
        self._raw.clear()
        return self.header

    def batches(self, size: int) -> Iterator[tuple[list[list[str]], list[int], str | None]]:
        """Lists of up to ``size`` records, the line where each starts, and their raw
        text (None when the batch held blank lines, which are no records)."""
        rows: list[list[str]] = []
        lines: list[int] = []
        reader, last, blank = self.reader, self.reader.line_num, False
        for row in self._guarded():
            if row:
                rows.append(row)
                lines.append(last + 1)
                if len(rows) >= size:
                    yield rows, lines, self._take_raw(blank)
                    rows, lines, blank = [], [], False
            else:
                blank = True
            last = reader.line_num
        if rows:
            yield rows, lines, self._take_raw(blank)

    def _take_raw(self, blank: bool) -> str | None:
        text = None if blank else "".join(self._raw)
        self._raw.clear()
        return text

    def _guarded(self) -> Iterator[list[str]]:
        try:
            yield from self.reader
        except UnicodeDecodeError as exc:
            raise FileProblem(f"the file is not valid {self.codec} text near line "
                              f"{self.reader.line_num + 1} ({exc.reason}); save it as "
                              "'CSV UTF-8' or declare the right encoding") from None
        except csv.Error as exc:
            raise FileProblem(f"the file is not a well-formed CSV at line "
                              f"{self.reader.line_num}: {exc}") from None
