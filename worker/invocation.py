"""Run the task of one SQS message handed over by an event source, as a Celery worker would.

The message goes the way a worker's message goes: screened (``core.poison``; one
no worker can run is moved to the dead-letter queue at once, with the reason),
decoded by the SQS transport (``broker.dead_letter.DeadLetteringChannel.delivered``),
made the worker's Celery request (``worker.request.KeptRequest``: the same request
dict, with id, retries, delivery info and hostname) and traced by Celery's own
tracer (``celery.app.trace.trace_task``), so the job runtime's ``task.retry`` sends
a new message through the broker. While it runs, the visibility keeper extends the
message and renews the job's claim.

Whether the message is then done with (``settled``) decides what the event source
does with it: done ones are deleted; the others come back after their visibility
timeout, and SQS dead-letters them after ``MAX_RECEIVE_COUNT`` receives.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property

from celery import states
from celery.app.trace import trace_task

from broker.dead_letter import DeadLetterMover
from core import poison, sqsevents
from core.deadline import Deadline
from core.settings import Settings
from tasks import deadlines
from tasks.runtime import JobEndedFailed
from worker.keeper import Held, VisibilityKeeper
from worker.request import KeptRequest

log = logging.getLogger(__name__)


def settled(state: str | None, retval: object = None) -> tuple[bool, str]:
    """Whether a traced task's message is done with, and what became of it (for the log).

    Done: the task ran (its job recorded its outcome, failed included) or handed the job
    back on a new message (``Retry``). Not done: anything else, such as a retry that
    could not be sent (``Reject``) or an error the job runtime did not turn into an outcome.
    """
    if state in (None, states.SUCCESS):
        return True, "ran"
    if state == states.RETRY:
        return True, "handed back on a new message"
    if state == states.IGNORED:
        return True, "ignored by its task"
    if state == states.FAILURE and isinstance(retval, JobEndedFailed):
        return True, "ran; its job failed"
    return False, f"{state}: {type(retval).__name__}: {retval}"


@dataclass
class Invoker:
    """Runs event records' tasks on one Celery app (a container's, built once)."""

    settings: Settings
    app: object  # the worker's Celery app
    channel: object  # a DeadLetteringChannel of the app's broker connection
    sqs: object
    urls: dict[str, str]  # queue name -> URL
    keeper: VisibilityKeeper
    hostname: str
    mover: DeadLetterMover
    #: How many messages this invoker has moved to a dead-letter queue.
    dead_lettered: int = 0

    @cached_property
    def task_names(self) -> list[str]:
        return sorted(n for n in self.app.tasks if not n.startswith("celery."))

    def run(self, event_record: dict, deadline: Deadline | None = None) -> bool:
        """Run the record's task; whether its message is done with."""
        arn = event_record.get("eventSourceARN", "")
        name, workload = sqsevents.queue_name(arn), sqsevents.workload(arn, self.settings.queue_prefix)
        message, url = sqsevents.message(event_record), self.urls.get(name)
        if url is None or workload not in self.settings.worker_queues:
            log.error("message %s comes from %s, a queue this function does not serve "
                      "(WORKER_QUEUES=%s); it goes back to its queue", message["MessageId"],
                      name, ",".join(self.settings.worker_queues))
            return False
        problem = poison.problem(message["Body"], self.task_names)
        if problem is None:
            try:
                request = self._request(message, url, workload)
            except Exception as exc:  # what Celery's consumer would refuse (a bad ETA)
                problem = f"invalid task message: {exc}"
        if problem is not None:
            moved = self.mover.move(self.sqs, name, url, message, problem)
            self.dead_lettered += moved
            return moved
        return self._trace(request, Held(url, message["ReceiptHandle"], request.job_id(),
                                         self.settings.visibility_timeouts[workload]), deadline)

    def _request(self, message: dict, url: str, workload: str) -> KeptRequest:
        delivered = self.channel.delivered(message, url, workload)
        return KeptRequest(delivered, app=self.app, hostname=self.hostname,
                        task=self.app.tasks[delivered.headers["task"]])

    def _trace(self, request: KeptRequest, held: Held, deadline: Deadline | None) -> bool:
        _, _, embed = request.message.payload
        info = dict(request.request_dict, loglevel=None, logfile=None, is_eager=False,
                    **(embed or {}))
        self.keeper.hold(request.id, held)
        try:
            with deadlines.within(deadline) if deadline else nullcontext():
                _, traced, _, _ = trace_task(request.task, request.id, request.args,
                                             request.kwargs, info, hostname=self.hostname,
                                             loader=self.app.loader, app=self.app)
        finally:
            self.keeper.drop(request.id)
        done, what = settled(getattr(traced, "state", None), getattr(traced, "retval", None))
        if not done:
            log.error("task %s[%s] %s; its message comes back after its visibility timeout",
                      request.name, request.id, what)
        return done
