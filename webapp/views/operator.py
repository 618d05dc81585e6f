"""The operator page: queue depths, worker pools and the autoscaler's last decisions,
failed jobs, dead-letter messages (with a redrive), and a link to Flower."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from sqlalchemy import select

from autoscaler.errors import TargetMissing
from core import deadletters, kinds, lifecycle
from core.errors import InvalidRequest
from core.settings import WORKLOADS
from service.submit import confirm
from store import jobstats, jobstore, outbox
from webapp import autoscaling, charts, queues
from webapp.auth import operator_required
from webapp.documents import s3_client
from webapp.extensions import db
from webapp.i18n import gettext as _
from store.models import Job

log = logging.getLogger(__name__)
bp = Blueprint("operator", __name__, url_prefix="/operator")
FAILED_JOBS = 20
PEEK = 20
REDRIVE = 100
CHART_SIZE = {"width": charts.WIDTH, "height": charts.HEIGHT, "left": charts.LEFT,
              "right": charts.RIGHT, "top": charts.TOP,
              "bottom_y": charts.HEIGHT - charts.BOTTOM}
_UNREACHABLE = (TargetMissing, ClientError, BotoCoreError)


@bp.get("/")
@operator_required
def page():
    """Everything an operator looks at first, on one page."""
    settings = current_app.extensions["jobsys.settings"]
    depths, queue_error = _read(queues.depths)
    letters = {}
    for row in depths or []:
        if row["dead_letter"]["messages"]:
            letters[row["workload"]] = _read(lambda: deadletters.peek(
                queues.sqs_client(), queues.queue_url(row["dead_letter"]["queue"]), PEEK))
    pools, pools_error = _read(lambda: autoscaling.pools(s3_client(), *settings.autoscaler_state()))
    recent = jobstats.recent(db.session, datetime.now(timezone.utc), jobstats.DEFAULT_MINUTES)
    return render_template("operator/page.html", queues=depths or [], queue_error=queue_error,
                           letters=letters, pools=pools or [], pools_error=pools_error,
                           state=settings.autoscaler_state(), failed=_failed_jobs(),
                           flower_url=settings.flower_url, recent=recent,
                           charts=charts.charts(recent), size=CHART_SIZE,
                           outcomes=charts.OUTCOMES)


def _read(fetch):
    """``(value, None)``, or ``(None, reason)`` when AWS cannot answer: the rest of the
    page still shows."""
    try:
        return fetch(), None
    except _UNREACHABLE as exc:
        log.warning("operator page: %s", exc)
        return None, str(exc)


def _failed_jobs() -> list[Job]:
    statuses = (lifecycle.FAILED, lifecycle.PARTIAL)
    query = (select(Job).where(Job.status.in_(statuses))
             .order_by(Job.finished_at.desc().nulls_last(), Job.created_at.desc())
             .limit(FAILED_JOBS))
    return db.session.scalars(query).all()


@bp.post("/queues/<workload>/redrive")
@operator_required
def redrive(workload: str):
    """Send a workload's dead-letter messages back to its queue, and queue their jobs again."""
    if workload not in WORKLOADS:
        abort(404)
    settings = current_app.extensions["jobsys.settings"]
    moved, error = _read(lambda: deadletters.redrive(
        queues.sqs_client(), queues.queue_url(settings.dead_letter_name(workload)),
        queues.queue_url(settings.queue_name(workload)), REDRIVE, _requeue_job))
    for letter in moved or ():
        if (job_id := jobstore.as_uuid(letter.job_id)) is not None:
            confirm(db.session, job_id)
    if error:
        flash(_("The queue service did not answer: {error}", error=error), "error")
    else:
        flash(_("Messages sent back to {queue}: {count}.", count=len(moved),
                queue=settings.queue_name(workload)), "info")
    return redirect(url_for("operator.page"))


def _requeue_job(letter: deadletters.DeadLetter) -> None:
    """A job whose own task was dead-lettered (and so failed) is queued again; a message
    of another task (one chunk of a batch) goes back as it is."""
    job_id = jobstore.as_uuid(letter.job_id)
    job = db.session.get(Job, job_id) if job_id else None
    if job is None:
        return
    try:
        own_task = kinds.lookup(job.kind).task_name == letter.task
    except InvalidRequest:
        own_task = False
    # Queued with its pending send: if the message does not make it back, the relay sends one.
    if own_task and jobstore.requeue_failed(db.session, job.id):
        outbox.add(db.session, job.id)
    db.session.commit()
