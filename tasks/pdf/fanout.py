"""Enqueue many task messages with SQS batch sends (ten per request).

Celery's ``send_task`` makes one SQS request per message; a batch of 10,000
documents in chunks of 20 is 500 messages, so the planner builds the same
messages kombu would and sends them ten at a time with ``SendMessageBatch``.
"""
from __future__ import annotations

import uuid
from typing import Iterable, Sequence

from kombu.asynchronous.aws.sqs.message import AsyncMessage
from kombu.serialization import dumps as serialize
from kombu.utils.json import dumps as to_json

from core.errors import TransientJobError

BATCH = 10  # SendMessageBatch's limit


def encode(celery, channel, task_name: str, args: Sequence, workload: str) -> str:
    """The SQS body kombu's SQS transport would send for ``task_name(*args)`` on ``workload``."""
    task = celery.amqp.as_task_v2(str(uuid.uuid4()), task_name, args=list(args), kwargs={})
    content_type, encoding, body = serialize(task.body, serializer="json")
    message = channel.prepare_message(body, 0, content_type, encoding, task.headers,
                                      dict(task.properties))
    message["body"], body_encoding = channel.encode_body(message["body"], channel.body_encoding)
    message["properties"].update(body_encoding=body_encoding, delivery_tag=str(uuid.uuid4()))
    # As Celery sends to a direct queue: the anonymous exchange, routed by queue
    # name. A retry (Task.retry) reads these back to find its queue.
    message["properties"]["delivery_info"].update(exchange="", routing_key=workload)
    raw = to_json(message)
    return AsyncMessage().encode(raw) if channel.sqs_base64_encoding else raw


def send(celery, sqs, queue_url: str, task_name: str, arg_lists: Iterable[Sequence],
         workload: str) -> int:
    """Send one ``task_name`` message per argument list; returns how many were sent."""
    sent = 0
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        batch: list[dict] = []
        for args in arg_lists:
            batch.append({"Id": str(len(batch)),
                          "MessageBody": encode(celery, channel, task_name, args, workload)})
            if len(batch) == BATCH:
                sent += _send_batch(sqs, queue_url, batch)
                batch = []
        if batch:
            sent += _send_batch(sqs, queue_url, batch)
    return sent


def _send_batch(sqs, queue_url: str, entries: list[dict]) -> int:
    failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed") or []
    if failed:
        raise TransientJobError(f"SQS refused {len(failed)} of {len(entries)} messages: "
                                f"{failed[0].get('Message') or failed[0].get('Code')}")
    return len(entries)
