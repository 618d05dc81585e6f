"""``CeleryEnqueuer``: a job's task sent to its SQS queue by name, then the wake signal.

The one thing the web app and the Lambdas ask of Celery; the interface and its
in-memory stand-in are ``core.enqueue``.
"""
from __future__ import annotations

import logging
import threading

from botocore.exceptions import BotoCoreError, ClientError

from core import aws, queues, wake
from core.kinds import JobKind
from core.settings import Settings
from core.enqueue import Enqueuer

log = logging.getLogger(__name__)


class CeleryEnqueuer(Enqueuer):
    """Sends by task name through a Celery app built on first use, then wakes
    the autoscaler so that a pool at zero gets a worker within seconds.

    Building it looks the queue URLs up in SQS, which a web process should do
    once, not at import time nor when the app is created (tests, CLI commands).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._celery = None
        self._waker: wake.Waker | None = None
        self._lock = threading.Lock()

    @property
    def celery(self):
        with self._lock:
            if self._celery is None:
                from broker.app import create_celery
                sqs = aws.client(self.settings, "sqs")
                urls = queues.resolve_urls(self.settings, sqs)
                self._waker = _waker(self.settings, sqs)
                self._celery = create_celery(self.settings, urls, include=())
        return self._celery

    def send(self, kind: JobKind, job_id: str) -> None:
        self.celery.send_task(kind.task_name, args=[job_id], queue=kind.workload)
        try:
            self._waker.wake(kind.workload)
        except (ClientError, BotoCoreError) as exc:
            # The job is queued; the autoscaler's schedule finds it within a minute.
            log.warning("could not send the wake signal for %s: %s", kind.workload, exc)


def _waker(settings: Settings, sqs) -> wake.Waker:
    url = wake.find_queue(sqs, settings.queue_prefix,
                          without="idle workers wake on the autoscaler's schedule only")
    return wake.MemoryWaker() if url is None else wake.SqsWaker(sqs, url)
