"""A worker pool on AWS Lambda: ``handler`` runs the tasks of the SQS messages an event
source mapping hands it (BatchSize 1, ReportBatchItemFailures), through the same job
runtime as a Celery worker (``worker.invocation``).

    python -m worker.lambda_pool [--concurrency N]

is its local stand-in: it long-polls the queues of ``WORKER_QUEUES``, hands each
message to ``handler`` in the event an event source mapping would send, deletes what
the answer does not report failed, and runs up to ``LAMBDA_CONCURRENCY`` invocations
at once, each allowed Lambda's 900 s.

What a container builds once, on its first event: the settings, logging, the worker's
Celery app with the task code of its queues, the visibility keeper, and the check that
every kind of its queues fits in a Lambda run (``core.kinds.check_fits``): a pool
holding exports refuses to start, saying so. Each task also stops before its
invocation ends (``RESERVE_SECONDS`` early), failing its job with the reason. The
dead-letter sweep of its queues runs after an invocation when it is due.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from autoscaler.config import LAMBDA_MAX_SECONDS
from broker.dead_letter import DeadLetterMover
from core import aws, kinds, logs, queues, sqsevents
from core.deadline import Deadline
from core.errors import ConfigurationError
from core.settings import Settings
from core.sqspoll import Poller
from tasks import deadletter
from tasks.app import create_worker_celery, task_modules
from worker.invocation import Invoker
from worker.main import keeper_for, pdf_preflight, settings_or_none, units_of_work

log = logging.getLogger("worker.lambda_pool")
RUNTIME = "AWS Lambda"
#: Seconds kept back at the end of an invocation to record the outcome of a task
#: that had to stop.
RESERVE_SECONDS = 10

_pool: "Pool | None" = None
_building = threading.Lock()


@dataclass
class Pool:
    """What a Lambda container keeps between invocations."""

    settings: Settings
    invoker: Invoker
    sweep: Callable[[], object]  # the dead-letter sweep of the pool's queues
    next_sweep: float = 0.0
    sweeping: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        """Stop the keeper's thread (a container never needs to; tests and the local loop do)."""
        self.invoker.keeper.stop()

    def sweep_if_due(self, at_once: bool = False) -> None:
        """Sweep the dead-letter queues if ``DLQ_SWEEP_INTERVAL`` has passed since the last
        (and no other invocation of this process sweeps them now); ``at_once``: now, after
        any sweep in progress, since it may have looked before this invocation's moves."""
        if at_once:
            self.sweeping.acquire()
        elif time.monotonic() < self.next_sweep or not self.sweeping.acquire(blocking=False):
            return
        try:
            self.next_sweep = time.monotonic() + self.settings.dlq_sweep_interval
            self.sweep()
        except Exception:
            log.exception("the dead-letter sweep failed; it runs again after a later event")
        finally:
            self.sweeping.release()


def build(settings: Settings, function_name: str) -> Pool:
    """The pool for ``settings``; ``ConfigurationError`` when its queues cannot run on Lambda."""
    kinds.check_fits(settings.worker_queues, LAMBDA_MAX_SECONDS, RUNTIME, settings)
    pdf_preflight(settings.worker_queues)
    sqs = aws.client(settings, "sqs")
    urls = queues.resolve_urls(settings, sqs)
    app = create_worker_celery(settings, urls, include=task_modules(settings.worker_queues))
    app.loader.import_default_modules()
    in_session = units_of_work(settings)
    keeper = keeper_for(settings, sqs, in_session)
    keeper.start()
    dlq_urls = queues.dead_letter_urls(settings, sqs, settings.worker_queues)
    invoker = Invoker(settings=settings, app=app,
                      channel=app.connection_for_write().default_channel, sqs=sqs, urls=urls,
                      keeper=keeper, hostname=f"lambda:{function_name}",
                      mover=DeadLetterMover())
    return Pool(settings, invoker, sweep=lambda: in_session(
        lambda s: deadletter.sweep(settings, sqs, s, dlq_urls)))


def pool(function_name: str | None = None) -> Pool:
    """This container's pool, built on first use (a misconfigured one raises every time)."""
    global _pool
    with _building:
        if _pool is None:
            _pool = _built(function_name)
    return _pool


def _built(function_name: str | None) -> Pool:
    """A pool from the environment, its logging set up; the reason logged if it cannot be."""
    settings = Settings.from_env()
    logs.configure(settings, "worker-lambda")
    name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    try:
        built = build(settings, name)
    except ConfigurationError as exc:
        log.error("this function cannot serve %s: %s", ",".join(settings.worker_queues), exc)
        raise
    log.info("serving %s on %s as %s", ",".join(settings.worker_queues), RUNTIME, name)
    return built


def reset() -> None:
    """Forget this process's pool, so that the next event builds one from the environment."""
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = None


def handler(event: dict, context=None) -> dict:
    """Run each record's task; report the messages that should come back."""
    here = pool(getattr(context, "function_name", None))
    failed, moved = [], here.invoker.dead_lettered
    with logs.bound(aws_request_id=getattr(context, "aws_request_id", None)):
        for record in event.get("Records", []):
            if not here.invoker.run(record, invocation_deadline(context)):
                failed.append(record.get("messageId"))
        # A message this invocation dead-lettered may name a job: fail it now, not at the
        # pool's next invocation, which may never come.
        here.sweep_if_due(at_once=here.invoker.dead_lettered > moved)
    return sqsevents.failures(failed)


def invocation_deadline(context) -> Deadline | None:
    """When a task must stop to leave its invocation time to record its outcome."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    seconds = remaining() / 1000 - RESERVE_SECONDS
    return Deadline.after(seconds, (
        f"ran longer than the {max(seconds, 0):.0f} s its {RUNTIME} invocation had left (the "
        f"function's timeout, less {RESERVE_SECONDS} s kept to record the outcome); give the "
        f"function a longer timeout (at most {LAMBDA_MAX_SECONDS} s), or run the pool on ECS"))


class LocalContext:
    """What the local stand-in passes as a Lambda context: Lambda's longest timeout."""

    function_name = "local"

    def __init__(self, seconds: float = LAMBDA_MAX_SECONDS):
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


def local_poller(settings: Settings, sqs, concurrency: int) -> Poller:
    """The local stand-in of the pool's event source mappings: one record per invocation."""
    arns: dict[str, str] = {}

    def handle(url: str, message: dict) -> bool:
        if url not in arns:
            arns[url] = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        event = {"Records": [sqsevents.record(message, arns[url], settings.aws_region)]}
        answer = handler(event, LocalContext())
        return message["MessageId"] not in sqsevents.failed_ids(answer)

    return Poller(sqs, handle, concurrency=concurrency,
                  wait=min(settings.sqs_wait_time_seconds, 5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve WORKER_QUEUES as a Lambda pool would.")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="invocations at once (default: LAMBDA_CONCURRENCY)")
    args = parser.parse_args(argv)
    settings = settings_or_none("worker-lambda")
    if settings is None:
        return 2
    try:
        here = pool("local")
    except ConfigurationError:
        return 2  # the reason is logged
    concurrency = args.concurrency or settings.lambda_concurrency
    sqs = aws.client(settings, "sqs")
    urls = [here.invoker.urls[settings.queue_name(w)] for w in settings.worker_queues]
    loop = local_poller(settings, sqs, concurrency)
    loop.stop_on_signals()
    log.info("polling %s: up to %d invocations at once", ", ".join(urls), concurrency)
    loop.run(urls)
    reset()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
