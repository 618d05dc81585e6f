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
import logging
import threading
import time
from typing import Callable

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

WAKE_SLOT_SECONDS = 10


def wake_queue_name(prefix: str) -> str:
    """The name of the wake queue for a queue prefix."""
    return f"{prefix}wake.fifo"


def dedup_id(workload: str, now: float, slot: float = WAKE_SLOT_SECONDS) -> str:
    """One id per workload per time slot: SQS drops repeats within five minutes."""
    return f"{workload}-{int(now // slot)}"


def find_queue(sqs, prefix: str, without: str) -> str | None:
    """The wake queue's URL; None when it does not exist or this role may not see it,
    with a warning saying what goes ``without`` it."""
    name = wake_queue_name(prefix)
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError:
        log.warning("no wake queue %s: %s (create it with `python -m core.provision`)",
                    name, without)
        return None


def send(sqs, queue_url: str, workload: str, dedup: str, body: dict) -> None:
    """One message on the wake queue, in its workload's message group."""
    sqs.send_message(QueueUrl=queue_url, MessageGroupId=workload,
                     MessageDeduplicationId=dedup, MessageBody=json.dumps(body))


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
        send(self.sqs, self.queue_url, workload, key, {"wake": workload})
