"""A job whose last attempt was lost with its worker goes back to the queue on a fresh message.

The message that brings such a job back has spent one receive on every lost
attempt, and SQS cannot reset a receive count: left alone, a few host losses
would dead-letter a healthy job. So the job is queued again on a new copy of
the message (same task, same job id, no receives yet) and the old one is
acknowledged. The job row counts lost attempts against ``WORKER_LOSS_BUDGET``;
past it the job fails. A task that crashes its own process still spends the
message's receives (``MAX_RECEIVE_COUNT``): its worker survives to release the
claim, so its job is not lost but released.
"""
from __future__ import annotations

import logging

from core import lifecycle, losses
from service.submit import confirm
from store import jobstore, outbox
from store.models import Job

log = logging.getLogger(__name__)


def take_back(task, run, job: Job) -> Job | None:
    """Queue ``job`` again on a fresh message, or fail it past the budget; the failed row."""
    after = losses.after_loss(job.kind, job.attempts, job.lost_attempts,
                              run.settings.worker_loss_budget, job.worker, job.heartbeat_at)
    moved = jobstore.lose(run.session, job, after)
    if moved is not None and moved.status == lifecycle.QUEUED:
        outbox.add(run.session, job.id)  # the relay sends it if this copy never leaves
    # Committed before the copy is sent: the copy must find the job queued.
    run.session.commit()
    if moved is None:
        return None  # another delivery of the message took it back first
    log.warning("job %s: %s", job.id, after.error)
    if moved.status == lifecycle.QUEUED:
        send_again(task)
        confirm(run.session, job.id)
        return None
    return moved


def send_again(task) -> None:
    """Send the running task's message again as a new SQS message."""
    # Not task.retry(): a lost worker is no failure of the task's own and must
    # not spend TASK_MAX_RETRIES.
    task.signature_from_request(task.request, retries=task.request.retries).apply_async()
