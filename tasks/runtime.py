"""The life of a job inside a worker: claim, run, record the outcome, retry, notify.

Every task runs through ``JobTask``: it takes the job id from the message once,
opens the task's database session, runs the task, and afterwards e-mails the
owner of a job that ended and tells Celery (and Flower) the truth about a job
this run failed. Job tasks are plain functions of a ``JobContext`` wrapped by
``job_task``: the wrapper claims the job (so a redelivered message does
nothing twice; a job lost with its worker goes back to the queue on a fresh
message, ``tasks.lost``) and maps errors to outcomes: ``JobFailed`` fails the job,
transient errors are retried with backoff, ``JobCancelled`` cancels it,
``JobDeferred`` waits in the queue, anything unexpected fails it.

Each task call has a deadline (``tasks.deadlines``): ``JobContext.check_cancelled``
raises ``RanTooLong`` past it, which fails the job with nothing half-written.
"""
from __future__ import annotations

import logging
import os
import math
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, NoReturn

import psycopg
from celery import Task, shared_task
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from core import lifecycle, logs, metrics, reports
from core.backoff import retry_delay
from core.deadline import Deadline
from core.errors import JobCancelled, JobDeferred, JobFailed, TransientJobError
from core.settings import Settings
from service.submit import confirm
from store import jobstore, outbox
from store.models import Job
from tasks import deadlines, lost, notify

log = logging.getLogger(__name__)

#: The database went away (a restart, a failover): the connection is lost, not the job.
DATABASE_LOST: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, psycopg.OperationalError,
    psycopg.InterfaceError)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError, ConnectionError, TimeoutError, *DATABASE_LOST)


#: The longest SQS delays a message (DelaySeconds).
SQS_MAX_DELAY = 900


class JobEndedFailed(Exception):
    """The task ran to its end and its job failed; the job row says why."""


@dataclass
class TaskRun:
    """One task call: its settings, session and job id, and the job row as the run left it."""

    settings: Settings
    sessions: sessionmaker
    session: Session
    job_id: uuid.UUID | None
    deadline: Deadline | None = None  # when the call must stop
    ended: Job | None = None      # this run ended the job
    found_ended: Job | None = None  # the job had ended before this run
    claimed: bool = False         # this run claimed the job (and ran its body)

    def end(self, job: Job | None) -> Job | None:
        """Note that this run ended ``job`` (a store's returned row; None if it did not)."""
        if job is not None:
            self.ended = job
        return job


_run: ContextVar[TaskRun] = ContextVar("jobsys_task_run")


def current() -> TaskRun:
    """The task call this code runs in."""
    return _run.get()


def session() -> Session:
    """The running task's database session."""
    return _run.get().session


class JobTask(Task):
    """Celery's task base for job tasks; ``tasks.app`` binds settings and sessions.

    A failed job is a FAILURE in Celery's (and Flower's) view, logged without a
    traceback (the job row holds the error); its message is acknowledged as any
    other (``task_acks_on_failure_or_timeout``), so it is not run again.
    """

    throws = (JobEndedFailed,)
    settings: Settings | None = None
    sessions: sessionmaker | None = None
    #: Where the run times of ended jobs go; the worker (worker.main) wires the autoscaler's.
    reporter: reports.Reporter = reports.Reporter()

    def __call__(self, *args, **kwargs):
        raw = kwargs.get("job_id", args[0] if args else None)
        with self.sessions() as db:
            run = TaskRun(self.settings, self.sessions, db, jobstore.as_uuid(raw),
                          deadline=deadlines.of_task(self, self.settings))
            token = _run.set(run)
            # Every line of this call carries them; claim() adds the kind and attempt.
            fields = logs.bind(job_id=run.job_id, task_id=self.request.id)
            try:
                result = self.run(*args, **kwargs)
                _after(run, self.request.delivery_info, self.reporter)
            except DATABASE_LOST as exc:
                again = self._after_database_lost(db, exc)
                if again is exc:
                    raise
                raise again from exc
            finally:
                logs.unbind(fields)
                _run.reset(token)
        return result

    def _after_database_lost(self, db: Session, exc: BaseException):
        """Celery's ``Retry`` for a task whose database went away before its outcome was
        recorded: its message comes back once its claim is stale, so that the job is taken
        back (a lost attempt) rather than refused as running, or acknowledged and forgotten."""
        try:
            db.rollback()
        except DATABASE_LOST:
            pass  # the session is closed with its dead connection
        delay = math.ceil(stale_after(self.settings, self.request.delivery_info)) + 5
        if delay > SQS_MAX_DELAY:
            # SQS delays a message 15 minutes at most. A queue with a longer visibility
            # timeout (a Lambda pool's) brings the message back itself once it is not
            # deleted: the error leaves it undeleted (a partial batch failure).
            log.warning("task %s: the database went away (%s); the message comes back "
                        "after its visibility timeout", self.name, str(exc).splitlines()[0])
            return exc
        log.warning("task %s: the database went away (%s); the message comes back in %ds",
                    self.name, str(exc).splitlines()[0], delay)
        return self.retry(exc=exc, countdown=0, max_retries=None, delay_seconds=delay,
                          throw=False)


