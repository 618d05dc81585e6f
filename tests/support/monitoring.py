"""What a prefix's monitoring leaves in SQS and SNS, read with paginators: a test
server shared by many tests holds more topics than one page lists."""
from __future__ import annotations

from broker import monitor_queues, monitoring


def footprint(settings, sqs, sns) -> tuple[list[str], list[str]]:
    """The roles of the prefix's monitoring queues, and the queue names its SNS topics
    deliver to (one per subscription)."""
    roles = sorted(r for _, r in monitor_queues.monitoring_queues(sqs, settings.queue_prefix))
    names = {monitoring.topic_name(settings.queue_prefix, e)
             for e in monitoring.EXCHANGE_OF.values()}
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate()
              for t in page["Topics"] if t["TopicArn"].rsplit(":", 1)[-1] in names]
    endpoints = [s["Endpoint"].rsplit(":", 1)[-1] for arn in topics
                 for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
                     TopicArn=arn)
                 for s in page["Subscriptions"]]
    return roles, sorted(endpoints)
