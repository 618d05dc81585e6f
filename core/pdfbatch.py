"""The document batch job, without its machinery: its parameters, chunks and file keys.

Pure: the web app validates requests with it and the workers lay out S3 with
it, so both agree without the web app importing the renderer.
"""
from __future__ import annotations

import re
import unicodedata
import uuid
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Collection, Mapping

from core import filekeys
from core.csvimport import safe_filename
from core.errors import InvalidRequest

KIND = "pdf_batch"
TEMPLATES = ("letter", "statement")  # folders of tasks/pdf/templates (a test keeps them equal)
SOURCES = ("rows", "csv", "table")
NAME_FIELD = "name"
JSON_SUFFIX = "_json"  # a flat source's ``items_json`` column is the template's ``items``
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def validate(params: Mapping[str, Any]) -> dict:
    """Check a batch request: a template and exactly one source of recipients."""
    unknown = sorted(set(params) - {"template", *SOURCES})
    if unknown:
        raise InvalidRequest(f"params.{unknown[0]}", "is not a parameter of a pdf_batch job "
                             "(it takes template and one of rows, csv, table)")
    template = params.get("template")
    if template not in TEMPLATES:
        raise InvalidRequest("params.template", f"must be one of: {', '.join(TEMPLATES)}")
    given = [s for s in SOURCES if s in params]
    if len(given) != 1:
        raise InvalidRequest("params", "give the recipients in exactly one of rows "
                             "(a list of objects), csv (a key in the bucket) or table")
    source = given[0]
    return {"template": template, source: _SOURCE_CHECKS[source](params[source])}


def _rows(rows: Any) -> list:
    if not isinstance(rows, list) or not rows:
        raise InvalidRequest("params.rows", "must be a non-empty list of objects")
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidRequest(f"params.rows[{n}]", "must be an object of template variables")
    return rows


def _csv(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or key.startswith("/") or len(key) > 1024:
        raise InvalidRequest("params.csv", "must be the key of a CSV file in the bucket")
    return key


def _table(name: Any) -> str:
    if not isinstance(name, str) or not _TABLE.match(name):
        raise InvalidRequest("params.table", "must be a table name (lower-case letters, "
                             "digits and _)")
    return name


_SOURCE_CHECKS = {"rows": _rows, "csv": _csv, "table": _table}


@dataclass(frozen=True)
class RecipientLimits:
    """How much a batch's recipients may hold; each error names the setting to change."""

    rows: int
    bytes: int
    columns: int
    header_chars: int
    value_chars: int

    @classmethod
    def of(cls, settings) -> "RecipientLimits":
        """The limits ``settings`` (``core.settings.Settings``) set."""
        return cls(rows=settings.pdf_recipients_max_rows,
                   bytes=settings.pdf_recipients_max_bytes,
                   columns=settings.pdf_recipients_max_columns,
                   header_chars=settings.pdf_recipients_max_header_chars,
                   value_chars=settings.pdf_recipients_max_value_chars)


def too_many_rows(count: int, limit: int) -> str | None:
    """Why ``count`` recipients are too many for one batch, or None."""
    if count <= limit:
        return None
    return (f"more than {limit:,} recipients, the most one batch may have "
            "(PDF_RECIPIENTS_MAX_ROWS); split them into several batches")


def template_data(row: Mapping[str, Any], fields: Collection[str] | None) -> dict:
    """The part of a recipient's row its template reads: the fields named in ``fields``
    (and ``x_json`` for a field ``x``); every field when ``fields`` is None (unknown)."""
    if fields is None:
        return dict(row)
    wanted = _wanted(frozenset(fields))
    if len(wanted) < len(row):  # a wide row: look up the few names, in the row's order
        return {k: row[k] for k in sorted(wanted & row.keys(), key=list(row).index)}
    return {k: v for k, v in row.items() if k in wanted}


@lru_cache(maxsize=64)
def _wanted(fields: frozenset[str]) -> frozenset[str]:
    return fields | {f + JSON_SUFFIX for f in fields}


def chunk_of(seq: int, size: int) -> int:
    """The chunk that holds document number ``seq``."""
    return seq // size


def chunk_bounds(chunk: int, size: int) -> tuple[int, int]:
    """Document numbers [first, end) of a chunk."""
    return chunk * size, (chunk + 1) * size


def document_key(job_id: str, seq: int) -> str:
    """Where document ``seq`` of a job lives in the bucket: the same key on every delivery."""
    return f"{filekeys.PDF}{job_id}/{seq:06d}.pdf"


def recipients_key(filename: str | None, owner: str) -> str:
    """A fresh key for an uploaded recipients CSV, under the PDF files' prefix (and
    retention) and its owner's folder."""
    name = safe_filename(filename, "recipients.csv")
    return f"{recipients_prefix(owner)}{uuid.uuid4().hex}/{name}"


def recipients_prefix(owner: str) -> str:
    """Where ``owner``'s recipients files live: the only keys their batches may read."""
    return f"{filekeys.RECIPIENTS}{owner}/"


def archive_key(job_id: str) -> str:
    """Where the ZIP of a job's documents lives in the bucket."""
    return f"{filekeys.PDF}{job_id}/documents.zip"


def recipient_name(data: Mapping[str, Any], seq: int) -> str:
    """How a recipient is named to people: its ``name`` field, else its row number."""
    name = data.get(NAME_FIELD) if isinstance(data, Mapping) else None
    return str(name).strip()[:200] if name not in (None, "") else f"row {seq + 1}"


def file_name(seq: int, recipient: str) -> str:
    """A download and archive member name: ``000042-山田太郎.pdf`` (no path characters)."""
    text = unicodedata.normalize("NFC", recipient)
    safe = "".join(c for c in text if c.isalnum() or c in "-_.")[:80]
    return f"{seq + 1:06d}-{safe}.pdf" if safe else f"{seq + 1:06d}.pdf"
