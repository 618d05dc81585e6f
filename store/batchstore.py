"""The documents of pdf_batch jobs: every change one conditional SQL statement.

A document moves pending → done | failed once; the move and the job's count
change together in one statement, so a redelivered chunk neither duplicates a
document nor counts it twice. "Retry the failed ones" moves failed → pending.
Nothing here commits: the caller's unit of work does.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, func, null, text
from sqlalchemy.orm import Session

from core import lifecycle
from store import jobstore
from store.models import Job


@dataclass(frozen=True)
class Pending:
    """A document still to render."""

    seq: int
    recipient: str
    data: dict


def insert(session: Session, job_id: uuid.UUID, rows: Iterable[tuple[int, str, dict]]) -> int:
    """COPY a job's documents (seq, recipient, data) in; returns how many. Not committed."""
    raw = session.connection().connection.driver_connection
    count = 0
    with raw.cursor() as cursor, cursor.copy(
            "COPY pdf_documents (job_id, seq, recipient, data) FROM STDIN") as copy:
        for seq, recipient, data in rows:
            copy.write_row((job_id, seq, recipient, json.dumps(data, ensure_ascii=False)))
            count += 1
    return count


def count(session: Session, job_id: uuid.UUID) -> int:
    return session.execute(text("SELECT count(*) FROM pdf_documents WHERE job_id = :j"),
                           {"j": job_id}).scalar()


def pending_chunks(session: Session, job_id: uuid.UUID, size: int) -> list[int]:
    """The chunks that hold at least one pending document."""
    return list(session.execute(text(
        "SELECT DISTINCT seq / :size FROM pdf_documents WHERE job_id = :j AND status = 'pending' "
        "ORDER BY 1"), {"j": job_id, "size": size}).scalars())


def pending_in(session: Session, job_id: uuid.UUID, first: int, end: int) -> list[Pending]:
    """Pending documents with ``first <= seq < end``, in order."""
    rows = session.execute(text(
        "SELECT seq, recipient, data FROM pdf_documents WHERE job_id = :j AND status = 'pending' "
        "AND seq >= :first AND seq < :end ORDER BY seq"), {"j": job_id, "first": first, "end": end})
    return [Pending(*row) for row in rows]


_SETTLE = """
WITH d AS (
    UPDATE pdf_documents SET status = :status, key = :key, size = :size, error = :error,
           worker = :worker, started_at = :started, finished_at = clock_timestamp()
    WHERE job_id = :j AND seq = :seq AND status = 'pending' RETURNING 1)
UPDATE jobs SET {counter} = {counter} + (SELECT count(*) FROM d)
WHERE id = :j RETURNING (SELECT count(*) FROM d)"""


def mark_done(session: Session, job_id, seq: int, *, key: str, size: int, worker: str,
              started: datetime | None) -> bool:
    """Record a rendered document (once) and count it; False if it was already settled."""
    return _settle(session, "done", job_id=job_id, seq=seq, key=key, size=size, error=None,
                   worker=worker, started=started)


def mark_failed(session: Session, job_id, seq: int, *, error: str, worker: str,
                started: datetime | None = None) -> bool:
    """Record a document's error (once) and count it as failed."""
    return _settle(session, "failed", job_id=job_id, seq=seq, key=None, size=None,
                   error=error[:2000], worker=worker, started=started)


def _settle(session: Session, status: str, **values) -> bool:
    sql = _SETTLE.format(counter="done" if status == "done" else "failed")
    return bool(session.execute(text(sql), {"status": status, "j": values.pop("job_id"),
                                            **values}).scalar())


def set_total(session: Session, job_id, total: int) -> None:
    session.execute(text("UPDATE jobs SET total = :n WHERE id = :j AND status = 'running'"),
                    {"j": job_id, "n": total})


def claim_archive(session: Session, job_id, stale_after: float) -> bool:
    """True for exactly one caller once no document is pending: it builds the ZIP.

    A claim whose worker stopped renewing the job (``stale_after`` seconds) is taken over.
    """
    claimed = session.execute(text("""
        UPDATE jobs SET result = coalesce(result, '{}'::jsonb) || '{"archiving": true}',
               heartbeat_at = now()
        WHERE id = :j AND status = 'running'
          AND (result ->> 'archiving' IS NULL
               OR heartbeat_at < now() - make_interval(secs => :stale))
          AND NOT EXISTS (SELECT 1 FROM pdf_documents WHERE job_id = :j AND status = 'pending')
        RETURNING id"""), {"j": job_id, "stale": stale_after}).scalar() is not None
    return claimed


def release_archive(session: Session, job_id) -> None:
    """Let another worker build the ZIP (this one failed to)."""
    session.rollback()
    session.execute(text("UPDATE jobs SET result = result - 'archiving' WHERE id = :j"),
                    {"j": job_id})


def finish(session: Session, job_id, status: str, result: dict | None = None,
           error: str | None = None) -> Job | None:
    """End a running batch job (any worker may: its chunks run on many); the ended row."""
    return jobstore.ended(session, and_(Job.id == job_id, Job.status == lifecycle.RUNNING),
                          status=status, result=null() if result is None else result,
                          error=error, finished_at=func.now(), heartbeat_at=None)


def retry_failed(session: Session, job_id, owner: str) -> int | None:
    """Queue a finished batch's failed documents again; how many, or None if it cannot."""
    moved = session.execute(text("""
        WITH j AS (
            UPDATE jobs SET status = 'queued', failed = 0, result = NULL, error = NULL,
                   finished_at = NULL, heartbeat_at = NULL, cancel_requested_at = NULL
            WHERE id = :j AND owner = :o AND kind = 'pdf_batch' AND failed > 0
              AND status = ANY(:finished) RETURNING id),
        d AS (
            UPDATE pdf_documents SET status = 'pending', error = NULL, worker = NULL,
                   started_at = NULL, finished_at = NULL
            WHERE job_id IN (SELECT id FROM j) AND status = 'failed' RETURNING 1)
        SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM d)"""),
        {"j": job_id, "o": owner, "finished": list(lifecycle.requeueable())}).one()
    return moved[1] if moved[0] else None


def documents(session: Session, job_id, status: str | None, after: int, limit: int) -> list:
    """A page of a job's documents in order, optionally of one status."""
    return session.execute(text(
        "SELECT seq, recipient, status, error, key, size, worker, started_at, finished_at "
        "FROM pdf_documents WHERE job_id = :j AND seq > :after "
        "AND (CAST(:s AS text) IS NULL OR status = :s) ORDER BY seq LIMIT :n"),
        {"j": job_id, "after": after, "s": status, "n": limit}).mappings().all()


def done_documents(session: Session, job_id) -> Iterable:
    """(seq, recipient, key) of every rendered document, in order, streamed."""
    return session.execute(text(
        "SELECT seq, recipient, key FROM pdf_documents WHERE job_id = :j AND status = 'done' "
        "ORDER BY seq"), {"j": job_id}, execution_options={"yield_per": 500})
