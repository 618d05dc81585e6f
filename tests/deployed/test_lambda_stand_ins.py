"""The stand-ins for Lambda's runtime and SQS pollers that the deployed tier runs a
Lambda pool with: the event they hand over, what they delete, and a timeout that ends
the execution environment, as Lambda's do."""
from __future__ import annotations

import os
import time
import uuid

import boto3
import pytest

from tests.support.deployed import REGION, ROOT
from tests.support.event_source import EventSource, WarmFunction, record

HERE = "tests.deployed.test_lambda_stand_ins"


def echo(event, context):
    """A handler that answers with what it saw, and fails the messages whose body says so."""
    failed = [r["messageId"] for r in event.get("Records", []) if r["body"] == "fail"]
    if any(r["body"] == "sleep" for r in event.get("Records", [])):
        time.sleep(30)
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed],
            "seen": event, "pid": os.getpid(),
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function": context.function_name}


def test_a_record_is_the_sqs_event_lambda_documents():
    message = {"MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
               "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a", "Body": "test",
               "MD5OfBody": "098f6bcd4621d373cade4e832627b4f6",
               "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
                              "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                              "ApproximateFirstReceiveTimestamp": "1545082649185",
                              "VisibilityTimeout": "30"},
               "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "canary"}}}
    arn = "arn:aws:sqs:us-east-2:123456789012:my-queue"
    assert record(message, arn, "us-east-2") == {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a", "body": "test",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                       "ApproximateFirstReceiveTimestamp": "1545082649185"},
        "messageAttributes": {"kind": {"stringValue": "canary", "stringListValues": [],
                                       "binaryListValues": [], "dataType": "String"}},
        "md5OfBody": "098f6bcd4621d373cade4e832627b4f6", "eventSource": "aws:sqs",
        "eventSourceARN": arn, "awsRegion": "us-east-2"}


@pytest.fixture
def queue(moto_endpoint):
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    name = f"esm-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    return sqs, name, url


def source(moto_endpoint, name, tmp_path, timeout=10.0) -> EventSource:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "jobsys-worker-test",
           "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout), "PYTHONPATH": str(ROOT)}
    function = WarmFunction(f"{HERE}.echo", env, timeout, tmp_path / "function.log", str(ROOT))
    return EventSource(name, 1, function, {"AWS_ACCESS_KEY_ID": "emulator",
                                           "AWS_SECRET_ACCESS_KEY": "emulator"},
                       moto_endpoint, REGION)


def test_one_message_per_invocation_deleted_unless_reported_failed(moto_endpoint, queue, tmp_path):
    sqs, name, url = queue
    esm = source(moto_endpoint, name, tmp_path)
    try:
        for body in ("ok", "fail", "ok"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        done = [esm.poll_once() for _ in range(3)]
        assert [len(d.answer["seen"]["Records"]) for d in done] == [1, 1, 1]
        assert {d.answer["pid"] for d in done} == {done[0].answer["pid"]}, "one warm environment"
        assert esm.function.cold_starts == 1
        assert all(0 < d.answer["remaining_ms"] <= 10_000 for d in done)
        assert done[0].answer["function"] == "jobsys-worker-test"
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        # The failed message stays, invisible until its visibility timeout; the others are gone.
        assert (counts["ApproximateNumberOfMessages"],
                counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    finally:
        esm.stop()


def test_an_invocation_past_its_timeout_ends_its_environment(moto_endpoint, queue, tmp_path):
    sqs, name, url = queue
    esm = source(moto_endpoint, name, tmp_path, timeout=3)
    try:
        sqs.send_message(QueueUrl=url, MessageBody="sleep")
        started = time.monotonic()
        timed_out = esm.poll_once()
        assert timed_out.error == "Task timed out after 3 seconds"
        assert time.monotonic() - started < 10
        sqs.send_message(QueueUrl=url, MessageBody="ok")
        assert esm.poll_once().answer["batchItemFailures"] == []
        assert esm.function.cold_starts == 2
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "1", "the timed-out one stays"
    finally:
        esm.stop()


def test_a_mapping_on_a_queue_hiding_messages_less_than_the_timeout_is_refused(
        moto_endpoint, queue, tmp_path):
    _, name, _ = queue
    esm = source(moto_endpoint, name, tmp_path, timeout=90)
    with pytest.raises(ValueError, match="Queue visibility timeout: 60 seconds is less than "
                                         "Function timeout: 90 seconds"):
        esm.start()
