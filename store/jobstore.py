"""Every change to a job's state, each one conditional SQL statement.

A change applies only from the state it expects (and, for a running job, only
for the attempt that holds it), so a redelivered message, a duplicate worker or
a worker that outlived its claim cannot overwrite a newer truth. Nothing here
commits: the caller's unit of work does, once per operation.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import lifecycle
from core.losses import AfterLoss
from store.models import Job, JobNotification


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to start a job: the row, and whether we hold it."""

    job: Job | None
    claimed: bool
    lost: bool = False  # running, but its worker stopped renewing the claim: see ``lose``

    @property
    def reason(self) -> str:
        if self.job is None:
            return "no such job"
        if self.claimed:
            return "claimed"
        if self.lost:
            return f"its last attempt was lost with {self.job.worker or 'its worker'}"
        if self.job.status in lifecycle.FINISHED:
            return f"already {self.job.status}"
        return f"{self.job.status} on {self.job.worker or 'another worker'}"


def as_uuid(job_id) -> uuid.UUID | None:
    """A job id as a UUID, or None when it is not one."""
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        return None


def _stale(stale_after: float):
    return or_(Job.heartbeat_at.is_(None), _silent(stale_after))


def _silent(stale_after: float):
    return Job.heartbeat_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, stale_after)


def create(session: Session, *, kind: str, owner: str, params: dict,
           idempotency_key: str | None = None, total: int = 0) -> tuple[Job, bool]:
    """Insert a queued job; with an idempotency key already used, return that job.

    Returns (job, created).
    """
    stmt = (insert(Job)
            .values(id=uuid.uuid4(), kind=kind, owner=owner, params=params,
                    idempotency_key=idempotency_key, total=total)
            .on_conflict_do_nothing(constraint="jobs_owner_idempotency_key")
            .returning(Job))
    job = session.scalars(stmt).one_or_none()
    if job is not None:
        return job, True
    existing = session.execute(
        select(Job).where(Job.owner == owner, Job.idempotency_key == idempotency_key)
    ).scalar_one()
    return existing, False


def claim(session: Session, job_id, worker: str, stale_after: float) -> Claim:
    """Move a queued job (or one whose process died and released it) to running, for us.

    The row comes back with the claim (one statement); only a job not claimed
    is read again, to say why. A job whose worker stopped renewing its claim
    (``stale_after`` seconds) is not taken over but reported ``lost``."""
    stmt = (update(Job)
            .where(Job.id == job_id, Job.cancel_requested_at.is_(None),
                   or_(Job.status == lifecycle.QUEUED,
                       and_(Job.status == lifecycle.RUNNING, Job.heartbeat_at.is_(None))))
            .values(status=lifecycle.RUNNING, attempts=Job.attempts + 1, worker=worker,
                    started_at=func.coalesce(Job.started_at, func.now()),
                    heartbeat_at=func.now())
            .returning(Job)
            .execution_options(populate_existing=True))
    job = session.scalars(stmt).one_or_none()
    if job is not None:
        return Claim(job, True)
    lost = and_(Job.status == lifecycle.RUNNING, Job.cancel_requested_at.is_(None),
                _silent(stale_after))
    found = session.execute(select(Job, lost).where(Job.id == job_id)
                            .execution_options(populate_existing=True)).one_or_none()
    return Claim(found[0], False, bool(found[1])) if found else Claim(None, False)


def lose(session: Session, job: Job, after: AfterLoss) -> Job | None:
    """Record that the attempt holding ``job`` (as read) was lost with its worker: queued
    again or failed, as ``after`` says. The row, or None if the job moved on meanwhile."""
    values = {"status": after.status, "error": after.error, "heartbeat_at": None,
              "lost_attempts": Job.lost_attempts + 1}
    if after.reset_progress:
        values.update(total=0, done=0, failed=0)
    if after.status in lifecycle.FINISHED:
        values["finished_at"] = func.now()
    return ended(session, and_(_held(job.id, job.attempts), Job.heartbeat_at == job.heartbeat_at,
                               Job.cancel_requested_at.is_(None)), **values)


def _held(job_id, attempt: int):
    return and_(Job.id == job_id, Job.status == lifecycle.RUNNING, Job.attempts == attempt)


def _apply(session: Session, where, **values) -> bool:
    return session.execute(update(Job).where(where).values(**values)
                           .returning(Job.id)).scalar() is not None


def by_counts():
    """A job's final status from its counts, in SQL: ``lifecycle.outcome``'s rule."""
    return case((Job.failed == 0, lifecycle.SUCCEEDED), (Job.done == 0, lifecycle.FAILED),
                else_=lifecycle.PARTIAL)


def finish(session: Session, job_id, attempt: int, status,
           result: dict | None = None, error: str | None = None) -> Job | None:
    """Record the end of the attempt that holds the job (``status`` may be ``by_counts()``):
    the ended row, or None."""
    return ended(session, _held(job_id, attempt), status=status, result=result,
                 error=error, finished_at=func.now(), heartbeat_at=None)


