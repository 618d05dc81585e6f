"""The IAM gate in front of the emulator refuses, as AWS would, what a role does not allow."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.iam_gate import Evaluator, Gate, Principal

ROLE = "arn:aws:iam::123456789012:role/sender"


@pytest.fixture(scope="module")
def gate(moto_endpoint):
    evaluator = Evaluator()
    found = Gate(moto_endpoint, evaluator)
    yield found
    found.close()
    evaluator.close()


def client(gate, service: str, key: str):
    return boto3.client(service, region_name="us-east-1", endpoint_url=gate.endpoint,
                        aws_access_key_id=key, aws_secret_access_key="x")


def test_a_role_may_send_to_its_queue_and_is_refused_another(gate, moto_endpoint):
    admin = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint)
    prefix = f"g{uuid.uuid4().hex[:6]}-"
    mine = admin.create_queue(QueueName=prefix + "mine")["QueueUrl"]
    other = admin.create_queue(QueueName=prefix + "other")["QueueUrl"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Enqueue", "Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:us-east-1:123456789012:{prefix}mine"}]}
    gate.admit("AKIASENDER", Principal("sender", ROLE, (("p", policy),)))
    sqs = client(gate, "sqs", "AKIASENDER")

    sqs.send_message(QueueUrl=mine.replace(moto_endpoint, gate.endpoint), MessageBody="{}")
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=other.replace(moto_endpoint, gate.endpoint), MessageBody="{}")

    assert refused.value.response["Error"]["Code"].endswith("AccessDenied")
    assert f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:{prefix}other" in \
        str(refused.value)
    assert [str(d) for d in gate.denials()][-1] == \
        f"sender: sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:{prefix}other -> ImplicitlyDenied"
    assert admin.get_queue_attributes(QueueUrl=other, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_an_unknown_key_and_an_action_without_resource_permissions(gate):
    with pytest.raises(ClientError):
        client(gate, "sqs", "AKIANOBODY").list_queues()
    listing = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "arn:aws:sqs:*:*:*"}]}
    gate.admit("AKIALISTER", Principal("lister", ROLE, (("p", listing),)))
    # sqs:ListQueues has no resource type: only Resource "*" allows it.
    with pytest.raises(ClientError):
        client(gate, "sqs", "AKIALISTER").list_queues()
