"""Fails the jobs whose messages reached a dead-letter queue.

SQS moves a message to its queue's dead-letter queue after maxReceiveCount
receives: its task kept killing the process that ran it. A worker moves one
there at once when no worker can run it (``core.poison``); such a message
may name no job at all. The job row must say so rather than stay "running"
forever. The messages stay in the dead-letter queue for operators to inspect
or send back.
"""
from __future__ import annotations

import logging

from core import deadletters, envelope, poison
from core.settings import Settings
from tasks import notify
from store import jobstore

log = logging.getLogger(__name__)

BATCHES_PER_SWEEP = 10
SWEEP_VISIBILITY = 60


def reason(settings: Settings, workload: str, refused: str | None = None) -> str:
    """What the job's error says when its message was dead-lettered (``refused``: why
    a worker would not run it)."""
    if refused:
        return (f"Its message could not be run ({refused}), so a worker moved it to the "
                f"dead-letter queue {settings.dead_letter_name(workload)}.")
    return (f"The worker running this job stopped before finishing it "
            f"{settings.max_receive_count} times (a crash, or the process was killed or ran out "
            f"of memory), so its message was moved to the dead-letter queue "
            f"{settings.dead_letter_name(workload)}.")


def sweep(settings: Settings, sqs, session, dead_letter_urls: dict[str, str]) -> list[str]:
    """Fail the jobs of messages now in the dead-letter queues; returns their ids."""
    failed = []
    for workload, url in dead_letter_urls.items():
        handles = []
        try:
            for message in _messages(sqs, url):
                handles.append(message["ReceiptHandle"])
                job_id = _fail_job(settings, session, workload, message)
                if job_id is not None:
                    failed.append(job_id)
        finally:
            # Visible again at once, for the operator page's look and redrive.
            deadletters.release(sqs, url, handles)
    return failed


def _fail_job(settings: Settings, session, workload: str, message: dict) -> str | None:
    """Fail the job of a dead-lettered message unless a live worker runs it; its id if so."""
    job_id = jobstore.as_uuid(envelope.parse(message["Body"]).job_id)
    if job_id is None:
        return None
    stale = settings.visibility_timeouts[workload] * 2 / 3
    why = reason(settings, workload, poison.reason_of(message))
    job = jobstore.fail_dead_lettered(session, job_id, why, stale)
    if job is None:
        return None
    session.commit()
    log.error("job %s failed: its message is in %s", job_id, settings.dead_letter_name(workload))
    notify.job_ended(session, job, settings)
    return str(job_id)


def _messages(sqs, url: str):
    seen = set()
    for _ in range(BATCHES_PER_SWEEP):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    VisibilityTimeout=SWEEP_VISIBILITY,
                                    MessageAttributeNames=[poison.REASON]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message
