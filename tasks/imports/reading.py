"""From a byte stream to rows: count bytes, pick the encoding, decode, parse CSV.

Pure: the stream is anything with ``read(n)`` (an S3 body, a file). Memory is
one block of text plus one batch of rows, whatever the file's size: a record
(a row, with the line breaks inside its quoted values) may hold at most
``max_record_chars`` characters, and a batch ends once it holds about as many.
Every character is looked at a fixed number of times: a line longer than a
block is gathered block by block, never matched again from its start. Where row
shapes are given, runs of records one of them matches are handed on as text
without being split into fields; the rest goes through the CSV parser. Runs of
blank lines between records are counted and skipped in one match, and the text
of a quoted value up to its next quote goes to the parser in one piece, however
many line breaks it holds: a file's cost is per record, not per line.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Iterator, NamedTuple

from core import csvimport
from core.csvimport import MAX_RECORD_CHARS
from core.errors import JobFailed
from tasks.imports import shapes

READ_SIZE = 1 << 18  # bytes read and decoded at a time; a clean run is at most one block
HEAD_SIZE = 1 << 16
TAIL_SIZE = 1 << 16  # text after the last clean record that may still be a partial record
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_BREAKS = re.compile(r"[\r\n]+")  # blank lines, and the break of the line before them


def breaks(text: str, start: int = 0, end: int | None = None) -> int:
    """The line breaks in ``text[start:end]`` (a CRLF is one), counted in C."""
    end = len(text) if end is None else end
    return (text.count("\n", start, end) + text.count("\r", start, end)
            - text.count("\r\n", start, end))


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


def open_text(source, declared: str = "auto") -> tuple["Text", CountingStream, str]:
    """Decode ``source`` as text; returns the text, its byte counter and the codec."""
    head = source.read(HEAD_SIZE)
    if not head:
        raise FileProblem("the file is empty")
    codec = csvimport.ENCODINGS.get(declared) or detect_encoding(head)
    if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    counter = CountingStream(source, head)
    return Text(counter, codec), counter, codec


class Text:
    """Decoded blocks of a byte stream."""

    def __init__(self, raw: io.RawIOBase, codec: str):
        self.raw, self.codec = raw, codec
        self.decoder = codecs.getincrementaldecoder(codec)(errors="strict")

    def read(self) -> str:
        """The next block of text; "" at the end of the stream. A byte the codec
        refuses raises ``Undecodable`` with the line breaks before it in the block."""
        while True:
            data = self.raw.read(READ_SIZE)
            try:
                text = self.decoder.decode(data or b"", final=not data)
            except UnicodeDecodeError as exc:
                raise Undecodable(exc.object[:exc.start].count(b"\n"), exc.reason) from None
            if text or not data:
                return text


class Undecodable(Exception):
    """Bytes the codec refuses, after ``breaks`` line breaks in their block."""

    def __init__(self, breaks: int, reason: str):
        super().__init__(reason)
        self.breaks, self.reason = breaks, reason


class Clean(NamedTuple):
    """Records the fast check passed as a whole: their text, how many there are, and the
    NULL option COPY reads them with."""

    text: str
    records: int
    null: str = ""


Batch = tuple[list[list[str]], list[int], str | None]


class Rows:
    """CSV records of a text, in batches, with the line each record starts on and the
    batch's raw text (so a clean batch can go to the database as it came). A record
    longer than ``max_record_chars`` fails the file, naming the line it starts on."""

    def __init__(self, text: Text, codec: str, max_record_chars: int = MAX_RECORD_CHARS):
        self.text, self.codec, self.limit = text, codec, max_record_chars
        self.buffer, self.pos, self.ended = "", 0, False
        self.line = 0  # lines before ``pos``
        self.open_line = False  # whether text before ``pos`` ends inside a line not counted
        self.handed = 0  # characters handed to the CSV parser
        self.record_from, self.record_line = 0, 1  # where the record being parsed starts
        self.header: list[str] = []
        self.newline = "\n"
        self.last_null = ""  # the NULL option of the shape that matched last
        if csv.field_size_limit() < max_record_chars:  # a record's own limit comes first
            csv.field_size_limit(max_record_chars)

    def read_header(self) -> list[str]:
        """The first record; its line break is taken as the file's."""
        raw: list[str] = []
        reader = csv.reader(self._lines(raw, skip_blank=False), strict=True)
        self._record_begins()
        self.header = next(self._guarded(reader), None) or []
        if not any(h.strip() for h in self.header):
            raise FileProblem("the file has no header line (its first line is empty)")
        first = raw[0] if raw else ""
        self.newline = "\r\n" if first.endswith("\r\n") else first[-1:] or "\n"
        if self.newline not in ("\n", "\r", "\r\n"):
            self.newline = "\n"
        return self.header

    def batches(self, size: int) -> Iterator[Batch]:
        """Lists of up to ``size`` records, the line where each starts, and their raw
        text (None when the batch held blank lines, which are no records)."""
        yield from self.pieces(size, None)

    def pieces(self, size: int,
               row_shapes: list[shapes.RowShape] | None) -> Iterator[Clean | Batch]:
        """Runs of records a shape matches whole (``Clean``), and batches of up to
        ``size`` parsed records where none does (a row they refuse, or no shapes)."""
        try:
            while not self._done():
                self._skip_blank_lines()
                if self._done():
                    break
                clean = self._clean(row_shapes) if row_shapes else None
                if clean is not None:
                    yield clean
                else:
                    yield from self._parsed(size)
        except Undecodable as exc:
            raise self._undecodable(exc, self.line) from None

    def _done(self) -> bool:
        if self.pos >= len(self.buffer) and not self.ended:
            self._fill()
        return self.ended and self.pos >= len(self.buffer)

    def _fill(self) -> None:
        try:
            more = self.text.read()
        except Undecodable as exc:  # count the breaks not handed out yet too
            exc.breaks += self.buffer.count("\n", self.pos)
            raise
        self.buffer = self.buffer[self.pos:] + more
        self.pos, self.ended = 0, not more

    def _skip_blank_lines(self) -> None:
        """Move ``pos`` past the line breaks at a record's start, counting the lines they
        end: blank lines are no records, so the CSV parser never sees them."""
        while True:
            match = _BREAKS.match(self.buffer, self.pos)
            if match is None:
                return
            end = match.end()
            if end == len(self.buffer) and not self.ended and self.buffer[end - 1] == "\r":
                end -= 1  # its LF may begin the next block: a CRLF is one line
            self.line += breaks(self.buffer, self.pos, end)
            self.pos = end
            if match.end() < len(self.buffer) or self.ended:
                return
            self._fill()

    def _undecodable(self, exc: Undecodable, line: int) -> FileProblem:
        return FileProblem(f"the file is not valid {self.codec} text near line "
                           f"{line + exc.breaks + 1} ({exc.reason}); save it as 'CSV UTF-8' "
                           "or declare the right encoding")

    def _clean(self, row_shapes: list[shapes.RowShape]) -> Clean | None:
        while True:  # records within ``limit`` of ``pos``: none longer than a record may be
            # The shape that matched last goes first: a file keeps to one way of writing
            # its nulls, and each one that fails stops within its first record.
            for shape in sorted(row_shapes, key=lambda s: s.null != self.last_null):
                end = shape.pattern.match(self.buffer, self.pos, self.pos + self.limit).end()
                if end > self.pos:
                    break
            if end == self.pos and not self.ended and len(self.buffer) - self.pos < TAIL_SIZE:
                self._fill()  # the record may go on in the next block
                continue
            if end == self.pos:
                return None
            text = self.buffer[self.pos:end]
            records, lines = shapes.count_records(text)
            self.pos, self.line, self.last_null = end, self.line + lines, shape.null
            return Clean(text, records, shape.null)

    def _parsed(self, size: int) -> Iterator[Batch]:
        """Up to ``size`` records (fewer once they hold ``limit`` characters) through the
        CSV parser, from where the text stands."""
        raw: list[str] = []
        reader = csv.reader(self._lines(raw), strict=True)
        rows: list[list[str]] = []
        lines: list[int] = []
        blank, began = False, self.handed
        self._record_begins()
        for row in self._guarded(reader):
            if row:
                rows.append(row)
                lines.append(self.record_line)
            else:
                blank = True
            self.record_from, self.record_line = self.handed, self.line + 1  # the next one
            if len(rows) >= size or self.handed - began >= self.limit:
                break
        if rows:
            yield rows, lines, None if blank else "".join(raw)

    def _record_begins(self) -> None:
        self.record_from, self.record_line = self.handed, self.line + 1

    def _lines(self, raw: list[str], skip_blank: bool = True) -> Iterator[str]:
        """Lines from ``pos`` (ended by CRLF, LF or CR, as the CSV parser expects);
        ``pos`` moves past each line as it is handed out. Blank lines at a record's
        start are skipped (with ``skip_blank``); when the parser asks for more of a
        record, the line it has ended inside a quoted value, and the value's text up to
        its next quote is handed out whole."""
        while True:
            if self.handed > self.record_from:
                line = self._quoted()
                if line:
                    self._hand(line, raw)
                    yield line
                    continue
            elif skip_blank:
                self._skip_blank_lines()
                self.record_line = self.line + 1
            match = _LINE.match(self.buffer, self.pos)
            if match is not None and match.end() < len(self.buffer):
                line = match.group(0)  # a whole line (a CR's LF would be in the buffer)
                self.pos = match.end()
            else:
                line = self._gathered()
                if line is None:
                    self.line += self.open_line
                    return
            self._hand(line, raw)
            self.line, self.open_line = self.line + 1, False
            yield line

    def _hand(self, text: str, raw: list[str]) -> None:
        if self.handed + len(text) - self.record_from > self.limit:
            raise self._too_long()
        self.handed += len(text)
        raw.append(text)

    def _quoted(self) -> str:
        """The text from ``pos`` up to the next quote in the buffer (all of it when none,
        but a last CR, whose LF may begin the next block), counting its lines: inside a
        quoted value only a quote changes what the CSV parser does."""
        if self.pos >= len(self.buffer) and not self.ended:
            self._fill()
        quote = self.buffer.find('"', self.pos)
        end = len(self.buffer) if quote < 0 else quote
        if quote < 0 and not self.ended and self.buffer[end - 1:end] == "\r":
            end -= 1
        text, self.pos = self.buffer[self.pos:end], end
        self.line += breaks(text)
        if text:  # a line it leaves open is counted once handed out whole (or at the end)
            self.open_line = text[-1] not in "\r\n"
        return text

    def _gathered(self) -> str | None:
        """The line at ``pos`` when the buffer may not hold all of it, or None at the end
        of the text: gathered a block at a time, up to what a record may hold."""
        pieces: list[str] = []
        gathered = self.handed - self.record_from
        while True:
            match = _LINE.match(self.buffer, self.pos)
            end = self.pos if match is None else match.end()
            if match is not None and (end < len(self.buffer) or self.ended
                                      or self.buffer[end - 1] == "\n"):
                self.pos = end
                pieces.append(match.group(0))
                return "".join(pieces)
            if self.ended:
                return "".join(pieces) or None
            # The line, or a CR's LF, goes on in the next block: keep what is here but a CR.
            keep = end - (end > self.pos and self.buffer[end - 1] == "\r")
            pieces.append(self.buffer[self.pos:keep])
            gathered += keep - self.pos
            self.pos = keep
            if gathered > self.limit:
                raise self._too_long()
            self._fill()

    def _too_long(self) -> FileProblem:
        where = (f"line {self.record_line} is" if self.line + 1 == self.record_line else
                 f"the record that starts on line {self.record_line} (a quoted value that "
                 "is never closed makes the rest of the file one record) is")
        return FileProblem(f"{where} longer than {self.limit:,} characters, the most a record "
                           "may hold (IMPORT_MAX_RECORD_CHARS); check that the file is a CSV "
                           "export and that every quote it opens is closed")

    def _guarded(self, reader) -> Iterator[list[str]]:
        try:
            yield from reader
        except Undecodable as exc:
            raise self._undecodable(exc, self.line) from None
        except csv.Error as exc:
            raise FileProblem(f"the file is not a well-formed CSV at line "
                              f"{self.line}: {exc}") from None
