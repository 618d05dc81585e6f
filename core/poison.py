"""Which SQS messages a worker must not run, and how a dead-lettered one says why.

A worker that cannot run a message moves it to its queue's dead-letter queue at
once, with the reason as a message attribute (``REASON``), instead of letting
kombu or Celery fail on it once per receive until SQS dead-letters it.
"""
from __future__ import annotations

import uuid
from typing import Collection

from core import envelope

#: SQS's classic message size limit. A task message carries ids, never data, so
#: a larger one was not sent by this system (SQS itself now takes up to 1 MiB).
MAX_BODY_BYTES = 256 * 1024

REASON = "dead-letter-reason"
SOURCE_QUEUE = "source-queue"
SOURCE_MESSAGE_ID = "source-message-id"


def problem(raw_body: str | bytes, task_names: Collection[str] | None = None) -> str | None:
    """Why a worker cannot run the message of ``raw_body``, or None when it can.

    ``task_names`` are the tasks the worker knows; None skips that check. Every
    task of the job system takes a job id (a UUID) first.
    """
    size = len(raw_body.encode() if isinstance(raw_body, str) else raw_body)
    if size > MAX_BODY_BYTES:
        return f"body of {size} bytes is over SQS's 256 KiB message size"
    try:
        message = envelope.read(raw_body)
    except envelope.Malformed as exc:
        return str(exc)
    if task_names is not None and message.task not in task_names:
        return f"unknown task {message.task!r}"
    if not _is_uuid(message.job_id):
        return f"job id {message.job_id!r} is not a UUID"
    return None


def reason_of(message: dict) -> str | None:
    """The reason a worker gave for dead-lettering ``message`` (as SQS returns it), if any."""
    attribute = (message.get("MessageAttributes") or {}).get(REASON) or {}
    return attribute.get("StringValue")


def attributes(reason: str, queue: str, message_id: str) -> dict:
    """The message attributes of a dead-lettered copy."""
    return {name: {"DataType": "String", "StringValue": value[:1024]}
            for name, value in ((REASON, reason), (SOURCE_QUEUE, queue),
                                (SOURCE_MESSAGE_ID, message_id))}


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True
