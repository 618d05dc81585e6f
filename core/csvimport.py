"""The csv_import job without its machinery: parameters, encodings, file keys.

Pure: the web app, the upload notification handler and the workers all agree
through these functions on where files live and what a request may say.
"""
from __future__ import annotations

import re
import uuid
from typing import Any, Mapping

from core import filekeys
from core.errors import InvalidRequest

KIND = "csv_import"
TASK = "imports.run"
PREFIX = filekeys.IMPORTS
# Declared names a client may use, and the codec each one reads with. Shift_JIS
# as Japanese Excel writes it is CP932 (it differs from shift_jis on ～ − ① 髙).
ENCODINGS = {"auto": None, "utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "cp932": "cp932",
             "shift_jis": "cp932", "sjis": "cp932", "windows-31j": "cp932"}
MAX_BAD_ROWS = 1_000_000
# The most problems an import's error report lists. Once it holds as many and more rows
# are bad than the import allows, reading stops: the file is refused either way, and
# its cost is bounded by what the report can say, not by the file's length.
MAX_PROBLEMS = 10_000
# The most characters one record (a row, with any line breaks inside its quoted values)
# may hold, and so any one value: Excel keeps at most 32,767 characters in a cell, so a
# spreadsheet's row is far shorter; a longer record is a file that is no CSV export or
# a quote never closed. Memory and the work on a value stay bounded by it.
MAX_RECORD_CHARS = 1 << 20
# The longest an import may run: it reads, checks and loads the whole file in one task
# and one transaction, so it cannot hand half of itself on. Below AWS Lambda's 900 s,
# leaving a minute for the final upsert (not interrupted) and recording the outcome.
MAX_RUN_SECONDS = 840
_FILENAME = re.compile(r"[^\w.\-]+")


def validate(params: Mapping[str, Any]) -> dict:
    """Check an import request: a dataset, an uploaded file's key, and options."""
    unknown = sorted(set(params) - {"dataset", "key", "encoding", "max_bad_rows"})
    if unknown:
        raise InvalidRequest(f"params.{unknown[0]}", "is not a parameter of a csv_import job "
                             "(it takes dataset, key, encoding and max_bad_rows)")
    dataset = params.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise InvalidRequest("params.dataset", "is required: the name of a dataset spec")
    key = params.get("key")
    if not isinstance(key, str) or not key.startswith(PREFIX) or len(key) > 1024:
        raise InvalidRequest("params.key", f"must be the key of an uploaded file under {PREFIX}")
    return {"dataset": dataset, "key": key, **options(params)}


def options(params: Mapping[str, Any], where: str = "params") -> dict:
    """The import options: ``encoding`` (default auto) and ``max_bad_rows`` (default 0)."""
    encoding = params.get("encoding", "auto")
    if not isinstance(encoding, str) or encoding.lower() not in ENCODINGS:
        raise InvalidRequest(f"{where}.encoding", f"must be one of: {', '.join(ENCODINGS)}")
    bad = params.get("max_bad_rows", 0)
    if isinstance(bad, bool) or not isinstance(bad, int) or not 0 <= bad <= MAX_BAD_ROWS:
        raise InvalidRequest(f"{where}.max_bad_rows", "must be a whole number from 0 "
                             f"(all or nothing) to {MAX_BAD_ROWS}")
    return {"encoding": encoding.lower(), "max_bad_rows": bad}


def upload_key(dataset: str, filename: str | None = None) -> str:
    """A fresh key under the imports prefix for a file to import into ``dataset``."""
    return f"{PREFIX}{dataset}/{uuid.uuid4().hex}/{safe_filename(filename, 'upload.csv')}"


def safe_filename(filename: str | None, default: str) -> str:
    """The last part of a client's file name, in characters safe for a key (at most 100)."""
    return _FILENAME.sub("_", (filename or default).rsplit("/", 1)[-1])[-100:] or default


def report_key(job_id: str) -> str:
    """Where the error report of an import job lives in the bucket."""
    return f"{filekeys.REPORTS}imports/{job_id}/errors.csv"


def upload_idempotency_key(key: str, etag: str) -> str:
    """The job idempotency key of one uploaded object: the same on every notification
    and on the client's own "upload complete" call, so they make one job."""
    tag = etag.strip('"')
    return f"upload:{tag}:{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}"
