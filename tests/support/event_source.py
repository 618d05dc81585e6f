"""An SQS event source mapping, as Lambda runs one, in front of a warm function.

Lambda's pollers receive from the queue with the function's role, hand each batch to
the function as an event, and delete what the function did not report failed
(``ReportBatchItemFailures``); a failed or timed-out invocation leaves its whole batch
to come back after the visibility timeout. This does the same, through the IAM gate
with the function's credentials, and runs the handler in one warm execution
environment (``tests.support.lambda_run --serve``) that it starts again, cold, after
an invocation that timed out or took the process down.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import boto3

ACCOUNT = "123456789012"


#: The message attributes Lambda copies into a record (the others it leaves out).
RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                     "ApproximateFirstReceiveTimestamp", "AWSTraceHeader", "SequenceNumber",
                     "MessageGroupId", "MessageDeduplicationId")


def record(message: dict, queue_arn: str, region: str) -> dict:
    """The event record Lambda makes of a received message (the SQS event of the AWS
    Lambda Developer Guide)."""
    def attribute(value: dict) -> dict:
        out = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            out["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        return out
    found = message.get("Attributes") or {}
    out = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
           "body": message["Body"],
           "attributes": {k: found[k] for k in RECORD_ATTRIBUTES if k in found},
           "messageAttributes": {name: attribute(value) for name, value in
                                 (message.get("MessageAttributes") or {}).items()},
           "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest()}
    if "MD5OfMessageAttributes" in message:
        out["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return {**out, "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region}


@dataclass
class Invocation:
    """One invocation: the event, and the answer or the error Lambda would report."""

    event: dict
    answer: dict | None = None
    error: str | None = None


class WarmFunction:
    """A handler in one long-lived process, invoked an event at a time, with a timeout."""

    def __init__(self, handler: str, env: dict, timeout: float, log_path: Path, cwd: str):
        self.handler, self.env, self.timeout = handler, env, timeout
        self.log_path, self.cwd = log_path, cwd
        self.child: subprocess.Popen | None = None
        self.results = None
        self.cold_starts = 0

    def _start(self) -> None:
        read, write = os.pipe()
        log = open(self.log_path, "ab")
        self.child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.lambda_run", self.handler, "--serve",
             str(write)], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
            env=self.env, cwd=self.cwd, pass_fds=(write,), text=True)
        log.close()
        os.close(write)
        self.results = os.fdopen(read)
        self.cold_starts += 1

    def invoke(self, event: dict) -> Invocation:
        if self.child is None or self.child.poll() is not None:
            self._start()
        self.child.stdin.write(json.dumps(event) + "\n")
        self.child.stdin.flush()
        ready, _, _ = select.select([self.results], [], [], self.timeout)
        line = self.results.readline() if ready else ""
        if not line:
            # Lambda ends the environment of an invocation that timed out at once.
            self.stop(kill=True)
            return Invocation(event, error=f"Task timed out after {self.timeout:.0f} seconds"
                              if not ready else "Runtime exited")
        result = json.loads(line)
        return Invocation(event, answer=result.get("answer"), error=result.get("error"))

    def stop(self, kill: bool = False) -> None:
        if self.child is None:
            return
        if kill:
            self.child.kill()
        try:
            self.child.stdin.close()
        except OSError:
            pass  # its end is gone with it
        try:
            self.child.wait(20)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self.results.close()
        self.child = None


@dataclass
class EventSource:
    """One SQS event source mapping of ``function``: polls until ``stop()``."""

    queue_name: str
    batch_size: int
    function: WarmFunction
    credentials: dict
    endpoint: str
    region: str
    invocations: list[Invocation] = field(default_factory=list)

    def __post_init__(self):
        self.sqs = boto3.client("sqs", region_name=self.region, endpoint_url=self.endpoint,
                                aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"])
        # The mapping knows its queue by ARN; it never asks for the URL.
        self.url = f"{self.endpoint}/{ACCOUNT}/{self.queue_name}"
        self.arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{self.queue_name}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"esm-{self.queue_name}",
                                        daemon=True)

    def start(self) -> "EventSource":
        """Check the queue as Lambda does when a mapping is created, then poll."""
        found = self.sqs.get_queue_attributes(QueueUrl=self.url,
                                              AttributeNames=["VisibilityTimeout"])
        visibility = int(found["Attributes"]["VisibilityTimeout"])
        if visibility < self.function.timeout:
            raise ValueError(f"InvalidParameterValueException: Queue visibility timeout: "
                             f"{visibility} seconds is less than Function timeout: "
                             f"{self.function.timeout:.0f} seconds")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a refused or failed call: Lambda's poller retries
                print(f"event source of {self.queue_name}: {exc}", file=sys.stderr)
                self._stopping.wait(1)

    def poll_once(self, wait: int = 1) -> Invocation | None:
        """One receive and, when it brought messages, one invocation and its deletes."""
        messages = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=wait,
            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return None
        event = {"Records": [record(m, self.arn, self.region) for m in messages]}
        done = self.function.invoke(event)
        self.invocations.append(done)
        if done.error is None:
            failed = {item.get("itemIdentifier")
                      for item in (done.answer or {}).get("batchItemFailures") or ()}
            succeeded = [m for m in messages if m["MessageId"] not in failed]
            if succeeded:
                self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(succeeded)])
        return done

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(30)
        self.function.stop()
