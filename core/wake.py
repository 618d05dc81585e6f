"""Wake signals: a producer tells the autoscaler that work reached a queue.

A schedule fires once a minute at best, so with workers at zero the first job
would wait that long before a worker is even requested. Producers also drop a
tiny message on a FIFO "wake" queue; the autoscaler (a Lambda triggered by
that queue in AWS, the local loop on a laptop) consumes only these, never the
tasks. Deduplication ids per workload and time slot keep the signal cheap: at
most one wake per workload per slot reaches the queue.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Callable

WAKE_SLOT_SECONDS = 10


def wake_queue_name(prefix: str) -> str:
    """The name of the wake queue for a queue prefix."""
    return f"{prefix}wake.fifo"


def dedup_id(workload: str, now: float, slot: float = WAKE_SLOT_SECONDS) -> str:
    """One id per workload per time slot: SQS drops repeats within five minutes."""
    return f"{workload}-{int(now // slot)}"


class Waker:
    """Sends wake signals."""

    def wake(self, workload: str) -> None:
        raise NotImplementedError


class MemoryWaker(Waker):
    """Records the workloads it was asked to wake."""

    def __init__(self):
        self.woken: list[str] = []

    def wake(self, workload: str) -> None:
        self.woken.append(workload)


class SqsWaker(Waker):
    """Sends wake messages to the FIFO wake queue, at most one per workload per slot."""

    def __init__(self, sqs, queue_url: str, clock: Callable[[], float] = time.time,
                 slot: float = WAKE_SLOT_SECONDS):
        self.sqs, self.queue_url, self.clock, self.slot = sqs, queue_url, clock, slot
        self._sent: dict[str, str] = {}
        self._lock = threading.Lock()

    def wake(self, workload: str) -> None:
        key = dedup_id(workload, self.clock(), self.slot)
        with self._lock:
            if self._sent.get(workload) == key:
                return
            self._sent[workload] = key
        self.sqs.send_message(QueueUrl=self.queue_url, MessageGroupId=workload,
                              MessageDeduplicationId=key,
                              MessageBody=json.dumps({"wake": workload}))
