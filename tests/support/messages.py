"""SQS message bodies as Celery and kombu's SQS transport write them, and malformed ones."""
from __future__ import annotations

import base64
import json
import uuid

from celery import Celery

_CELERY = Celery("messages", set_as_current=False)


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def envelope(task: str, args: list, kwargs: dict | None = None, **headers) -> dict:
    """kombu's envelope of a Celery (protocol 2) task message; ``headers`` change Celery's."""
    message = _CELERY.amqp.as_task_v2(str(uuid.uuid4()), task, args, kwargs or {})
    return {
        "body": b64(json.dumps(message.body)),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {**message.headers, **headers},
        "properties": {**message.properties, "body_encoding": "base64",
                       "delivery_info": {"exchange": "", "routing_key": "default"},
                       "delivery_tag": str(uuid.uuid4()), "priority": 0},
    }


def sqs_body(env: dict) -> str:
    """The SQS body of ``env``: kombu base64-encodes the whole JSON envelope."""
    return b64(json.dumps(env))


def task_body(task: str, job_id: str, **kwargs) -> str:
    """The SQS body of a well-formed task message for ``job_id``."""
    return sqs_body(envelope(task, [job_id], kwargs))


def with_body(job_id: str, body: str) -> str:
    """A canary envelope whose task body is replaced by ``body`` (already encoded)."""
    return sqs_body({**envelope("canary.run", [job_id]), "body": body})


def malformed(job_id: str) -> dict[str, tuple[str, str]]:
    """Shape → (SQS body, the reason a worker gives) for each kind of malformed message."""
    no_headers = envelope("canary.run", [job_id])
    no_headers["headers"] = {}
    return {
        "not JSON": ("hello, this is not a task", "not JSON"),
        "JSON, not an envelope": (json.dumps({"job": job_id}), "not a kombu message envelope"),
        "bad base64 body": (with_body(job_id, "not*base64"), "not valid base64"),
        "body not JSON": (with_body(job_id, b64("not json")), "task body is not JSON"),
        "unknown task": (task_body("no.such.task", job_id), "unknown task 'no.such.task'"),
        "job id not a UUID": (task_body("canary.run", "job-17"), "job id 'job-17' is not a UUID"),
        "no task headers": (sqs_body(no_headers), "no Celery 'task' and 'id' headers"),
        "over 256 KiB": (task_body("canary.run", job_id, pad="x" * 300_000), "256 KiB"),
    }
