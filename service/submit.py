"""Submitting a job: validate, record it once (idempotency key), send its task, and
fail it with the reason when the task cannot be sent. The one way every caller —
the API, the pages, imports, the health check, schedules, Lambdas — queues work.

The row is committed before the message leaves, so a worker always finds it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import kinds
from core.errors import JobSystemError
from core.enqueue import Enqueuer
from store import jobstore
from store.models import Job

log = logging.getLogger(__name__)


class NotQueued(JobSystemError):
    """The job was recorded but its task could not be sent; the job is failed with why."""

    def __init__(self, job: Job, cause: BaseException):
        super().__init__(f"job {job.id} could not be queued: {cause}")
        self.job = job
        self.cause = cause


@dataclass(frozen=True)
class Submitted:
    """A submitted job, whether this call created it (False: the key was used) and
    whether it sent its task."""

    job: Job
    created: bool
    sent: bool


def submit(session: Session, enqueuer: Enqueuer, kind_name: str, owner: str, params: dict,
           *, idempotency_key: str | None = None, requeue_unsent: bool = False,
           again: bool = False) -> Submitted:
    """Record a job of ``kind_name`` and queue it; a used key queues nothing new, unless
    ``requeue_unsent`` (its job failed before it ever ran: the task was never sent) or
    ``again`` (its job failed or was cancelled: a schedule run again by hand).

    Raises ``InvalidRequest`` for bad params and ``NotQueued`` when the queue cannot
    be reached.
    """
    kind = kinds.lookup(kind_name)
    params = kind.validate(params)
    job, created = jobstore.create(session, kind=kind.name, owner=owner, params=params,
                                   idempotency_key=idempotency_key)
    queue = created or ((requeue_unsent or again)
                        and jobstore.requeue(session, job.id, ran_too=again))
    session.commit()
    if queue:
        send(session, enqueuer, job)
    return Submitted(job, created, bool(queue))


def send(session: Session, enqueuer: Enqueuer, job: Job) -> None:
    """Send the task of a committed, queued job; on failure fail the job and raise ``NotQueued``."""
    try:
        enqueuer.send(kinds.lookup(job.kind), str(job.id))
    except Exception as exc:
        log.warning("job %s (%s) could not be queued: %s", job.id, job.kind, exc)
        jobstore.fail_unsent(session, job.id, f"could not be queued: {exc}")
        session.commit()
        raise NotQueued(job, exc) from exc
    log.info("job %s (%s) queued for %s", job.id, job.kind, job.owner)
