"""Presigned uploads: the browser sends a file straight to the bucket, never through the app.

    POST /api/pdf/uploads   a presigned S3 POST for a PDF batch's recipients CSV (at most
                            PDF_RECIPIENTS_MAX_BYTES); then
                            POST /api/jobs {"kind": "pdf_batch", "params": {"csv": <key>, ...}}
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, current_app, jsonify

from core import pdfbatch
from core.errors import InvalidRequest
from webapp.api import _json_object
from webapp.auth import current_owner
from webapp.documents import s3_client

bp = Blueprint("uploads", __name__, url_prefix="/api")


def presigned_post(key: str, max_bytes: int) -> dict:
    """How to send one file of at most ``max_bytes`` to ``key``: a POST URL, its form
    fields, size limit and expiry (S3 refuses a larger file)."""
    settings = current_app.extensions["jobsys.settings"]
    post = s3_client().generate_presigned_post(
        settings.bucket, key, ExpiresIn=settings.import_upload_seconds,
        Conditions=[["content-length-range", 1, max_bytes]])
    expires = datetime.now(timezone.utc) + timedelta(seconds=settings.import_upload_seconds)
    return {"method": "POST", "url": post["url"], "fields": post["fields"],
            "file_field": "file", "max_bytes": max_bytes, "expires_at": expires.isoformat()}


@bp.post("/pdf/uploads")
def create_recipients_upload():
    """A presigned POST for a recipients CSV; 201 with its key for the batch's ``csv``."""
    body = _json_object()
    unknown = sorted(set(body) - {"filename"})
    if unknown:
        raise InvalidRequest(unknown[0], "is not a field of an upload request (use filename)")
    filename = body.get("filename")
    if filename is not None and not isinstance(filename, str):
        raise InvalidRequest("filename", "must be a file name such as recipients.csv")
    key = pdfbatch.recipients_key(filename, current_owner())
    limit = current_app.extensions["jobsys.settings"].pdf_recipients_max_bytes
    response = jsonify({"key": key, "upload": presigned_post(key, limit)})
    response.status_code = 201
    return response