def _after(run: TaskRun, delivery_info: dict | None, reporter: reports.Reporter) -> None:
    """Measure and report a job this run ended; e-mail about a job that ended (once,
    whoever ended it); FAILURE if this run failed it."""
    job = run.ended or run.found_ended
    if job is None:
        return
    run.session.commit()
    if run.ended is not None and run.settings.metrics == "emf":
        _measure(run.ended, run.settings, delivery_info)
    if run.ended is not None and run.claimed:
        _report(run.ended, delivery_info, reporter)
    notify.job_ended(run.session, job, run.settings)
    if run.ended is not None and run.ended.status == lifecycle.FAILED:
        raise JobEndedFailed(run.ended.error or "the job failed")


def _measure(job: Job, settings: Settings, delivery_info: dict | None) -> None:
    """One EMF line on stdout: the job's queue wait, run time and outcome."""
    metrics.write(metrics.job_ended(
        settings.metrics_namespace, job.kind, workload_of(delivery_info), job.status,
        job.created_at, job.started_at, job.finished_at, time.time(), {"JobId": str(job.id)}))


def _report(job: Job, delivery_info: dict | None, reporter: reports.Reporter) -> None:
    """Hand the run time of a job that ran once to the reporter (the autoscaler's service
    estimate): a retried or deferred job's row spans its waits as well."""
    if job.attempts != 1 or job.started_at is None or job.finished_at is None:
        return
    seconds = (job.finished_at - job.started_at).total_seconds()
    if seconds >= 0:
        reporter.ended(workload_of(delivery_info), seconds)


def workload_of(delivery_info: dict | None) -> str:
    """The workload whose queue a task's message came from."""
    return (delivery_info or {}).get("routing_key") or "default"


@dataclass
class JobContext:
    """What a job body sees: its row, its attempt, and ways to report back."""

    job: Job
    attempt: int
    worker: str
    session: Session
    result: dict = field(default_factory=dict)
    deadline: Deadline | None = None

    @property
    def params(self) -> dict:
        return self.job.params or {}

    def progress(self, *, total=None, done=None, failed=None) -> None:
        """Record progress counts (visible through the API while the job runs)."""
        jobstore.progress(self.session, self.job.id, self.attempt,
                          total=total, done=done, failed=failed)
        self.session.commit()

    def check_cancelled(self) -> None:
        """Raise ``RanTooLong`` past the job's deadline, ``JobCancelled`` if the owner asked
        the job to stop."""
        deadlines.check(self.deadline)
        cancelled = jobstore.cancel_requested(self.session, self.job.id)
        self.session.commit()
        if cancelled:
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


def stale_after(settings: Settings, delivery_info: dict | None) -> float:
    """Seconds after which a running job's claim counts as abandoned."""
    timeout = settings.visibility_timeouts.get(workload_of(delivery_info),
                                               settings.visibility_timeouts["default"])
    return timeout * 2 / 3


def worker_name(task) -> str:
    """Who runs ``task``: the worker's host name and this process."""
    return f"{task.request.hostname or 'local'}:{os.getpid()}"


