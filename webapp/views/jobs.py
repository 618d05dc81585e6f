"""The job pages: the list of jobs, one job's page, and its cancel and retry buttons.

The pages render what the database holds; their scripts (``static/jobs.js``)
keep progress live by polling the JSON API. Cancel and retry are plain forms
(with the CSRF token) that work without JavaScript.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core import csvimport, exports, lifecycle, pdfbatch
from webapp import api, documents
from webapp.auth import visible_job
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.i18n import gettext as _
from store.models import Job

bp = Blueprint("pages", __name__)
LIST_SIZE = 50


@bp.get("/")
@login_required
def jobs():
    """The user's jobs (an operator's: everyone's), newest first."""
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(LIST_SIZE)
    if not current_user.is_operator:
        query = query.where(Job.owner == current_user.username)
    return render_template("jobs/list.html", jobs=db.session.scalars(query).all(),
                           limit=LIST_SIZE)


def _visible_job(job_id: str) -> Job:
    """The job, if the signed-in user may see it; 404 otherwise (as if it did not exist)."""
    job = visible_job(job_id)
    if job is None:
        abort(404, description="There is no such job, or it is not yours.")
    return job


@bp.get("/jobs/<job_id>")
@login_required
def job(job_id: str):
    """One job: status, progress, its errors or documents, and its files."""
    job = _visible_job(job_id)
    return render_template("jobs/detail.html", job=job, finished=job.status in lifecycle.FINISHED,
                           links=_links(job))


def _links(job: Job) -> dict[str, str]:
    """The downloads a finished job offers, by name."""
    result, out = job.result or {}, {}
    if job.kind == csvimport.KIND and job.failed and job.status in lifecycle.FINISHED:
        out["errors_csv"] = url_for("imports.error_report", job_id=job.id)
    archive = documents.archive_link(job) if job.kind == pdfbatch.KIND else None
    if archive:
        out["archive"] = archive
    if job.kind == exports.KIND and job.status == lifecycle.SUCCEEDED and result.get("key"):
        out["download"] = url_for("exports.download", job_id=job.id)
    return out


@bp.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    """Cancel the job: a queued one at once, a running one at its next check."""
    try:
        api.cancel(_visible_job(job_id))
        flash(_("Cancelling the job."), "info")
    except ApiError as exc:
        flash(_("The job could not be cancelled: {reason}", reason=exc.message), "error")
    return redirect(url_for("pages.job", job_id=job_id))


@bp.post("/jobs/<job_id>/retry-failed")
@login_required
def retry_failed(job_id: str):
    """Render a finished batch's failed documents again."""
    job = _visible_job(job_id)
    if job.kind != pdfbatch.KIND:
        abort(404, description="Only PDF batches retry failed documents.")
    try:
        moved = documents.retry(job)[1]
        flash(_("Rendering {count} failed documents again.", count=moved), "info")
    except ApiError as exc:
        flash(_("The failed documents could not be retried: {reason}", reason=exc.message),
              "error")
    return redirect(url_for("pages.job", job_id=job_id))
