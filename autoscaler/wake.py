"""Signals on the FIFO wake queue: producers' wakes and workers' readies and reports.

* ``{"wake": workload}``: work reached a queue (a producer, ``core.wake``);
* ``{"ready": workload}``: a worker consuming that queue takes tasks (its start-up ended);
* ``{"report": workload, "service_seconds": s, "jobs": n}``: a worker process ended ``n``
  jobs of that queue, ``s`` seconds each on average (``core.reports``).

In AWS that queue triggers the Lambda directly (an SQS event source), and the
Lambda consumes only these messages, never tasks. Locally this listener
long-polls the same queue and hands the signals to the loop.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

log = logging.getLogger("autoscaler")

WAKE, READY, REPORT = "wake", "ready", "report"
#: SQS message attributes that say when a message was sent (or else first received).
TIME_ATTRIBUTES = ("SentTimestamp", "ApproximateFirstReceiveTimestamp")


def wake_queue_name(prefix: str) -> str:
    """The wake queue's name for a queue prefix (as producers name it)."""
    return f"{prefix}wake.fifo"


@dataclass(frozen=True)
class Signal:
    """One message of the wake queue: its kind (``WAKE``, ``READY``, ``REPORT``), workload,
    when it was sent (epoch seconds; None if unknown) and, for a report, its figures."""

    kind: str
    workload: str
    at: float | None = None
    service_seconds: float = 0.0
    jobs: int = 0


def signal_in(body: str, at: float | None = None) -> Signal | None:
    """The signal a message body carries; None for a malformed one."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    kind = next((k for k in (WAKE, READY, REPORT) if isinstance(data, dict) and k in data), None)
    workload = data.get(kind) if kind else None
    if not isinstance(workload, str) or not workload:
        return None
    if kind != REPORT:
        return Signal(kind, workload, at)
    seconds, jobs = data.get("service_seconds"), data.get("jobs")
    if not (_number(seconds) and math.isfinite(seconds) and seconds > 0
            and type(jobs) is int and jobs > 0):
        return None
    return Signal(REPORT, workload, at, float(seconds), jobs)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sent_at(attributes: Mapping | None) -> float | None:
    """When a message was sent, from its SQS attributes (milliseconds); None if not there."""
    for name in TIME_ATTRIBUTES:
        try:
            return int((attributes or {})[name]) / 1000
        except (KeyError, TypeError, ValueError):
            continue
    return None


def signals_in(messages: Iterable[Mapping], body: str = "Body",
               attributes: str = "Attributes") -> list[Signal]:
    """The signals of SQS messages (``ReceiveMessage``'s, or with ``body="body",
    attributes="attributes"`` a Lambda event's records); malformed ones are skipped."""
    found = []
    for message in messages:
        if isinstance(message, Mapping):
            signal = signal_in(message.get(body, ""), sent_at(message.get(attributes)))
            if signal is not None:
                found.append(signal)
    return found


def signals_in_event(event: dict) -> list[Signal]:
    """The signals of a Lambda SQS event (none for a scheduled event)."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    return signals_in(records if isinstance(records, list) else [], "body", "attributes")


def woken(signals: Iterable[Signal]) -> list[str]:
    """The workloads woken by ``signals``, each once, in order."""
    found = []
    for signal in signals:
        if signal.kind == WAKE and signal.workload not in found:
            found.append(signal.workload)
    return found


def workloads_in(bodies: Iterable[str]) -> list[str]:
    """The workloads named by wake message bodies; other and malformed bodies are skipped."""
    return woken(filter(None, (signal_in(body) for body in bodies)))


def workloads_in_event(event: dict) -> list[str]:
    """The workloads woken in a Lambda SQS event (empty for a scheduled event)."""
    return woken(signals_in_event(event))


class SqsWakeListener:
    """Receives and deletes wake-queue messages, calling ``on_signals(signals)`` for each
    batch."""

    def __init__(self, sqs, queue_url: str, on_signals: Callable[[list[Signal]], None],
                 wait_seconds: int = 10):
        self.sqs, self.queue_url, self.on_signals = sqs, queue_url, on_signals
        self.wait_seconds = wait_seconds

    def poll(self) -> list[Signal]:
        """One long poll; returns the signals it received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=list(TIME_ATTRIBUTES)).get("Messages", [])
        if not messages:
            return []
        self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        signals = signals_in(messages)
        self.on_signals(signals)
        return signals

    def run(self, stop_event: threading.Event) -> None:
        """Poll until ``stop_event`` is set (at most one long poll later)."""
        while not stop_event.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("reading wake signals failed")
                stop_event.wait(self.wait_seconds or 1)
