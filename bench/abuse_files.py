"""Files users upload: the import reader and a PDF batch's recipients CSV.

Each ``*_cases`` function returns the bench's cases for one entry point: a
worst input and an ordinary input of the same size, built outside the timed
call. The calls drive the product's own functions the way the workers do.
"""
from __future__ import annotations

import gc
import io
import json
from functools import cache, partial

from bench.abuse_measure import Case
from core import pdfbatch
from core.csvimport import MAX_PROBLEMS
from core.datasets import spec_named
from core.errors import JobFailed
from core.settings import Settings
from tasks.imports import samples
from tasks.imports.job import BATCH_ROWS, Import
from tasks.imports.reading import Clean, Rows, open_text
from tasks.imports.report import ErrorReport, TooManyProblems
from tasks.imports.validate import BatchValidator
from tasks.pdf import process, sources

MB = 1 << 20
HEADER = (",".join(samples.HEADER) + "\r\n").encode()
# The fields of a customer before its note (the last column), all good.
FIELDS = "C00000001,山田 太郎,ヤマダ タロウ,u1@example.co.jp,1980-01-01,男性,東京都,03-1234-5678,1,1.00,2020/1/1,"
FIELDS_BYTES = FIELDS.encode()


# -- the import reader (tasks/imports/reading.py, driven as tasks/imports/job.py does)

def read_file(spec, data: bytes) -> dict:
    """What the csv_import job does with a file before the database: detect the
    encoding, decode, parse, check every row (fast path first), build COPY text."""
    text, _, codec = open_text(io.BytesIO(data))
    rows = Rows(text, codec)
    validator = BatchValidator(spec, rows.read_header())
    report, records, bad = ErrorReport(MAX_PROBLEMS, 0), 0, 0  # the defaults
    gc.disable()  # as the job does
    try:
        for piece in rows.pieces(BATCH_ROWS, validator.shapes):
            if isinstance(piece, Clean):
                records += piece.records
                continue
            batch, lines, raw = piece
            good, wrong = validator.check(batch, lines, report)
            records, bad = records + len(batch), bad + wrong
            if good:
                Import._copy_text(good, wrong, raw, rows.newline,
                                  validator.whole_rows and not validator.rewrites)
    except TooManyProblems as exc:
        return {"outcome": f"{records} records, {bad} bad, then {exc}"}
    finally:
        gc.enable()
        report.close()
    return {"outcome": f"read: {records} records, {bad} bad"}


def customers_file(size: int) -> bytes:
    """A realistic customers file (samples.write_customers) of about ``size`` bytes."""
    per_row = len(samples.customers_csv(2000)) / 2000
    data = samples.customers_csv(max(1, round((size - len(HEADER)) / per_row)))
    return data[:size].rsplit(b"\r\n", 1)[0] + b"\r\n" if len(data) > size else data


