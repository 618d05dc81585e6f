"""Sending a job's task to its queue: ``Enqueuer`` is the interface;
``MemoryEnqueuer`` records what would be sent (for code and tests that have no
queue); ``broker.enqueue.CeleryEnqueuer`` sends over SQS. No framework here:
the services take any of them."""
from __future__ import annotations

from core.kinds import JobKind


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
