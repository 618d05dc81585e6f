"""Celery's view of a job task's end: FAILURE when the run failed its job.

The job runtime records a failed job in its row and returns normally (the
message is done with), so Celery, and Flower, which shows Celery's view, would
call the task a success. Raising ``JobEndedFailed`` after the run tells them
the truth; the task is not retried and its message is acknowledged as before
(``task_acks_on_failure_or_timeout``).
"""
from __future__ import annotations

from sqlalchemy import select

from core import lifecycle
from tasks import notify
from webapp import jobstore
from webapp.extensions import db
from webapp.models import Job


class JobEndedFailed(Exception):
    """The task ran to its end and its job failed; the job row says why."""


def run(task, args: tuple, kwargs: dict):
    """Run ``task``; raise ``JobEndedFailed`` if this run turned its job to failed.

    Needs an application context. A redelivered message for a job that had
    already failed reports nothing new. A job that ended is e-mailed about
    (once: ``tasks.notify``).
    """
    job_id = jobstore.as_uuid(kwargs.get("job_id") or (args[0] if args else None))
    if job_id is None:
        return task.run(*args, **kwargs)
    before = _status(job_id)
    result = task.run(*args, **kwargs)
    after = _status(job_id)
    if after and after[0] in lifecycle.FINISHED:
        notify.job_ended(job_id)
    if after and after[0] == lifecycle.FAILED and (not before or before[0] != lifecycle.FAILED):
        raise JobEndedFailed(after[1] or "the job failed")
    return result


def _status(job_id) -> tuple[str, str | None] | None:
    row = db.session.execute(
        select(Job.status, Job.error).where(Job.id == job_id)).one_or_none()
    return tuple(row) if row else None
