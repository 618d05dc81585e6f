"""SQS messages as an AWS Lambda event source mapping hands them to a function, and back.

An event is ``{"Records": [record, ...]}``; a record carries the message's id, receipt
handle, body, attributes (``ApproximateReceiveCount``…) and the queue's ARN. A function
with ``ReportBatchItemFailures`` answers ``{"batchItemFailures": [{"itemIdentifier":
<messageId>}, ...]}``: those messages come back after their visibility timeout, the
others are deleted. Pure: the local stand-in builds the same shapes from a receive.
"""
from __future__ import annotations

from typing import Iterable


def record(message: dict, queue_arn: str, region: str) -> dict:
    """The record an event source mapping makes of ``message`` (as ReceiveMessage gives it)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {name: _to_record(value) for name, value in
                              (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def message(event_record: dict) -> dict:
    """The SQS message of an event record, as ReceiveMessage would have returned it."""
    return {
        "MessageId": event_record["messageId"],
        "ReceiptHandle": event_record["receiptHandle"],
        "Body": event_record["body"],
        "Attributes": dict(event_record.get("attributes") or {}),
        "MessageAttributes": {name: _to_message(value) for name, value in
                              (event_record.get("messageAttributes") or {}).items()},
        "MD5OfBody": event_record.get("md5OfBody", ""),
    }


def queue_name(arn: str) -> str:
    """The queue's name in its ARN (``arn:aws:sqs:<region>:<account>:<name>``)."""
    return arn.rsplit(":", 1)[-1]


def workload(arn: str, prefix: str) -> str | None:
    """The workload whose queue the ARN names (its name less ``prefix``); None if not ours."""
    name = queue_name(arn)
    return name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else None


def failures(message_ids: Iterable[str]) -> dict:
    """A partial batch response reporting ``message_ids`` as failed."""
    return {"batchItemFailures": [{"itemIdentifier": i} for i in message_ids]}


def failed_ids(response) -> set[str]:
    """The message ids a function's answer reports failed (no list: none, as Lambda reads it)."""
    items = response.get("batchItemFailures") if isinstance(response, dict) else None
    return {item.get("itemIdentifier") for item in items or () if isinstance(item, dict)}


def _to_record(value: dict) -> dict:
    return {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
            "stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}


def _to_message(value: dict) -> dict:
    kept = {"DataType": value.get("dataType"), "StringValue": value.get("stringValue"),
            "BinaryValue": value.get("binaryValue")}
    return {k: v for k, v in kept.items() if v is not None}
