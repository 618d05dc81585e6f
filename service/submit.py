"""Submitting a job: validate, record it once (idempotency key) with its pending send,
then send its task. The one way every caller — the API, the pages, imports, the
health check, schedules, Lambdas — queues work.

The row is committed before the message leaves, so a worker always finds it; the
pending send is committed with it, so a job whose message never left (the process
died, the queue was down) is sent by the relay (``service.relay``), never stranded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import kinds, logs
from core.errors import ConfigurationError, JobSystemError
from core.enqueue import Enqueuer
from service import access
from store import jobstore, outbox
from store.models import Job

log = logging.getLogger(__name__)


class NotQueued(JobSystemError):
    """The job was recorded but its queue does not exist, which no retry mends; the
    job is failed with why."""

    def __init__(self, job: Job, cause: BaseException):
        super().__init__(f"job {job.id} could not be queued: {cause}")
        self.job = job
        self.cause = cause


@dataclass(frozen=True)
class Submitted:
    """A submitted job, whether this call created it (False: the key was used), whether
    it queued it, and why its task is not sent yet (the relay sends it), if it is not."""

    job: Job
    created: bool
    queued: bool
    send_error: Exception | None = None

    @property
    def sent(self) -> bool:
        """This call queued the job and its task is on its way."""
        return self.queued and self.send_error is None


def submit(session: Session, enqueuer: Enqueuer, kind_name: str, owner: str, params: dict,
           *, idempotency_key: str | None = None, requeue_unsent: bool = False,
           again: bool = False) -> Submitted:
    """Record a job of ``kind_name`` and queue it; a used key queues nothing new, unless
    ``requeue_unsent`` (its job failed before it ever ran: its queue did not exist) or
    ``again`` (its job failed or was cancelled: a schedule run again by hand).

    Raises ``InvalidRequest`` for bad params, ``Forbidden`` (one of them) for params
    that name what ``owner`` may not read (``service.access``), and ``NotQueued`` when
    the job's queue does not exist. A queue that cannot be reached leaves the job
    queued for the relay.
    """
    kind = kinds.lookup(kind_name)
    params = kind.validate(params)
    access.check(session, kind.name, owner, params)
    job, created = jobstore.create(session, kind=kind.name, owner=owner, params=params,
                                   idempotency_key=idempotency_key)
    queue = created or ((requeue_unsent or again)
                        and jobstore.requeue(session, job.id, ran_too=again))
    if not queue:
        session.commit()
        return Submitted(job, created, False)
    return Submitted(job, created, True, enqueue(session, enqueuer, job))


def enqueue(session: Session, enqueuer: Enqueuer, job: Job) -> Exception | None:
    """Commit the caller's change that queued ``job`` with its pending send, then send
    its task (``send``); returns why it is not sent yet, or None."""
    outbox.add(session, job.id)
    session.commit()
    return send(session, enqueuer, job)


def send(session: Session, enqueuer: Enqueuer, job: Job) -> Exception | None:
    """Send the task of a committed, queued job whose send is pending, and confirm it.

    Returns None when sent, or the error when the queue cannot be reached (the relay
    sends it later); a queue that does not exist fails the job: ``NotQueued``.
    Its lines carry the job's ``job_id`` and ``kind`` (``core.logs``).
    """
    with logs.bound(job_id=job.id, kind=job.kind):
        return _send(session, enqueuer, job)


def _send(session: Session, enqueuer: Enqueuer, job: Job) -> Exception | None:
    try:
        enqueuer.send(kinds.lookup(job.kind), str(job.id))
    except ConfigurationError as exc:
        give_up(session, job.id, exc)
        session.commit()
        raise NotQueued(job, exc) from exc
    except Exception as exc:
        log.warning("job %s (%s) not sent yet (%s); the relay sends it once the queue answers",
                    job.id, job.kind, exc)
        return exc
    confirm(session, job.id)
    log.info("job %s (%s) queued for %s", job.id, job.kind, job.owner)
    return None


def give_up(session: Session, job_id, exc: BaseException) -> None:
    """Fail a queued job whose task cannot be sent until someone acts (its queue is missing)."""
    log.error("job %s failed: its task cannot be sent: %s", job_id, exc)
    jobstore.fail_unsent(session, job_id, f"could not be queued: {exc}")
    outbox.remove(session, job_id)


def confirm(session: Session, job_id) -> None:
    """Forget the pending send of a job whose task was just sent, and commit."""
    try:
        outbox.remove(session, job_id)
        session.commit()
    except SQLAlchemyError as exc:
        # The message is out; the entry left behind costs one duplicate, which
        # the worker's claim turns into nothing.
        session.rollback()
        log.warning("job %s: sent, but its pending send stays (%s); the relay will send "
                    "it again", job_id, exc)
