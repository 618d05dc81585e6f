"""What an HTTP request to AWS asks for, in IAM's terms: who signed it, and each
(action, resource, condition keys) IAM authorizes it as.

The actions and resource types follow the Service Authorization Reference
(``sqs:SendMessageBatch`` is authorized as ``sqs:SendMessage``, an S3 HEAD of an
object as ``s3:GetObject``, an SNS unsubscribe against its topic). A request this
module cannot read raises ``Unmapped``, so nothing passes unexamined. It also
checks the size limits AWS enforces and the emulator does not.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree

ACCOUNT = "123456789012"
#: SQS and SNS refuse a message (or a batch) over 256 KiB.
MESSAGE_LIMIT = 262_144
BATCH_ENTRIES = 10

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_SQS_BATCHED = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


class Unmapped(ValueError):
    """A request whose IAM action or resource this module does not know."""


@dataclass(frozen=True)
class Check:
    """One authorization IAM makes for a request."""

    action: str
    resource: str
    context: dict = field(default_factory=dict)


@dataclass
class Request:
    """A request as the gate received it."""

    method: str
    url: str
    headers: dict
    body: bytes = b""

    def header(self, name: str) -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return ""

    @property
    def query(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url).query,
                                               keep_blank_values=True).items()}


@dataclass
class Call:
    """Who asked for what: the signer's key, region, service, and IAM's checks."""

    key_id: str | None
    region: str
    service: str
    operation: str
    checks: list[Check]
    protocol: str
    limit_error: str | None = None


def describe(request: Request) -> Call:
    """The call ``request`` makes; raises ``Unmapped`` when it cannot tell."""
    key_id, region, service = _credential(request)
    if service == "s3":
        operation, checks = _s3(request, region)
        return Call(key_id, region, service, operation, checks, "rest-xml")
    if service == "ses":
        operation, checks = _ses(request, region)
        return Call(key_id, region, service, operation, checks, "rest-json")
    target = request.header("X-Amz-Target")
    if target:
        operation, params, protocol = target.rsplit(".", 1)[-1], _json(request.body), "json"
    else:
        params = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace"),
                                                 keep_blank_values=True).items()}
        operation, protocol = params.get("Action", ""), "query"
    handlers = {"sqs": _sqs, "sns": _sns, "ecs": _ecs}
    if service not in handlers or not operation:
        raise Unmapped(f"{service} {operation or request.method + ' ' + request.url}")
    checks, limit = handlers[service](operation, params, region)
    return Call(key_id, region, service, operation, checks, protocol, limit)


def _credential(request: Request) -> tuple[str | None, str, str]:
    found = _CREDENTIAL.search(request.header("Authorization"))
    if found:
        return found.group(1), found.group(2), found.group(3)
    credential = request.query.get("X-Amz-Credential") or _form_field(request, "x-amz-credential")
    if credential:
        key_id, _, region, service, _ = credential.split("/")
        return key_id, region, service
    if "AWSAccessKeyId" in request.query or _form_field(request, "AWSAccessKeyId"):
        raise Unmapped("a Signature Version 2 request, which S3 refuses in regions opened "
                       "since 2014 and for KMS-encrypted objects: presign with s3v4")
    raise Unmapped(f"unsigned request {request.method} {request.url}")


def _json(body: bytes) -> dict:
    return json.loads(body or b"{}")


def arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


# --- SQS ------------------------------------------------------------------------------

def _queue_name(params: dict) -> str:
    url = params.get("QueueUrl")
    if url:
        return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if params.get("QueueName"):
        return params["QueueName"]
    raise Unmapped("an SQS call that names no queue")


def _sqs(operation: str, params: dict, region: str):
    action = "sqs:" + _SQS_BATCHED.get(operation, operation)
    if operation == "ListQueues":
        return [Check(action, "*")], None
    resource = arn("sqs", region, _queue_name(params))
    return [Check(action, resource)], _sqs_limit(operation, params)


def _entries(params: dict) -> list[dict]:
    if "Entries" in params:
        return params["Entries"]
    found = {}
    for key, value in params.items():  # query protocol: SendMessageBatchRequestEntry.N.Field
        parts = key.split(".")
        if len(parts) == 3 and parts[0].endswith("Entry"):
            found.setdefault(parts[1], {})[parts[2]] = value
    return list(found.values())


def _message_size(entry: dict) -> int:
    size = len(str(entry.get("MessageBody", entry.get("Message", ""))).encode())
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
        size += len(str(attribute.get("StringValue", attribute.get("BinaryValue", ""))).encode())
    return size


def _sqs_limit(operation: str, params: dict) -> str | None:
    if operation == "SendMessage":
        size = _message_size(params)
        return f"message of {size} bytes is over SQS's {MESSAGE_LIMIT}" if size > MESSAGE_LIMIT \
            else None
    if operation == "SendMessageBatch":
        entries = _entries(params)
        size = sum(_message_size(e) for e in entries)
        if len(entries) > BATCH_ENTRIES:
            return f"batch of {len(entries)} entries is over SQS's {BATCH_ENTRIES}"
        if size > MESSAGE_LIMIT:
            return f"batch of {size} bytes is over SQS's {MESSAGE_LIMIT}"
    return None


# --- SNS ------------------------------------------------------------------------------

def _sns(operation: str, params: dict, region: str):
    action = "sns:" + ("Publish" if operation == "PublishBatch" else operation)
    if operation in ("ListTopics", "ListSubscriptions"):
        return [Check(action, "*")], None
    if operation == "CreateTopic":
        return [Check(action, arn("sns", region, params["Name"]))], None
    topic = (params.get("TopicArn") or params.get("TargetArn") or params.get("ResourceArn"))
    if not topic and params.get("SubscriptionArn"):
        topic = params["SubscriptionArn"].rsplit(":", 1)[0]  # authorized against its topic
    if not topic:
        raise Unmapped(f"sns {operation} names no topic")
    limit = None
    if operation == "Publish" and len(params.get("Message", "").encode()) > MESSAGE_LIMIT:
        limit = f"SNS message over {MESSAGE_LIMIT} bytes"
    if operation == "PublishBatch":
        size = sum(_message_size(e) for e in _entries(params))
        limit = f"SNS batch of {size} bytes is over {MESSAGE_LIMIT}" if size > MESSAGE_LIMIT \
            else None
    return [Check(action, topic)], limit


# --- ECS ------------------------------------------------------------------------------

def _ecs_arn(region: str, kind: str, cluster: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    cluster = cluster.rsplit("/", 1)[-1]
    return arn("ecs", region, f"{kind}/{cluster}/{name}")


def _ecs(operation: str, params: dict, region: str):
    action, cluster = "ecs:" + operation, params.get("cluster", "default")
    if operation == "UpdateService":
        return [Check(action, _ecs_arn(region, "service", cluster, params["service"]))], None
    if operation == "DescribeServices":
        return [Check(action, _ecs_arn(region, "service", cluster, s))
                for s in params["services"]], None
    if operation in ("UpdateTaskProtection", "GetTaskProtection"):
        return [Check(action, _ecs_arn(region, "task", cluster, t))
                for t in params["tasks"]], None
    raise Unmapped(f"ecs {operation}")


# --- SES (v2) -------------------------------------------------------------------------

def _ses(request: Request, region: str):
    path = urlsplit(request.url).path
    if request.method == "POST" and path == "/v2/email/outbound-emails":
        params = _json(request.body)
        sender = parseaddr(params.get("FromEmailAddress", ""))[1]
        if not sender:
            raise Unmapped("SendEmail without FromEmailAddress")
        checks = [Check("ses:SendEmail", arn("ses", region, f"identity/{identity}"),
                        {"ses:FromAddress": sender})
                  for identity in (sender, sender.split("@", 1)[-1])]
        return "SendEmail", checks
    raise Unmapped(f"ses {request.method} {path}")


# --- S3 -------------------------------------------------------------------------------

def _s3(request: Request, region: str):
    path = unquote(urlsplit(request.url).path)
    bucket, _, key = path.lstrip("/").partition("/")
    query, method = request.query, request.method
    if not bucket:
        raise Unmapped(f"s3 {method} {path}")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        return _s3_bucket(request, method, query, bucket, bucket_arn)
    obj = f"{bucket_arn}/{key}"
    if method in ("GET", "HEAD") and not (set(query) - _PRESIGN_QUERY):
        return "GetObject", [Check("s3:GetObject", obj)]
    if method == "GET" and "uploadId" in query:
        return "ListParts", [Check("s3:ListMultipartUploadParts", obj)]
    if method == "PUT" and not (set(query) - {"partNumber", "uploadId"} - _PRESIGN_QUERY):
        checks = [Check("s3:PutObject", obj)]
        source = request.header("x-amz-copy-source")
        if source:
            checks.append(Check("s3:GetObject", "arn:aws:s3:::" + unquote(source.lstrip("/"))
                                .split("?", 1)[0]))
        return ("UploadPart" if "partNumber" in query else "PutObject"), checks
    if method == "POST" and ("uploads" in query or "uploadId" in query):
        return "Multipart", [Check("s3:PutObject", obj)]
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload", [Check("s3:AbortMultipartUpload", obj)]
    if method == "DELETE" and not query:
        return "DeleteObject", [Check("s3:DeleteObject", obj)]
    raise Unmapped(f"s3 {method} {path}?{'&'.join(query)}")


_PRESIGN_QUERY = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
                  "response-content-type", "response-content-disposition", "x-id"}


def _s3_bucket(request: Request, method: str, query: dict, bucket: str, bucket_arn: str):
    if method == "POST" and request.header("Content-Type").startswith("multipart/form-data"):
        key = _form_field(request, "key")
        if not key:
            raise Unmapped("a form upload without a key")
        return "PostObject", [Check("s3:PutObject", f"{bucket_arn}/{key}")]
    if method == "POST" and "delete" in query:
        keys = [e.text for e in ElementTree.fromstring(request.body).iter()
                if e.tag.endswith("Key")]
        return "DeleteObjects", [Check("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys]
    if method == "GET" and "uploads" in query:
        return "ListMultipartUploads", [Check("s3:ListBucketMultipartUploads", bucket_arn)]
    if method in ("GET", "HEAD") and not (set(query) - {"list-type", "prefix", "delimiter",
                                                         "continuation-token", "max-keys",
                                                         "encoding-type", "start-after",
                                                         "fetch-owner"}):
        return "ListBucket", [Check("s3:ListBucket", bucket_arn)]
    raise Unmapped(f"s3 {method} /{bucket}?{'&'.join(query)}")


def _form_field(request: Request, name: str) -> str | None:
    """A field of a multipart form (a browser's presigned POST), by case-insensitive name."""
    content_type = request.header("Content-Type")
    if not content_type.startswith("multipart/form-data") or not request.body:
        return None
    boundary = content_type.split("boundary=", 1)[-1].strip('"').encode()
    for part in request.body.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="([^"]+)"', head)
        if found and found.group(1).decode().lower() == name.lower() \
                and b"filename=" not in head:
            return value.rstrip(b"\r\n").decode()
    return None
