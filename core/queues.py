"""The queue layout: one queue per workload, each with its dead-letter queue.

Queues are created up front by ``python -m core.provision``; workers and the
web app only look their URLs up and fail with a clear message if one is missing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from core.errors import QueueMissing
from core.settings import WORKLOADS, Settings

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: SQS's longest: work for a pool that cannot start waits 14 days (not SQS's default 4)
#: for an operator, whom the oldest-message alarm tells, to start it.
TASK_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class QueuePlan:
    """One workload's queue and its dead-letter queue, as they should exist."""

    workload: str
    name: str
    dead_letter: str
    visibility_timeout: int
    max_receive_count: int


def plan(settings: Settings) -> list[QueuePlan]:
    """The queues the settings call for."""
    return [
        QueuePlan(
            workload=w,
            name=settings.queue_name(w),
            dead_letter=settings.dead_letter_name(w),
            visibility_timeout=settings.visibility_timeouts[w],
            max_receive_count=settings.max_receive_count,
        )
        for w in WORKLOADS
    ]


def queue_attributes(item: QueuePlan, dead_letter_arn: str) -> dict[str, str]:
    """The SQS attributes of a workload queue."""
    return {
        "VisibilityTimeout": str(item.visibility_timeout),
        "MessageRetentionPeriod": str(TASK_RETENTION_SECONDS),
        "RedrivePolicy": json.dumps({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": str(item.max_receive_count),
        }),
    }


def resolve_urls(settings: Settings, sqs, workloads=WORKLOADS) -> dict[str, str]:
    """Queue name → URL for each workload's queue; a clear error if one is missing."""
    urls = {}
    for w in workloads:
        name = settings.queue_name(w)
        try:
            urls[name] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("AWS.SimpleQueueService.NonExistentQueue",
                                                 "QueueDoesNotExist"):
                raise QueueMissing(
                    f"SQS queue {name!r} does not exist; create the queues with "
                    f"`python -m core.provision` (region {settings.aws_region}, "
                    f"endpoint {settings.aws_endpoint_url or 'AWS'})") from None
            raise
    return urls


def dead_letter_urls(settings: Settings, sqs, workloads=WORKLOADS) -> dict[str, str]:
    """Workload → URL of its dead-letter queue."""
    return {w: sqs.get_queue_url(QueueName=settings.dead_letter_name(w))["QueueUrl"]
            for w in workloads}
