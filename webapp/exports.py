"""The file of an export job: a fresh download link, whenever asked.

The link in the job's result (and its e-mail) expires after
``EXPORT_LINK_SECONDS``; this answers 302 to a new one while the file is kept
(``FILE_RETENTION_DAYS``).
"""
from __future__ import annotations


from flask import Blueprint, current_app, redirect

from core import exports, lifecycle
from webapp.documents import presigned
from webapp.errors import ApiError
from webapp.auth import api_job

bp = Blueprint("exports", __name__, url_prefix="/api/jobs/<job_id>")


@bp.get("/download")
def download(job_id: str):
    """302 to a fresh presigned URL of the export's CSV."""
    job = api_job(job_id, exports.KIND)
    result = job.result or {}
    if job.status != lifecycle.SUCCEEDED or not result.get("key"):
        raise ApiError(409, f"the export is {job.status}; its file exists once it has "
                            "succeeded", field="status")
    settings = current_app.extensions["jobsys.settings"]
    content_type = "application/gzip" if result.get("gzip") else "text/csv"
    url, _ = presigned(result["key"], result.get("filename", "export.csv"), content_type,
                       settings.export_link_seconds)
    return redirect(url, 302)
