"""The documents of a pdf_batch job: each one's outcome, download links, retry of failures.

Downloads are presigned S3 URLs that expire after ``PDF_LINK_SECONDS``; the
``/download`` and ``/archive`` endpoints answer 302 to a fresh one, so a link
in a page never goes stale.
"""
from __future__ import annotations

import threading

from flask import Blueprint, current_app, jsonify, redirect, request, url_for

from core import aws, lifecycle, pdfbatch
from service.submit import enqueue
from store import batchstore
from store.models import DOCUMENT_STATUSES, Job
from webapp.api import enqueuer, job_json
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.auth import api_job

bp = Blueprint("documents", __name__, url_prefix="/api/jobs/<job_id>")
MAX_PAGE = 200
_s3_lock = threading.Lock()


def _batch(job_id: str) -> Job:
    return api_job(job_id, pdfbatch.KIND)


def s3_client():
    """The web app's S3 client, built on first use."""
    with _s3_lock:
        ext = current_app.extensions
        if "jobsys.s3" not in ext:
            ext["jobsys.s3"] = aws.client(ext["jobsys.settings"], "s3")
        return ext["jobsys.s3"]


def presigned(key: str, filename: str, content_type: str,
              seconds: int | None = None) -> tuple[str, str]:
    """A GET URL for ``key`` that downloads as ``filename``; and when it expires.

    It lives ``seconds`` (default ``PDF_LINK_SECONDS``), never past the files' retention.
    """
    settings = current_app.extensions["jobsys.settings"]
    seconds = settings.link_seconds(seconds or settings.pdf_link_seconds)
    return aws.presigned_get(s3_client(), settings.bucket, key, filename, content_type, seconds)


def _document_json(job: Job, row) -> dict:
    body = {"seq": row["seq"], "recipient": row["recipient"], "status": row["status"],
            "error": row["error"], "size": row["size"], "worker": row["worker"],
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}
    if row["status"] == "done":
        body["url"], body["url_expires_at"] = presigned(
            row["key"], pdfbatch.file_name(row["seq"], row["recipient"]), "application/pdf")
        body["download"] = url_for("documents.download", job_id=job.id, seq=row["seq"])
    return body


@bp.get("/documents")
def list_documents(job_id: str):
    """A page of the job's documents in order; ``status`` filters (failed lists errors)."""
    job = _batch(job_id)
    status = request.args.get("status") or None
    if status is not None and status not in DOCUMENT_STATUSES:
        raise ApiError(400, f"one of: {', '.join(DOCUMENT_STATUSES)}", field="status")
    limit, after = _int_arg("limit", 100, 1, MAX_PAGE), _int_arg("after", -1, -1, None)
    rows = batchstore.documents(db.session, job.id, status, after, limit + 1)
    page = [_document_json(job, r) for r in rows[:limit]]
    more = None
    if len(rows) > limit:
        args = {k: v for k, v in request.args.items() if k != "after"}
        more = url_for("documents.list_documents", job_id=job.id, after=rows[limit - 1]["seq"],
                       **args)
    return jsonify({"job": str(job.id), "progress": {"total": job.total, "done": job.done,
                    "failed": job.failed}, "documents": page, "next": more,
                    "archive": archive_link(job)})


def archive_link(job: Job) -> str | None:
    archive = (job.result or {}).get("archive")
    return url_for("documents.archive", job_id=job.id) if archive else None


@bp.get("/documents/<int:seq>/download")
def download(job_id: str, seq: int):
    """302 to a fresh presigned URL of one rendered document."""
    job = _batch(job_id)
    rows = batchstore.documents(db.session, job.id, "done", seq - 1, 1)
    if not rows or rows[0]["seq"] != seq:
        raise ApiError(404, f"document {seq} of this job has not been rendered", field="seq")
    url, _ = presigned(rows[0]["key"], pdfbatch.file_name(seq, rows[0]["recipient"]),
                       "application/pdf")
    return redirect(url, 302)


@bp.get("/archive")
def archive(job_id: str):
    """302 to a fresh presigned URL of the ZIP of every rendered document."""
    job = _batch(job_id)
    info = (job.result or {}).get("archive") if job.status in lifecycle.FINISHED else None
    if not info:
        raise ApiError(409, f"the job is {job.status}; its ZIP exists once it has finished "
                            "with at least one document", field="status")
    url, _ = presigned(info["key"], f"{job.id}.zip", "application/zip")
    return redirect(url, 302)


@bp.post("/retry-failed")
def retry_failed(job_id: str):
    """Render the failed documents of a finished batch again (and only those)."""
    job, moved = retry(_batch(job_id))
    response = jsonify({**job_json(job), "retrying": moved})
    response.status_code = 202
    return response


def retry(job: Job) -> tuple[Job, int]:
    """Queue the failed documents of a finished batch again; the job and how many."""
    moved = batchstore.retry_failed(db.session, job.id, job.owner)
    if moved is None:
        raise ApiError(409, f"the job is {job.status} with {job.failed} failed documents; "
                            "only a finished job with failed documents can retry them",
                       field="status")
    enqueue(db.session, enqueuer(), job)
    return db.session.get(Job, job.id, populate_existing=True), moved


def _int_arg(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise ApiError(400, f"{raw!r} is not a whole number", field=name) from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"must be between {low} and {high}" if high else
                       f"must be at least {low}", field=name)
    return value
