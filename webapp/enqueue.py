"""Sending a job's task to its queue: the one thing the web app asks of Celery.

``Enqueuer`` is the interface; ``CeleryEnqueuer`` sends over SQS and
``MemoryEnqueuer`` records what would be sent (for code that has no queue).
"""
from __future__ import annotations

import logging
import threading

from botocore.exceptions import BotoCoreError, ClientError

from core import aws, queues, wake
from core.kinds import JobKind
from core.settings import Settings

log = logging.getLogger(__name__)


class Enqueuer:
    """Sends the task of a job of some kind."""

    def send(self, kind: JobKind, job_id: str) -> None:
        raise NotImplementedError


class MemoryEnqueuer(Enqueuer):
    """Keeps what it is asked to send in a list."""

    def __init__(self):
        self.sent: list[tuple[str, str, str]] = []

    def send(self, kind: JobKind, job_id: str) -> None:
        self.sent.append((kind.task_name, kind.workload, job_id))


class CeleryEnqueuer(Enqueuer):
    """Sends by task name through a Celery app built on first use, then wakes
    the autoscaler so that a pool at zero gets a worker within seconds.

    Building it looks the queue URLs up in SQS, which a web process should do
    once, not at import time nor when the app is created (tests, CLI commands).
    """

    def __init__(self, settings: Settings, flask_app=None):
        self.settings = settings
        self.flask_app = flask_app
        self._celery = None
        self._waker: wake.Waker | None = None
        self._lock = threading.Lock()

    @property
    def celery(self):
        with self._lock:
            if self._celery is None:
                from tasks.app import create_celery
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
    name = wake.wake_queue_name(settings.queue_prefix)
    try:
        return wake.SqsWaker(sqs, sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError:
        log.warning("no wake queue %s: idle workers wake on the autoscaler's schedule only "
                    "(create it with `python -m core.provision`)", name)
        return wake.MemoryWaker()
