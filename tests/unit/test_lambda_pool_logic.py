"""Lambda pools without AWS: the event shapes, what becomes of a traced task's message,
and the time an invocation leaves its task."""
from __future__ import annotations

import pytest
from celery import states
from celery.exceptions import Reject, Retry

from core import sqsevents
from tasks.runtime import JobEndedFailed
from worker.invocation import settled
from worker.lambda_pool import RESERVE_SECONDS, invocation_deadline

ARN = "arn:aws:sqs:ap-northeast-1:123456789012:jobsys-default"
MESSAGE = {
    "MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "eyJib2R5IjogIiJ9",
    "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1764750000000"},
    "MessageAttributes": {"dead-letter-reason": {"DataType": "String", "StringValue": "why"}},
    "MD5OfBody": "abc",
}


def test_a_received_message_becomes_the_record_an_event_source_mapping_sends():
    record = sqsevents.record(MESSAGE, ARN, "ap-northeast-1")
    assert record == {
        "messageId": "m-1", "receiptHandle": "r-1", "body": "eyJib2R5IjogIiJ9",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1764750000000"},
        "messageAttributes": {"dead-letter-reason": {
            "stringValue": "why", "binaryValue": None, "stringListValues": [],
            "binaryListValues": [], "dataType": "String"}},
        "md5OfBody": "abc", "eventSource": "aws:sqs", "eventSourceARN": ARN,
        "awsRegion": "ap-northeast-1"}


def test_a_record_gives_back_the_message_as_receive_message_returned_it():
    assert sqsevents.message(sqsevents.record(MESSAGE, ARN, "ap-northeast-1")) == MESSAGE


@pytest.mark.parametrize("arn, prefix, workload", [
    (ARN, "jobsys-", "default"),
    ("arn:aws:sqs:us-east-1:1:dev-imports", "dev-", "imports"),
    ("arn:aws:sqs:us-east-1:1:imports", "", "imports"),
    ("arn:aws:sqs:us-east-1:1:other-default", "jobsys-", None),
    ("arn:aws:sqs:us-east-1:1:jobsys-", "jobsys-", None),
])
def test_the_workload_is_the_queue_name_in_the_arn_less_the_prefix(arn, prefix, workload):
    assert sqsevents.workload(arn, prefix) == workload


def test_failures_are_reported_by_message_id_and_read_back():
    answer = sqsevents.failures(["m-1", "m-3"])
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"},
                                            {"itemIdentifier": "m-3"}]}
    assert sqsevents.failed_ids(answer) == {"m-1", "m-3"}
    assert sqsevents.failed_ids(None) == set() == sqsevents.failed_ids({})


@pytest.mark.parametrize("state, retval, done", [
    (None, None, True),
    (states.SUCCESS, None, True),
    (states.RETRY, Retry("again"), True),
    (states.IGNORED, None, True),
    (states.FAILURE, JobEndedFailed("row 3 is bad"), True),
    (states.FAILURE, ValueError("escaped the runtime"), False),
    (states.REJECTED, Reject(ConnectionError("SQS unreachable")), False),
])
def test_a_message_is_done_with_only_when_its_task_ran_or_handed_the_job_back(
        state, retval, done):
    assert settled(state, retval)[0] is done


def test_a_failure_says_what_escaped():
    assert settled(states.FAILURE, ValueError("no"))[1] == "FAILURE: ValueError: no"


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def test_an_invocation_leaves_its_tasks_its_time_less_the_reserve():
    deadline = invocation_deadline(LambdaContext())
    assert deadline.at - deadline.began == pytest.approx(300 - RESERVE_SECONDS)
    assert deadline.error.startswith(
        f"ran longer than the {300 - RESERVE_SECONDS} s its AWS Lambda invocation had left")
    assert invocation_deadline(None) is None
