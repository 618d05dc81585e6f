"""Read a Celery task message as kombu's SQS transport stores it in SQS.

Used where a message is seen outside a worker: the dead-letter sweep, the
operator's view of a dead-letter queue.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskMessage:
    """The parts of a task message the job system cares about."""

    task: str | None
    task_id: str | None
    job_id: str | None


def parse(raw_body: str) -> TaskMessage:
    """Task name, task id and job id of an SQS message body; unknown parts are None."""
    envelope = _json(raw_body)
    if envelope is None:
        envelope = _json(_b64(raw_body))
    if not isinstance(envelope, dict):
        return TaskMessage(None, None, None)
    headers = envelope.get("headers") or {}
    body = envelope.get("body")
    if (envelope.get("properties") or {}).get("body_encoding") == "base64" and isinstance(body, str):
        body = _b64(body)
    payload = _json(body) if isinstance(body, (str, bytes)) else body
    return TaskMessage(headers.get("task"), headers.get("id"), _job_id(payload))


def _job_id(payload) -> str | None:
    if not isinstance(payload, list) or len(payload) < 2:
        return None
    args, kwargs = payload[0], payload[1]
    if isinstance(kwargs, dict) and isinstance(kwargs.get("job_id"), str):
        return kwargs["job_id"]
    if isinstance(args, list) and args and isinstance(args[0], str):
        return args[0]
    return None


def _json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _b64(text) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError, binascii.Error):
        return None
