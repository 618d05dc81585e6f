"""What the IAM gate reads from a request: signer, action and resource, as IAM authorizes it."""
from __future__ import annotations

import json

import pytest

from tests.support.aws_calls import MESSAGE_LIMIT, Check, Request, Unmapped, describe

AUTH = ("AWS4-HMAC-SHA256 Credential=AKIAWEB/20261202/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=abc")
QUEUE = "http://127.0.0.1:5000/123456789012/jobsys-pdf"


def json_call(service: str, target: str, params: dict) -> Request:
    return Request("POST", "/", {"Authorization": AUTH.format(service=service),
                                 "X-Amz-Target": target}, json.dumps(params).encode())


def query_call(service: str, body: str) -> Request:
    return Request("POST", "/", {"Authorization": AUTH.format(service=service),
                                 "Content-Type": "application/x-www-form-urlencoded"},
                   body.encode())


def s3(method: str, url: str, **headers) -> Request:
    return Request(method, url, {"Authorization": AUTH.format(service="s3"), **headers})


@pytest.mark.parametrize("request_, action, resource", [
    (json_call("sqs", "AmazonSQS.SendMessageBatch", {"QueueUrl": QUEUE, "Entries": []}),
     "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:jobsys-pdf"),
    (json_call("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": "jobsys-pdf"}),
     "sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:123456789012:jobsys-pdf"),
    (json_call("sqs", "AmazonSQS.ListQueues", {}), "sqs:ListQueues", "*"),
    (query_call("sns", "Action=Unsubscribe&SubscriptionArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At%3Aid"),
     "sns:Unsubscribe", "arn:aws:sns:us-east-1:1:t"),
    (query_call("sns", "Action=CreateTopic&Name=jobsys-celeryev"),
     "sns:CreateTopic", "arn:aws:sns:us-east-1:123456789012:jobsys-celeryev"),
    (json_call("ecs", "AmazonEC2ContainerServiceV20141113.UpdateService",
               {"cluster": "c", "service": "s", "desiredCount": 1}),
     "ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/c/s"),
    (s3("HEAD", "/b/reports/imports/j/errors.csv"), "s3:GetObject",
     "arn:aws:s3:::b/reports/imports/j/errors.csv"),
    (s3("PUT", "/b/exports/j/x.csv?partNumber=1&uploadId=u"), "s3:PutObject", "arn:aws:s3:::b/exports/j/x.csv"),
    (s3("DELETE", "/b/exports/j/x.csv?uploadId=u"), "s3:AbortMultipartUpload",
     "arn:aws:s3:::b/exports/j/x.csv"),
    (s3("GET", "/b?list-type=2&prefix=pdf%2F"), "s3:ListBucket", "arn:aws:s3:::b"),
])
def test_each_call_is_authorized_as_iam_documents_it(request_, action, resource):
    call = describe(request_)
    assert call.key_id == "AKIAWEB"
    assert call.checks[0] == Check(action, resource)


def test_a_presigned_get_is_the_signers_call():
    call = describe(Request("GET", "/b/pdf/j/1.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                                   "AKIAWEB%2F20261202%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x",
                            {}))
    assert (call.key_id, call.checks) == ("AKIAWEB", [Check("s3:GetObject", "arn:aws:s3:::b/pdf/j/1.pdf")])


def test_a_browser_form_upload_is_the_presigners_put():
    body = (b'--XX\r\nContent-Disposition: form-data; name="key"\r\n\r\nimports/a.csv\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="x-amz-credential"\r\n\r\n'
            b'AKIAWEB/20261202/us-east-1/s3/aws4_request\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nx,y\r\n--XX--\r\n')
    call = describe(Request("POST", "/b", {"Content-Type": "multipart/form-data; boundary=XX"}, body))
    assert call.checks == [Check("s3:PutObject", "arn:aws:s3:::b/imports/a.csv")]


def test_an_email_is_checked_against_its_address_and_its_domain():
    request = Request("POST", "/v2/email/outbound-emails", {"Authorization": AUTH.format(service="ses")},
                      json.dumps({"FromEmailAddress": "Jobs <jobs@example.com>"}).encode())
    checks = describe(request).checks
    assert [c.resource.rsplit("/", 1)[-1] for c in checks] == ["jobs@example.com", "example.com"]
    assert checks[0].context == {"ses:FromAddress": "jobs@example.com"}


def test_a_message_over_sqs_limit_is_refused_as_sqs_would():
    big = json_call("sqs", "AmazonSQS.SendMessage", {"QueueUrl": QUEUE,
                                                     "MessageBody": "x" * (MESSAGE_LIMIT + 1)})
    small = json_call("sqs", "AmazonSQS.SendMessage", {"QueueUrl": QUEUE, "MessageBody": "x"})
    assert "over SQS's" in describe(big).limit_error and describe(small).limit_error is None


@pytest.mark.parametrize("request_", [
    Request("GET", "/b/k", {}),  # unsigned
    Request("GET", "/b/k?AWSAccessKeyId=AKIAWEB&Signature=x&Expires=1", {}),  # SigV2
    json_call("ecs", "AmazonEC2ContainerServiceV20141113.RunTask", {}),
    s3("PUT", "/b/k?acl"),
])
def test_a_request_it_cannot_read_is_never_let_through(request_):
    with pytest.raises(Unmapped):
        describe(request_)
