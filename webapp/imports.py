"""The JSON API for CSV imports: hand out uploads, start imports, fetch error reports.

    POST /api/imports/uploads      a presigned S3 POST for a file (the browser sends it
                                   straight to the bucket); the upload itself starts
                                   the import through the bucket's notification
    POST /api/imports              start the import of an uploaded key ("upload complete")
    POST /api/imports/direct       a small CSV in the request body (IMPORT_DIRECT_MAX_BYTES)
    GET  /api/imports/datasets     the datasets there are, with their columns
    GET  /api/jobs/<id>/errors.csv 302 to the job's error report
    GET  /api/jobs/<id>/errors     a page of the report's problems as JSON
"""
from __future__ import annotations

import csv
import io

from botocore.exceptions import ClientError
from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from core import csvimport
from core.datasets import load_specs, spec_named
from core.errors import InvalidRequest
from service import imports as import_service
from store import uploadstore
from webapp.api import _accepted, _json_object, enqueuer
from webapp.documents import _int_arg, presigned, s3_client
from webapp.errors import ApiError
from webapp.uploads import presigned_post
from webapp.extensions import db
from store.models import Job
from webapp.auth import api_job, can_see, current_owner

bp = Blueprint("imports", __name__, url_prefix="/api")


def _settings():
    return current_app.extensions["jobsys.settings"]


def _request_options(source: dict) -> tuple[str, dict]:
    dataset = spec_named(source.get("dataset"), _settings().datasets_dir, "dataset").name
    return dataset, csvimport.options(source, where="options")


@bp.post("/imports/uploads")
def create_upload():
    """A presigned POST for one file under the imports prefix; 201 with its fields."""
    body = _json_object()
    unknown = sorted(set(body) - {"dataset", "filename", "encoding", "max_bad_rows"})
    if unknown:
        raise InvalidRequest(unknown[0], "is not a field of an upload request (use dataset, "
                             "filename, encoding, max_bad_rows)")
    dataset, options = _request_options(body)
    filename = body.get("filename")
    if filename is not None and not isinstance(filename, str):
        raise InvalidRequest("filename", "must be the file's name, a string")
    key = csvimport.upload_key(dataset, filename)
    uploadstore.record_upload(db.session, key=key, owner=current_owner(), dataset=dataset,
                              options=options)
    db.session.commit()
    response = jsonify({"key": key, "dataset": dataset, "options": options,
                        "upload": presigned_post(key, _settings().import_max_bytes),
                        "complete": {"method": "POST", "url": "/api/imports",
                                     "body": {"key": key}}})
    response.status_code = 201
    return response


@bp.post("/imports")
def start_import():
    """Start the import of an uploaded file (the same job its upload notification starts)."""
    body = _json_object()
    key = body.get("key")
    record = uploadstore.upload(db.session, key) if isinstance(key, str) else None
    if record is None or not can_see(record.owner):
        raise ApiError(404, "no upload with this key; ask POST /api/imports/uploads for one",
                       field="key")
    try:
        head = s3_client().head_object(Bucket=_settings().bucket, Key=key)
    except ClientError:
        raise ApiError(409, "the file has not arrived in the bucket yet; finish the upload "
                            "first", field="key") from None
    return _accepted(*_start(record, head["ETag"]))


@bp.post("/imports/direct")
def direct_import():
    """Import a small CSV sent as the request body; dataset and options in the query."""
    args = request.args.to_dict()
    if args.get("max_bad_rows", "").isdigit():
        args["max_bad_rows"] = int(args["max_bad_rows"])
    dataset, options = _request_options(args)
    limit = _settings().import_direct_max_bytes
    data = _body(limit)
    if not data:
        raise ApiError(400, "the request body is empty; send the CSV file as the body")
    key = csvimport.upload_key(dataset, request.args.get("filename"))
    uploadstore.record_upload(db.session, key=key, owner=current_owner(), dataset=dataset,
                              options=options)
    db.session.commit()
    put = s3_client().put_object(Bucket=_settings().bucket, Key=key, Body=data,
                                 ContentType="text/csv")
    return _accepted(*_start(uploadstore.upload(db.session, key), put["ETag"]))


def _body(limit: int) -> bytes:
    too_big = ApiError(413, f"the file is larger than the {limit:,} bytes that may be posted "
                            "directly; upload it through POST /api/imports/uploads instead",
                       field="body")
    if (request.content_length or 0) > limit:
        raise too_big
    request.max_content_length = limit
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise too_big from None


def _start(record, etag: str) -> tuple[Job, bool]:
    done = import_service.start(db.session, enqueuer(), record, etag)
    return done.job, not done.created


@bp.get("/imports/datasets")
def list_datasets():
    """Every dataset an import may target, with its columns and header aliases."""
    specs = load_specs(_settings().datasets_dir)
    return jsonify({"datasets": [{
        "name": s.name, "table": s.table, "key": list(s.key), "description": s.description,
        "columns": [{"name": c.name, "type": c.type, "required": c.required,
                     "aliases": list(c.aliases)} for c in s.columns]} for s in specs.values()]})


def _import_job(job_id: str) -> Job:
    return api_job(job_id, csvimport.KIND)


def _report(job: Job, call: str) -> dict:
    """``head_object`` or ``get_object`` of the job's stored error report; 404 without one."""
    try:
        return getattr(s3_client(), call)(Bucket=_settings().bucket,
                                          Key=csvimport.report_key(str(job.id)))
    except ClientError:
        raise ApiError(404, f"the job is {job.status} and has no error report (no row had "
                            "a problem, or it has not finished)", field="job_id") from None


@bp.get("/jobs/<job_id>/errors.csv")
def error_report(job_id: str):
    """302 to the error report of an import job (line, column, value, message)."""
    job = _import_job(job_id)
    _report(job, "head_object")
    url, _ = presigned(csvimport.report_key(str(job.id)), f"import-{job.id}-errors.csv",
                       "text/csv; charset=utf-8")
    return redirect(url, 302)


@bp.get("/jobs/<job_id>/errors")
def list_errors(job_id: str):
    """A page of an import's problems, read from its error report: ``offset``, ``limit``."""
    job = _import_job(job_id)
    offset, limit = _int_arg("offset", 0, 0, None), _int_arg("limit", 50, 1, 500)
    body = _report(job, "get_object")["Body"]
    try:
        rows = _report_page(body, offset, limit + 1)
    finally:
        body.close()
    more = None
    if len(rows) > limit:
        more = url_for("imports.list_errors", job_id=job.id, offset=offset + limit, limit=limit)
    return jsonify({"job": str(job.id), "bad_rows": job.failed, "offset": offset,
                    "errors": rows[:limit], "next": more,
                    "report": url_for("imports.error_report", job_id=job.id)})


def _report_page(body, offset: int, count: int) -> list[dict]:
    """Problems ``offset`` to ``offset + count`` of a report, streamed (never read whole)."""
    reader = csv.reader(io.TextIOWrapper(body, encoding="utf-8-sig", newline=""))
    next(reader, None)  # the header line
    out = []
    for n, row in enumerate(reader):
        if n >= offset + count:
            break
        if n >= offset and len(row) == 4:
            out.append({"line": int(row[0]) if row[0].isdigit() else row[0], "column": row[1],
                        "value": row[2], "message": row[3]})
    return out
