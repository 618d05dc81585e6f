"""Keeps the messages of running tasks invisible, and their jobs claimed.

kombu never extends an SQS message's visibility, so a task that runs longer
than its queue's visibility timeout would be delivered again while it still
runs. The worker's main process registers each task it hands to the pool;
this thread extends each message's visibility and renews its job's claim every
third of the timeout, until the task ends.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    """A message a running task holds."""

    queue_url: str
    receipt_handle: str
    job_id: str | None
    visibility_timeout: int


class VisibilityKeeper:
    """Extends the visibility of held messages and renews their jobs' claims."""

    def __init__(self, sqs, renew_jobs: Callable[[Iterable[str]], object], interval: float):
        self.sqs = sqs
        self.renew_jobs = renew_jobs
        self.interval = interval
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, held: Held) -> None:
        with self._lock:
            self._held[key] = held

    def drop(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    def held(self) -> list[Held]:
        with self._lock:
            return list(self._held.values())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="visibility-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """Extend every held message once and renew the claims of their jobs."""
        items = self.held()
        for item in items:
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=item.queue_url, ReceiptHandle=item.receipt_handle,
                    VisibilityTimeout=item.visibility_timeout)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not extend the visibility of job %s's message: %s",
                            item.job_id, exc)
        job_ids = [i.job_id for i in items if i.job_id]
        if job_ids:
            try:
                self.renew_jobs(job_ids)
            except Exception:
                log.exception("could not renew the claims of jobs %s", job_ids)
