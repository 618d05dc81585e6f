"""Pending sends: the transactional outbox of job tasks.

Whoever queues a job adds its pending send in the same transaction, so a job
can never be queued with nobody owing its message; the sender removes it once
the message is on its way, and the relay (``service.relay``) sends what stays
longer than a send takes. Nothing here commits: the caller's unit of work does.
"""
from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import Job, PendingSend


def add(session: Session, job_id) -> None:
    """Note that the job's task is owed (again: its age counts from now)."""
    stmt = insert(PendingSend).values(job_id=job_id)
    session.execute(stmt.on_conflict_do_update(index_elements=[PendingSend.job_id],
                                               set_={"since": func.now()}))


def remove(session: Session, job_id) -> None:
    """Forget the job's pending send (its task was sent, or no longer needs to be)."""
    session.execute(delete(PendingSend).where(PendingSend.job_id == job_id))


def due(session: Session, older_than: float, limit: int
        ) -> list[tuple[uuid.UUID, str | None, str | None]]:
    """Lock and return up to ``limit`` sends pending longer than ``older_than`` seconds,
    oldest first, as (job id, kind, status); kind and status are None for a job that is gone.

    Rows another relay holds are skipped, not waited for: each is sent by one relay.
    """
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than)
    stmt = (select(PendingSend.job_id, Job.kind, Job.status)
            .outerjoin(Job, Job.id == PendingSend.job_id)
            .where(PendingSend.since <= cutoff)
            .order_by(PendingSend.since)
            .limit(limit)
            .with_for_update(of=PendingSend, skip_locked=True))
    return [tuple(r) for r in session.execute(stmt)]
