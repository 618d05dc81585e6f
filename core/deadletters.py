"""Dead-letter messages for operators: look at them without taking them, and send them back.

Used by the operator page (``webapp/views/operator.py``) and the workers' dead-letter
sweep (``tasks/deadletter.py``), which hands back what it read the same way.

SQS has no way to read a message without receiving it. A peek receives the
messages and at once makes them visible again (visibility 0), so the worker's
dead-letter sweep and the next look still find them. A redrive receives,
sends each body to the main queue and deletes only what was sent (moto has no
``StartMessageMoveTask``, and this works on both). A message a worker
dead-lettered because no worker can run it (``core.poison``) stays: sent back,
it would only be dead-lettered again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from core import envelope, poison

HOLD_SECONDS = 30  # a crashed peek or redrive hands its messages back after this long
_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]


@dataclass(frozen=True)
class DeadLetter:
    """What an operator needs to know about one dead-lettered message."""

    message_id: str
    task: str | None
    job_id: str | None
    receives: int
    sent_at: datetime | None
    reason: str | None = None  # why a worker refused to run it, if it did


def letter(message: dict) -> DeadLetter:
    """The operator's view of an SQS message (as ``receive_message`` returns it)."""
    parsed = envelope.parse(message.get("Body", ""))
    attributes = message.get("Attributes", {})
    sent = attributes.get("SentTimestamp")
    return DeadLetter(message_id=message["MessageId"], task=parsed.task, job_id=parsed.job_id,
                      receives=int(attributes.get("ApproximateReceiveCount", 0)),
                      sent_at=datetime.fromtimestamp(int(sent) / 1000, timezone.utc)
                      if sent else None, reason=poison.reason_of(message))


def peek(sqs, url: str, limit: int = 50) -> list[DeadLetter]:
    """Up to ``limit`` messages of the queue at ``url``, each left visible again."""
    found: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        while len(found) < limit:
            batch = _receive(sqs, url, min(10, limit - len(found)))
            handles += [m["ReceiptHandle"] for m in batch]
            fresh = [m for m in batch if m["MessageId"] not in found]
            if not fresh:
                break
            found.update((m["MessageId"], letter(m)) for m in fresh)
    finally:
        release(sqs, url, handles)
    return list(found.values())


def redrive(sqs, dead_url: str, main_url: str, limit: int = 100,
            before_send: Callable[[DeadLetter], None] = lambda _: None) -> list[DeadLetter]:
    """Move up to ``limit`` messages from ``dead_url`` back to ``main_url``; returns them.

    ``before_send`` sees each message before it is sent (to queue its job again).
    Messages no worker can run stay in ``dead_url``.
    """
    moved: list[DeadLetter] = []
    kept: list[str] = []
    try:
        while len(moved) < limit:
            batch = _receive(sqs, dead_url, min(10, limit - len(moved)))
            if not batch:
                break
            kept += [m["ReceiptHandle"] for m in batch if poison.reason_of(m)]
            batch = [m for m in batch if not poison.reason_of(m)]
            for message in batch:
                before_send(letter(message))
            sent = _send(sqs, main_url, batch) if batch else set()
            _delete(sqs, dead_url, [m for m in batch if m["MessageId"] in sent])
            release(sqs, dead_url, [m["ReceiptHandle"] for m in batch if m["MessageId"] not in sent])
            moved += [letter(m) for m in batch if m["MessageId"] in sent]
            if len(sent) < len(batch):
                break
    finally:
        release(sqs, dead_url, kept)
    return moved


def _receive(sqs, url: str, count: int) -> list[dict]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, WaitTimeSeconds=0,
                               VisibilityTimeout=HOLD_SECONDS, AttributeNames=_ATTRIBUTES,
                               MessageAttributeNames=["All"]).get("Messages", [])


def _send(sqs, url: str, batch: list[dict]) -> set[str]:
    """Send the bodies (and attributes) of ``batch``; returns the ids of those sent."""
    entries = []
    for message in batch:
        entry = {"Id": message["MessageId"].replace("-", "")[:80], "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    ok = {entry["Id"] for entry in answer.get("Successful", [])}
    return {m["MessageId"] for m, e in zip(batch, entries) if e["Id"] in ok}


def _delete(sqs, url: str, batch: list[dict]) -> None:
    if batch:
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])


def release(sqs, url: str, handles: list[str]) -> None:
    """Make the received messages of ``handles`` visible again at once."""
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(handles[start:start + 10])])