def _filled(size: int, piece: bytes) -> bytes:
    """The header, then ``piece`` repeated to ``size`` bytes."""
    return HEADER + piece * max(1, (size - len(HEADER)) // len(piece))


READERS = {
    "one long line (a note of n bytes)":
        lambda n: HEADER + FIELDS_BYTES + b"x" * (n - len(HEADER) - len(FIELDS_BYTES)) + b"\r\n",
    "one long line of n/2 short fields": lambda n: _filled(n, b"x,")[:-1] + b"\r\n",
    "quoted notes of 120 KB, 40,000 lines each":
        lambda n: _filled(n, FIELDS_BYTES + b'"' + b"x\r\n" * 40_000 + b'"\r\n'),
    "blank lines only": lambda n: _filled(n, b"\n"),
    "bare CRs only": lambda n: _filled(n, b"\r"),
    "one-field rows ended by CR (every row bad)": lambda n: _filled(n, b"x\r"),
    "an invalid byte on the last line": lambda n: customers_file(n - 3) + b"\xff\r\n",
}
# Rows whose e-mail makes the per-value check quadratic (the batch check refuses
# them at once: the spec's max_length 254; then each value is checked alone).
EMAIL_ROWS = "rows with e-mail 'a@' + 2,000 dots + '@'"


def _email_rows(n: int) -> bytes:
    row = FIELDS.replace("u1@example.co.jp", "a@" + "." * 2000 + "@").encode() + b"\r\n"
    return _filled(n, row)


def reader_cases(quick: bool) -> list[Case]:
    spec = spec_named("customers")

    def build(make):
        return lambda n: partial(read_file, spec, make(n))

    sizes = (MB, 2 * MB) if quick else (4 * MB, 8 * MB)
    ordinary = build(customers_file)
    cases = [Case("import reader", name, build(make), ordinary, sizes)
             for name, make in READERS.items()]
    small = (64 << 10, 128 << 10) if quick else (256 << 10, 512 << 10)
    cases.append(Case("import reader", EMAIL_ROWS, build(_email_rows), ordinary, small))
    return cases


# -- a PDF batch's recipients CSV (tasks/pdf/sources.py csv_rows, then the rows stored)

class MemoryObject:
    """What ``s3.get_object`` gives, over bytes in memory."""

    def __init__(self, data: bytes):
        self.data = data

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803 - boto3's names
        return {"Body": io.BytesIO(self.data), "ContentLength": len(self.data)}




@cache
def letter_fields() -> frozenset[str] | None:
    """The variables of the "letter" template: what a batch keeps of each row
    (tasks/pdf/batch.py). Worked out once, before the measured children fork."""
    return process.renderer().variables("letter")


def recipients(data: bytes) -> dict:
    """Read the CSV as a batch plans it, within the default limits, and count the bytes
    its documents would store: each row's recipient name and the part of its data the
    template reads, as JSON (``store/batchstore.insert``)."""
    stored = count = 0
    limits = pdfbatch.RecipientLimits.of(Settings())
    try:
        for seq, row in enumerate(sources.csv_rows(MemoryObject(data), "bucket",
                                                   "recipients.csv", limits)):
            name = pdfbatch.recipient_name(row, seq)
            kept = pdfbatch.template_data(row, letter_fields())
            stored += len(name.encode()) + len(json.dumps(kept, ensure_ascii=False).encode())
            count += 1
    except JobFailed as exc:
        return {"outcome": f"refused after {count:,} rows: {exc}"}
    return {"outcome": f"{count:,} rows, {stored / MB:,.1f} MB to store",
            "stored_bytes": stored, "stored_per_input_byte": round(stored / len(data), 2)}


def wide_headers(n: int, columns: int = 8) -> bytes:
    """Half the file is a header of long names, the other half rows of empty values."""
    head = ",".join(f"h{i}".ljust(n // 2 // columns, "x") for i in range(columns)) + "\n"
    row = "," * (columns - 1) + "\n"
    return (head + row * ((n - len(head)) // len(row))).encode()


def thousand_char_headers(n: int, rows: int = 200) -> bytes:
    """200 rows of empty values under as many 1,000-character headers as fit."""
    count = max(1, n // (1001 + rows))
    head = ",".join(f"{i:04d}".ljust(1000, "h") for i in range(count)) + "\n"
    return (head + ("," * (count - 1) + "\n") * rows).encode()


def widest_allowed(n: int) -> bytes:
    """The most columns with the longest names the limits allow, over rows of commas."""
    head = ",".join(f"{i:03d}".ljust(100, "h") for i in range(100)) + "\n"
    return (head + ("," * 99 + "\n") * max(1, (n - len(head)) // 100)).encode()


def ordinary_recipients(n: int) -> bytes:
    lines, size, i = ["name,address,amount\n"], 20, 0
    while size < n:
        line = f"山田 太郎{i},東京都港区芝公園{i}-1-1,{i * 10}\n"
        lines.append(line)
        size, i = size + len(line.encode()), i + 1
    return "".join(lines).encode()


def recipients_cases(quick: bool) -> list[Case]:
    letter_fields()
    def build(make):
        return lambda n: partial(recipients, make(n))

    ordinary = build(ordinary_recipients)
    wide = (32 << 10, 64 << 10) if quick else (128 << 10, 256 << 10)
    many = (150_000, 300_000) if quick else (600_000, 1_200_000)
    return [Case("recipients CSV", "a header of 8 names filling half the file, rows of commas",
                 build(wide_headers), ordinary, wide),
            Case("recipients CSV", "1,000-character headers over 200 rows of commas",
                 build(thousand_char_headers), ordinary, many),
            Case("recipients CSV", "100 names of 100 characters over rows of commas",
                 build(widest_allowed), ordinary, many)]
