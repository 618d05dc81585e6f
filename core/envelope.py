"""Read a Celery task message as kombu's SQS transport stores it in SQS.

``parse`` reads leniently, for places that only look at a message: the
dead-letter sweep, the operator's view of a dead-letter queue. ``read`` reads
strictly, for the worker, which must refuse a message it cannot run.
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


class Malformed(ValueError):
    """A message that is not a Celery task message; its text says what is wrong."""


def parse(raw_body: str) -> TaskMessage:
    """Task name, task id and job id of an SQS message body; unknown parts are None."""
    envelope = _outer(raw_body)
    if not isinstance(envelope, dict):
        return TaskMessage(None, None, None)
    headers = envelope.get("headers") or {}
    body = envelope.get("body")
    if (envelope.get("properties") or {}).get("body_encoding") == "base64" and isinstance(body, str):
        body = _b64(body)
    payload = _json(body) if isinstance(body, (str, bytes)) else body
    return TaskMessage(headers.get("task"), headers.get("id"), _job_id(payload))


def read(raw_body: str | bytes) -> TaskMessage:
    """The task message of an SQS body; ``Malformed`` saying why it is not one."""
    envelope = _outer(raw_body)
    if envelope is None:
        raise Malformed("not JSON (nor base64 of JSON)")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("properties"), dict) \
            or "body" not in envelope:
        raise Malformed("JSON that is not a kombu message envelope (no body and properties)")
    headers = envelope.get("headers")
    if not isinstance(headers, dict) or not headers.get("task") or not headers.get("id"):
        raise Malformed("no Celery 'task' and 'id' headers")
    if envelope.get("content-type") != "application/json":
        raise Malformed(f"content type {envelope.get('content-type')!r} is not application/json")
    payload = _json(_body_bytes(envelope))
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], list)
            and isinstance(payload[1], dict) and isinstance(payload[2], dict)):
        raise Malformed("task body is not JSON [args, kwargs, options]")
    return TaskMessage(headers["task"], headers["id"], _job_id(payload))


def _outer(raw_body):
    """The envelope: kombu base64-encodes the whole of it unless told not to."""
    envelope = _json(raw_body)
    if envelope is None and isinstance(raw_body, (str, bytes)):
        envelope = _json(_b64(raw_body.strip()))
    return envelope


def _body_bytes(envelope: dict):
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") != "base64":
        return body
    decoded = _b64(body) if isinstance(body, (str, bytes)) else None
    if decoded is None:
        raise Malformed("body_encoding is base64 but the body is not valid base64")
    return decoded


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