def ended(session: Session, where, **values) -> Job | None:
    """Apply a change that ends a job (or an attempt); the row as it is now, or None if
    none matched."""
    return session.scalars(update(Job).where(where).values(**values).returning(Job)
                           .execution_options(populate_existing=True)).one_or_none()


def progress(session: Session, job_id, attempt: int, *, total: int | None = None,
             done: int | None = None, failed: int | None = None) -> bool:
    """Update the counts of the attempt that holds the job."""
    values = {k: v for k, v in (("total", total), ("done", done), ("failed", failed))
              if v is not None}
    return _apply(session, _held(job_id, attempt), **values) if values else True


def back_to_queue(session: Session, job_id, attempt: int, error: str) -> bool:
    """Hand a running job back to the queue (a retry is on its way)."""
    return _apply(session, _held(job_id, attempt), status=lifecycle.QUEUED,
                  error=error, heartbeat_at=None)


def fail_unsent(session: Session, job_id, error: str) -> bool:
    """Fail a queued job whose message could not be sent."""
    return _apply(session, and_(Job.id == job_id, Job.status == lifecycle.QUEUED),
                  status=lifecycle.FAILED, error=error, finished_at=func.now())


def requeue(session: Session, job_id, *, ran_too: bool = False) -> bool:
    """Queue a finished job again: one that failed before it ever ran (its message was
    never sent) or, with ``ran_too``, any that failed or was cancelled. Forgets its
    previous outcome, the e-mail sent about it and its lost attempts."""
    where = and_(Job.id == job_id, Job.status.in_(
        (lifecycle.FAILED, lifecycle.CANCELLED) if ran_too else (lifecycle.FAILED,)))
    if not ran_too:
        where = and_(where, Job.attempts == 0)
    return _requeue(session, job_id, where)


def requeue_failed(session: Session, job_id) -> bool:
    """Queue a failed job again (its message is being sent back from the dead-letter
    queue); a job in any other state is left as it is."""
    return _requeue(session, job_id, and_(Job.id == job_id, Job.status == lifecycle.FAILED))


def _requeue(session: Session, job_id, where) -> bool:
    moved = session.execute(update(Job).where(where).values(
        status=lifecycle.QUEUED, error=None, result=None, finished_at=None, heartbeat_at=None,
        cancel_requested_at=None, total=0, done=0, failed=0, lost_attempts=0
    ).returning(Job.id)).scalar()
    if moved is not None:
        session.execute(delete(JobNotification).where(JobNotification.job_id == job_id))
    return moved is not None


def touch(session: Session, job_ids: Iterable) -> int:
    """Renew the claim of running jobs (their worker is alive)."""
    ids = [i for i in map(as_uuid, job_ids) if i is not None]
    if not ids:
        return 0
    return len(session.execute(
        update(Job).where(Job.id.in_(ids), Job.status == lifecycle.RUNNING)
        .values(heartbeat_at=func.now()).returning(Job.id)).all())


def release(session: Session, job_id, error: str) -> bool:
    """Give up a running job's claim at once (its process died); the message brings it back."""
    return _apply(session, and_(Job.id == job_id, Job.status == lifecycle.RUNNING),
                  heartbeat_at=None, error=error)


def fail_dead_lettered(session: Session, job_id, reason: str, stale_after: float) -> Job | None:
    """Fail a job whose message went to the dead-letter queue, unless a live worker runs it;
    the failed row, or None."""
    alive = and_(Job.status == lifecycle.RUNNING, ~_stale(stale_after))
    waiting = Job.status.in_((lifecycle.QUEUED, lifecycle.RUNNING))
    message = func.concat(reason, case((Job.error.isnot(None), " Last error: " + Job.error),
                                       else_=""))
    return ended(session, and_(Job.id == job_id, waiting, ~alive),
                 status=lifecycle.FAILED, error=message, finished_at=func.now(),
                 heartbeat_at=None)


def cancel_abandoned(session: Session, job_id, stale_after: float) -> Job | None:
    """Finish as cancelled a job asked to stop whose worker is gone; the row, or None."""
    return ended(session, and_(Job.id == job_id, Job.cancel_requested_at.isnot(None),
                                Job.status.in_((lifecycle.QUEUED, lifecycle.RUNNING)),
                               _stale(stale_after)),
                 status=lifecycle.CANCELLED, finished_at=func.now(), heartbeat_at=None)


def cancel(session: Session, job_id) -> Job | None:
    """Cancel a queued job at once; ask a running one to stop. Returns the job."""
    _apply(session, and_(Job.id == job_id, Job.status == lifecycle.QUEUED),
           status=lifecycle.CANCELLED, finished_at=func.now())
    _apply(session, and_(Job.id == job_id, Job.status == lifecycle.RUNNING,
                         Job.cancel_requested_at.is_(None)),
           cancel_requested_at=func.now())
    return session.get(Job, job_id, populate_existing=True)


def cancel_requested(session: Session, job_id) -> bool:
    """Whether someone asked the job to stop."""
    return session.execute(select(Job.cancel_requested_at).where(Job.id == job_id)
                           ).scalar() is not None
