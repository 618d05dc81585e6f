"""The pdf_batch job: plan (fan out in chunks), render each chunk, finish with a ZIP.

``pdf.plan_batch`` claims the job, records one document row per recipient and
sends a ``pdf.render_chunk`` message per chunk with SQS batch sends. Chunks run
on any number of workers; each document is settled once (done or failed with
its error) and counted as it is. The chunk that settles the last document
builds the ZIP and finishes the job. Every step is safe to run twice.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task

from core import lifecycle, pdfbatch
from core.backoff import retry_delay
from core.errors import Forbidden, JobFailed, TransientJobError
from core.ratelimit import parse_rate
from core.settings import Settings
from service import access
from store import batchstore
from store.models import Job
from tasks import runtime, storage
from tasks.pdf import fanout, finish, process, sources
from tasks.pdf.errors import DocumentError
from tasks.ratelimit import Grant, PostgresTokenBucket
from tasks.runtime import worker_name as _worker

log = logging.getLogger(__name__)
STORAGE_ERRORS = (ClientError, BotoCoreError, ConnectionError, TimeoutError, TransientJobError)
#: The share of its deadline a chunk renders for before it hands the rest on.
RENDER_SHARE = 0.5


def _settings() -> Settings:
    return runtime.current().settings


def _end(job_id, status: str, error: str) -> None:
    """End the batch job with ``status`` (whatever this call left half-done is dropped)."""
    session = runtime.session()
    session.rollback()
    runtime.current().end(batchstore.finish(session, job_id, status, error=error))
    session.commit()


@shared_task(name="pdf.plan_batch", bind=True, max_retries=None)
def plan_batch(self, job_id: str) -> None:
    """Claim the job, record its documents (once), send a message per pending chunk."""
    settings, job = _settings(), runtime.claim(self, job_id)
    if job is None:
        return
    try:
        _record_documents(job, settings)
        if not _send_chunks(self, job, settings):
            finish.after_chunk(job.id, settings)
    except JobFailed as exc:
        _end(job.id, lifecycle.FAILED, str(exc))
    except STORAGE_ERRORS as exc:
        _retry_plan(self, job, exc, settings)
    except Exception as exc:
        log.exception("job %s: planning failed", job_id)
        _end(job.id, lifecycle.FAILED, f"{type(exc).__name__}: {exc}")


def _record_documents(job: Job, settings: Settings) -> None:
    session = runtime.session()
    if batchstore.count(session, job.id):
        return  # planned by an earlier delivery, or a retry of the failed ones
    try:
        access.check(session, job.kind, job.owner, job.params)
    except Forbidden as exc:
        raise JobFailed(str(exc)) from None
    fields = process.renderer().variables(job.params["template"])
    with session.get_bind().connect() as reader:
        rows = sources.rows(job.params, s3=storage.client(settings, "s3"),
                            bucket=settings.bucket, session=reader,
                            tables=settings.pdf_source_tables,
                            limits=pdfbatch.RecipientLimits.of(settings))
        total = batchstore.insert(session, job.id, _numbered(rows, fields))
    if total == 0:
        session.rollback()
        raise JobFailed("the batch has no recipients")
    session.commit()
    batchstore.set_total(session, job.id, total)
    session.commit()
    log.info("job %s: %d documents recorded", job.id, total)


def _numbered(rows, fields):
    """(seq, name, data) of each recipient, its data cut to what the template reads."""
    for seq, row in enumerate(rows):
        if not isinstance(row, dict):
            raise JobFailed(f"recipient {seq + 1} is not an object of template variables")
        yield seq, pdfbatch.recipient_name(row, seq), pdfbatch.template_data(row, fields)


def _send_chunks(task, job: Job, settings: Settings) -> int:
    size = settings.pdf_chunk_size
    chunks = batchstore.pending_chunks(runtime.session(), job.id, size)
    queue = settings.queue_name("pdf")
    url = task.app.conf.broker_transport_options["predefined_queues"][queue]["url"]
    args = ([str(job.id), *pdfbatch.chunk_bounds(c, size), 0] for c in chunks)
    sent = fanout.send(task.app, storage.client(settings, "sqs"), url,
                       process.RENDER_TASK, args, "pdf")
    log.info("job %s: %d chunk messages sent", job.id, sent)
    return sent


def _retry_plan(task, job: Job, exc: BaseException, settings: Settings) -> None:
    retries = task.request.retries or 0
    reason = f"{type(exc).__name__}: {exc}"
    if retries >= settings.task_max_retries:
        _end(job.id, lifecycle.FAILED, f"gave up after {retries + 1} attempts; last error: {reason}")
        return
    delay = round(retry_delay(retries + 1, settings.retry_backoff_base, settings.retry_backoff_max))
    runtime.hand_back(task, runtime.session(), job.id, job.attempts,
                      f"planning failed ({reason}); retrying in {delay}s", delay, exc=exc)


@shared_task(name=process.RENDER_TASK, bind=True, max_retries=None)
def render_chunk(self, job_id: str, first: int, end: int, failures: int = 0) -> None:
    """Render the pending documents ``first <= seq < end`` of a running job."""
    settings, job_uuid, session = _settings(), runtime.current().job_id, runtime.session()
    job = session.get(Job, job_uuid, populate_existing=True) if job_uuid else None
    if job is None or job.status != lifecycle.RUNNING:
        log.info("chunk %s[%d:%d] skipped: job is %s", job_id, first, end,
                 job.status if job else "gone")
        return
    if job.cancel_requested_at is not None:
        _end(job.id, lifecycle.CANCELLED, "cancelled by its owner")
        return
    bucket = _cluster_bucket(settings)
    pending = batchstore.pending_in(session, job.id, first, end)
    session.commit()
    deadline = runtime.current().deadline
    for doc in pending:
        if deadline is not None and deadline.passed(RENDER_SHARE):
            # The rest goes on in a fresh run: the ZIP, built after the chunk that
            # settles the last document, has the other share of this one.
            log.info("chunk %s[%d:%d]: out of rendering time; the rest goes on in a new "
                     "message", job_id, first, end)
            raise self.retry(args=[job_id, first, end, failures], countdown=0,
                             max_retries=None)
        grant = bucket.take() if bucket else Grant(True, at=datetime.now(timezone.utc))
        if not grant.granted:
            # Hand the message back instead of holding a worker slot while waiting.
            raise self.retry(args=[job_id, first, end, failures], countdown=0,
                             max_retries=None, delay_seconds=max(1, math.ceil(grant.wait)))
        try:
            _render_one(self, job, doc, settings, grant.at)
        except STORAGE_ERRORS as exc:
            _retry_chunk(self, job, (first, end), failures + 1, exc, settings)
            return
    try:
        finish.after_chunk(job.id, settings)
    except STORAGE_ERRORS as exc:
        _retry_chunk(self, job, (first, end), failures + 1, exc, settings)


def _cluster_bucket(settings: Settings) -> PostgresTokenBucket | None:
    limit = settings.cluster_rate_limits.get(pdfbatch.KIND)
    if not limit:
        return None
    return PostgresTokenBucket(runtime.session(), f"{settings.queue_prefix}{pdfbatch.KIND}",
                               parse_rate(limit))


def _render_one(task, job: Job, doc, settings: Settings, started) -> None:
    session = runtime.session()
    try:
        pdf = process.renderer().render(job.params["template"], doc.data)
    except DocumentError as exc:
        batchstore.mark_failed(session, job.id, doc.seq, error=str(exc),
                               worker=_worker(task), started=started)
        session.commit()
        return
    except Exception as exc:
        log.exception("job %s: document %d failed unexpectedly", job.id, doc.seq)
        batchstore.mark_failed(session, job.id, doc.seq, worker=_worker(task),
                               error=f"{type(exc).__name__}: {exc}", started=started)
        session.commit()
        return
    key = pdfbatch.document_key(str(job.id), doc.seq)
    storage.client(settings, "s3").put_object(Bucket=settings.bucket, Key=key, Body=pdf,
                                              ContentType="application/pdf")
    batchstore.mark_done(session, job.id, doc.seq, key=key, size=len(pdf),
                         worker=_worker(task), started=started)
    session.commit()


def _retry_chunk(task, job: Job, bounds: tuple[int, int], failures: int, exc: BaseException,
                 settings: Settings) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    if failures > settings.task_max_retries:
        session = runtime.session()
        session.rollback()
        for doc in batchstore.pending_in(session, job.id, *bounds):
            batchstore.mark_failed(session, job.id, doc.seq, worker=_worker(task),
                                   error=f"could not store the PDF after {failures} attempts: "
                                         f"{reason}")
        session.commit()
        try:
            finish.after_chunk(job.id, settings)
        except STORAGE_ERRORS:
            _end(job.id, lifecycle.FAILED,
                 f"could not build the ZIP after {failures} attempts: {reason}")
        return
    delay = round(retry_delay(failures, settings.retry_backoff_base, settings.retry_backoff_max))
    log.warning("job %s chunk %s: storage error (%s); retry %d in %ds", job.id, bounds, reason,
                failures, delay)
    raise task.retry(args=[str(job.id), *bounds, failures], countdown=0, max_retries=None,
                     delay_seconds=delay)
