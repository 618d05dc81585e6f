"""Wake signals for the local loop: producers drop ``{"wake": workload}`` on a FIFO queue.

In AWS that queue triggers the Lambda directly (an SQS event source), and the
Lambda consumes only wake messages, never tasks. Locally this listener
long-polls the same queue and wakes the loop.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Callable, Iterable

log = logging.getLogger("autoscaler")


def wake_queue_name(prefix: str) -> str:
    """The wake queue's name for a queue prefix (as producers name it)."""
    return f"{prefix}wake.fifo"


def workloads_in(bodies: Iterable[str]) -> list[str]:
    """The workloads named by wake message bodies; malformed bodies are skipped."""
    found = []
    for body in bodies:
        try:
            workload = json.loads(body).get("wake")
        except (ValueError, AttributeError):
            continue
        if isinstance(workload, str) and workload not in found:
            found.append(workload)
    return found


def workloads_in_event(event: dict) -> list[str]:
    """The workloads named in a Lambda SQS event (empty for a scheduled event)."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    return workloads_in(r.get("body", "") for r in records if isinstance(r, dict))


class SqsWakeListener:
    """Receives and deletes wake messages, calling ``on_wake(workloads)`` for each batch."""

    def __init__(self, sqs, queue_url: str, on_wake: Callable[[list[str]], None],
                 wait_seconds: int = 10):
        self.sqs, self.queue_url, self.on_wake = sqs, queue_url, on_wake
        self.wait_seconds = wait_seconds

    def poll(self) -> list[str]:
        """One long poll; returns the workloads it woke for."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds).get("Messages", [])
        if not messages:
            return []
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        workloads = workloads_in(m.get("Body", "") for m in messages)
        self.on_wake(workloads)
        return workloads

    def run(self, stop_event: threading.Event) -> None:
        """Poll until ``stop_event`` is set (at most one long poll later)."""
        while not stop_event.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("reading wake signals failed")
                stop_event.wait(self.wait_seconds or 1)