def claim(task, raw_id) -> Job | None:
    """Claim the running task's job for this attempt; the row, or None (logged why)."""
    run = current()
    if run.job_id is None:
        log.error("task %s: %r is not a job id; message dropped", task.name, raw_id)
        return None
    stale = stale_after(run.settings, task.request.delivery_info)
    got = jobstore.claim(run.session, run.job_id, worker_name(task), stale)
    run.claimed = got.claimed
    if got.job is not None:
        logs.bind(kind=got.job.kind, attempt=got.job.attempts if got.claimed else None)
    if not got.claimed and got.job is not None and got.job.cancel_requested_at is not None:
        run.end(jobstore.cancel_abandoned(run.session, run.job_id, stale))
    elif got.lost:
        run.end(lost.take_back(task, run, got.job))
    run.session.commit()
    if got.claimed:
        return got.job
    if got.job is not None and got.job.status in lifecycle.FINISHED and run.ended is None:
        run.found_ended = got.job
    log.info("job %s not started: %s", run.job_id, got.reason)
    return None


def run_job(task, raw_id: str, body) -> None:
    """Claim the job, run its body once, record the outcome."""
    job = claim(task, raw_id)
    if job is None:
        return
    run = current()
    ctx = JobContext(job=job, attempt=job.attempts, worker=worker_name(task), session=run.session,
                     deadline=run.deadline)
    log.info("job %s (%s) started, attempt %d, on %s", job.id, job.kind, ctx.attempt, ctx.worker)
    try:
        result = body(ctx)
    except JobCancelled:
        _finish(ctx, lifecycle.CANCELLED, error="cancelled by its owner")
    except JobFailed as exc:
        _finish(ctx, lifecycle.FAILED, error=str(exc))
    except JobDeferred as exc:
        _defer(task, ctx, exc)
    except TRANSIENT_ERRORS as exc:
        _retry_or_fail(task, ctx, exc, run.settings)
    except Exception as exc:
        log.exception("job %s failed", job.id)
        _finish(ctx, lifecycle.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(ctx, None, result=result)


def _finish(ctx: JobContext, status: str | None, result=None, error=None) -> None:
    """End the attempt; ``status`` None means "by its counts" (succeeded, partially failed...)."""
    if status is not None:
        ctx.session.rollback()  # a body that failed leaves nothing half-written
    ended = current().end(jobstore.finish(ctx.session, ctx.job.id, ctx.attempt,
                                          status or jobstore.by_counts(), result, error))
    ctx.session.commit()
    if ended is None:
        log.warning("job %s: attempt %d no longer holds the job; outcome %s not recorded",
                    ctx.job.id, ctx.attempt, status or "by its counts")
        return
    log.info("job %s %s", ctx.job.id, ended.status)


def _defer(task, ctx: JobContext, exc: JobDeferred) -> None:
    """Hand the message back to wait in the queue (a limit is reached), not in a worker."""
    delay = max(1, round(exc.delay))
    log.info("job %s deferred for %ds: %s", ctx.job.id, delay, exc)
    hand_back(task, ctx.session, ctx.job.id, ctx.attempt, str(exc), delay)


def _retry_or_fail(task, ctx: JobContext, exc: BaseException, settings: Settings) -> None:
    retries = task.request.retries or 0
    reason = f"{type(exc).__name__}: {exc}"
    if retries >= settings.task_max_retries:
        _finish(ctx, lifecycle.FAILED,
                error=f"gave up after {retries + 1} attempts; last error: {reason}")
        return
    delay = round(retry_delay(retries + 1, settings.retry_backoff_base, settings.retry_backoff_max))
    log.warning("job %s: transient error (%s); retry %d in %ds", ctx.job.id, reason,
                retries + 1, delay)
    hand_back(task, ctx.session, ctx.job.id, ctx.attempt,
              f"attempt {ctx.attempt} failed ({reason}); retrying in {delay}s", delay, exc=exc)


def hand_back(task, session: Session, job_id, attempt: int, error: str, delay: int,
              exc: BaseException | None = None) -> NoReturn:
    """Put the running job back in its queue and send the message that brings it back
    in ``delay`` seconds (raises Celery's ``Retry``).

    The job's pending send is committed with the change, so if the send fails or
    this process dies before it, the relay sends the job instead.
    """
    session.rollback()  # a body that failed leaves nothing half-written
    if jobstore.back_to_queue(session, job_id, attempt, error=error):
        outbox.add(session, job_id)
    session.commit()
    # countdown=0 keeps Celery from holding an ETA message in worker memory;
    # SQS itself delays the new message (DelaySeconds, at most 15 minutes).
    again = task.retry(exc=exc, countdown=0, max_retries=None, delay_seconds=delay, throw=False)
    confirm(session, job_id)
    raise again
