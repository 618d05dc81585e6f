"""The life of a job inside a worker: claim, run, record the outcome, retry.

Every job task is a plain function of a ``JobContext`` wrapped by ``job_task``;
the wrapper makes the task idempotent against redelivery and maps errors to
outcomes: ``JobFailed`` fails the job, transient errors are retried with
backoff, ``JobCancelled`` cancels it, anything unexpected fails it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Callable

from celery import shared_task
from flask import current_app

from core import lifecycle
from core.backoff import retry_delay
from core.errors import JobCancelled, JobDeferred, JobFailed, TransientJobError
from core.settings import Settings
from webapp import jobstore
from webapp.extensions import db
from webapp.models import Job

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError, ConnectionError, TimeoutError)


@dataclass
class JobContext:
    """What a job body sees: its row, its attempt, and ways to report back."""

    job: Job
    attempt: int
    worker: str
    result: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        return self.job.params or {}

    def progress(self, *, total=None, done=None, failed=None) -> None:
        """Record progress counts (visible through the API while the job runs)."""
        jobstore.progress(db.session, self.job.id, self.attempt,
                          total=total, done=done, failed=failed)

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the owner asked the job to stop."""
        if jobstore.cancel_requested(db.session, self.job.id):
            raise JobCancelled("cancelled by its owner")


def job_task(name: str) -> Callable:
    """Make ``body(ctx) -> result dict`` a Celery task named ``name`` taking a job id."""
    def wrap(body):
        @shared_task(name=name, bind=True, max_retries=None)
        def task(self, job_id: str):
            return run_job(self, job_id, body)
        task.body = body
        return task
    return wrap


def _settings() -> Settings:
    return current_app.extensions["jobsys.settings"]


def stale_after(settings: Settings, delivery_info: dict | None) -> float:
    """Seconds after which a running job's claim counts as abandoned."""
    workload = (delivery_info or {}).get("routing_key") or "default"
    timeout = settings.visibility_timeouts.get(workload, settings.visibility_timeouts["default"])
    return timeout * 2 / 3


def run_job(task, job_id: str, body) -> None:
    """Claim the job, run its body once, record the outcome."""
    settings = _settings()
    raw_id, job_id = job_id, jobstore.as_uuid(job_id)
    if job_id is None:
        log.error("task %s: %r is not a job id; message dropped", task.name, raw_id)
        return
    stale = stale_after(settings, task.request.delivery_info)
    worker = f"{task.request.hostname or 'local'}:{os.getpid()}"
    claim = jobstore.claim(db.session, job_id, worker, stale)
    if not claim.claimed:
        if claim.job is not None and claim.job.cancel_requested_at is not None:
            jobstore.cancel_abandoned(db.session, job_id, stale)
        log.info("job %s not started: %s", job_id, claim.reason)
        return
    ctx = JobContext(job=claim.job, attempt=claim.job.attempts, worker=worker)
    log.info("job %s (%s) started, attempt %d, on %s", job_id, ctx.job.kind, ctx.attempt, worker)
    try:
        result = body(ctx)
    except JobCancelled:
        _finish(ctx, lifecycle.CANCELLED, error="cancelled by its owner")
    except JobFailed as exc:
        _finish(ctx, lifecycle.FAILED, error=str(exc))
    except JobDeferred as exc:
        _defer(task, ctx, exc)
    except TRANSIENT_ERRORS as exc:
        _retry_or_fail(task, ctx, exc, settings)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _finish(ctx, lifecycle.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(ctx, _outcome(ctx.job), result=result)


def _outcome(job: Job) -> str:
    db.session.refresh(job)
    return lifecycle.outcome(job.total, job.done, job.failed)


def _finish(ctx: JobContext, status: str, result=None, error=None) -> None:
    if not jobstore.finish(db.session, ctx.job.id, ctx.attempt, status, result, error):
        log.warning("job %s: attempt %d no longer holds the job; outcome %s not recorded",
                    ctx.job.id, ctx.attempt, status)
        return
    log.info("job %s %s", ctx.job.id, status)


def _defer(task, ctx: JobContext, exc: JobDeferred) -> None:
    """Hand the message back to wait in the queue (a limit is reached), not in a worker."""
    delay = max(1, round(exc.delay))
    jobstore.back_to_queue(db.session, ctx.job.id, ctx.attempt, error=str(exc))
    log.info("job %s deferred for %ds: %s", ctx.job.id, delay, exc)
    raise task.retry(countdown=0, max_retries=None, delay_seconds=delay)


def _retry_or_fail(task, ctx: JobContext, exc: BaseException, settings: Settings) -> None:
    retries = task.request.retries or 0
    reason = f"{type(exc).__name__}: {exc}"
    if retries >= settings.task_max_retries:
        _finish(ctx, lifecycle.FAILED,
                error=f"gave up after {retries + 1} attempts; last error: {reason}")
        return
    delay = round(retry_delay(retries + 1, settings.retry_backoff_base, settings.retry_backoff_max))
    jobstore.back_to_queue(db.session, ctx.job.id, ctx.attempt,
                           error=f"attempt {ctx.attempt} failed ({reason}); retrying in {delay}s")
    log.warning("job %s: transient error (%s); retry %d in %ds", ctx.job.id, reason,
                retries + 1, delay)
    # countdown=0 keeps Celery from holding an ETA message in worker memory;
    # SQS itself delays the new message (DelaySeconds, at most 15 minutes).
    raise task.retry(exc=exc, countdown=0, max_retries=None, delay_seconds=delay)
