"""Every resource of the stack, from the project's own constants.

Names follow the local settings: queues ``<QueuePrefix><workload>`` and
``<QueuePrefix><workload>-dlq`` (``core.queues``), the wake queue
``<QueuePrefix>wake.fifo`` (``core.wake``), the fanout topics
``<QueuePrefix>celeryev`` and ``<QueuePrefix>celery-pidbox`` (``broker.monitoring``).
"""
from __future__ import annotations

from broker.monitoring import EXCHANGE_OF, topic_name
from core import queues
from core.settings import WORKLOADS
from core.wake import wake_queue_name
from deploy import alarms, dashboard, ecs, functions, iam, pools
from deploy.cfn import att, if_, load_balancer_url, ref, sub
from deploy.names import BUCKET_NAME, IMPORTS_PREFIX, dead_letter_id, queue_id

#: The wake queue as ``core.provision`` creates it.
WAKE_ATTRIBUTES = {"MessageRetentionPeriod": 300, "VisibilityTimeout": 30}
#: kombu creates a fanout topic with these tags; CreateTopic on an existing
#: topic fails if its tags differ, so the stack's topics carry the same ones.
KOMBU_TOPIC_TAGS = [
    {"Key": "ManagedBy", "Value": "Celery/Kombu"},
    {"Key": "Description",
     "Value": "This SNS topic is used by Kombu to enable Fanout support for AWS SQS."},
]


def topic_id(exchange: str) -> str:
    """Logical id of a fanout exchange's topic."""
    return {"celeryev": "EventsTopic", "celery.pidbox": "PidboxTopic"}[exchange]


def messaging() -> dict:
    """The task queues with their dead-letter queues, the wake queue and the topics."""
    out = {}
    for w in WORKLOADS:
        out[dead_letter_id(w)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": sub("${QueuePrefix}" + f"{w}-dlq"),
            "MessageRetentionPeriod": queues.DLQ_RETENTION_SECONDS,
            "SqsManagedSseEnabled": True,
        }}
        out[queue_id(w)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": sub("${QueuePrefix}" + w),
            "VisibilityTimeout": pools.visibility(w),
            "MessageRetentionPeriod": queues.TASK_RETENTION_SECONDS,
            "RedrivePolicy": {"deadLetterTargetArn": att(dead_letter_id(w), "Arn"),
                              "maxReceiveCount": ref("MaxReceiveCount")},
            "SqsManagedSseEnabled": True,
        }}
    out["WakeQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {
        "QueueName": sub(wake_queue_name("${QueuePrefix}")),
        "FifoQueue": True, **WAKE_ATTRIBUTES, "SqsManagedSseEnabled": True,
    }}
    for exchange in EXCHANGE_OF.values():
        out[topic_id(exchange)] = {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": sub(topic_name("${QueuePrefix}", exchange)),
            "Tags": KOMBU_TOPIC_TAGS,
        }}
    return out


def bucket() -> dict:
    """The files bucket: encrypted, private, expiring, and announcing new imports."""
    notification = {"LambdaConfigurations": [{
        "Event": "s3:ObjectCreated:*",
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": IMPORTS_PREFIX}]}},
        "Function": att("ImportUploadFunction", "Arn"),
    }]}
    return {"FilesBucket": {
        "Type": "AWS::S3::Bucket",
        "DependsOn": "ImportUploadPermission",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": sub(BUCKET_NAME),
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True,
                "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-files", "Status": "Enabled",
                 "ExpirationInDays": ref("RetentionDays"),
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            ]},
            "NotificationConfiguration": notification,
            "CorsConfiguration": {"CorsRules": [upload_cors_rule()]},
        },
    }}


def upload_cors_rule() -> dict:
    """The pages upload files to the bucket with presigned POSTs from the web app's origin."""
    load_balancer = load_balancer_url()
    return {"Id": "browser-uploads", "AllowedMethods": ["POST"],
            "AllowedOrigins": [if_("HasWebOrigin", ref("WebOrigin"), load_balancer)],
            "AllowedHeaders": ["*"], "ExposedHeaders": ["ETag"], "MaxAge": 3600}


def logs() -> dict:
    """The log group of the ECS tasks (each container its own stream prefix)."""
    return {"LogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": sub("/${QueuePrefix}ecs"),
        "RetentionInDays": ref("LogRetentionDays"),
    }}}


def all_resources() -> dict:
    """Every resource, by logical id."""
    out = {}
    for part in (messaging(), bucket(), logs(), iam.roles(), ecs.network(),
                 ecs.database_access(), ecs.cluster(),
                 ecs.task_definitions(), ecs.services(), ecs.load_balancer(),
                 functions.functions(), functions.triggers(), alarms.alarms(),
                 dashboard.dashboard()):
        clash = set(out) & set(part)
        if clash:
            raise ValueError(f"logical ids defined twice: {sorted(clash)}")
        out.update(part)
    return out

