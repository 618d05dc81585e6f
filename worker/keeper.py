"""Keeps the messages of running tasks invisible, and their jobs claimed.

kombu never extends an SQS message's visibility, so a task that runs longer
than its queue's visibility timeout would be delivered again while it still
runs. The worker's main process registers each task it hands to the pool;
this thread extends each message's visibility and renews its job's claim every
third of the timeout, until the task ends.

It also knows when the worker is busy: it turns ECS scale-in protection on
while any task runs and off when none does, tells how long the worker has been
idle, and writes a health file on every beat.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError

from worker.protection import NoTaskProtection, TaskProtection

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

    def __init__(self, sqs, renew_jobs: Callable[[Iterable[str]], object], interval: float,
                 protection: TaskProtection | None = None, health_file: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.sqs = sqs
        self.renew_jobs = renew_jobs
        self.interval = interval
        self.protection = protection or NoTaskProtection()
        self.health_file = health_file
        self.clock = clock
        self.idle_since = clock()
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, key: str, held: Held) -> None:
        with self._lock:
            was_idle = not self._held
            self._held[key] = held
        if was_idle:
            self.protection.set(True)

    def drop(self, key: str) -> None:
        with self._lock:
            now_idle = self._held.pop(key, None) is not None and not self._held
            if now_idle:
                self.idle_since = self.clock()
        if now_idle:
            self.protection.set(False)

    def idle_for(self) -> float:
        """Seconds since the last task ended (0 while one runs)."""
        with self._lock:
            return 0.0 if self._held else self.clock() - self.idle_since

    def held(self) -> list[Held]:
        with self._lock:
            return list(self._held.values())

    def start(self) -> None:
        self._write_health()
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
        if items:
            self.protection.set(True)  # renews the protection's expiry
        self._write_health()

    def _write_health(self) -> None:
        if not self.health_file:
            return
        record = {"pid": os.getpid(), "at": time.time(), "max_age": self.interval * 3 + 5}
        tmp = f"{self.health_file}.tmp"
        with open(tmp, "w") as out:
            json.dump(record, out)
        os.replace(tmp, self.health_file)
