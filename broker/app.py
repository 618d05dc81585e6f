"""The Celery application on Amazon SQS, configured from settings.

Producers (the web app, Lambdas) send tasks by name with an app built here that
holds no task code; workers build theirs with ``tasks.app``, on the same config.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from celery import Celery, Task
from kombu import Queue

from core.settings import WORKLOADS, Settings


def broker_url(settings: Settings) -> str:
    """kombu's SQS URL: the emulator's host and port locally, plain ``sqs://`` in AWS.

    No credentials in the URL: kombu then takes them from boto3's usual chain,
    as every other client does (the task role in AWS, the environment locally).
    """
    if not settings.aws_endpoint_url:
        return "sqs://"
    parts = urlsplit(settings.aws_endpoint_url)
    port = f":{parts.port}" if parts.port else ""
    return f"sqs://{parts.hostname}{port}"


def celery_config(settings: Settings, queue_urls: dict[str, str]) -> dict:
    """Celery settings for SQS; ``queue_urls`` maps each SQS queue name to its URL."""
    secure = (urlsplit(settings.aws_endpoint_url).scheme == "https"
              if settings.aws_endpoint_url else True)
    return {
        "broker_url": broker_url(settings),
        # kombu's SQS transport plus SNS fanout for events and remote control
        # (broker/sqs_fanout.py; docs/flower.md).
        "broker_transport": "broker.sqs_fanout:Transport",
        "broker_transport_options": {
            "region": settings.aws_region,
            "queue_name_prefix": settings.queue_prefix,
            "predefined_queues": {name: {"url": url} for name, url in queue_urls.items()},
            "wait_time_seconds": settings.sqs_wait_time_seconds,
            "polling_interval": settings.sqs_polling_interval,
            "is_secure": secure,
            "monitoring_lease_seconds": settings.monitoring_lease_seconds,
        },
        "broker_connection_retry_on_startup": True,
        "task_queues": [Queue(w, routing_key=w) for w in WORKLOADS],
        "task_default_queue": "default",
        "task_create_missing_queues": False,
        # The job row is the truth: no result backend, no Celery-side state.
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        # Events and remote control travel SNS -> SQS; each can be turned off
        # per deployment (WORKER_EVENTS, WORKER_REMOTE_CONTROL). Producers send
        # no task-sent events: one SNS publish per enqueue for little news.
        "worker_enable_remote_control": settings.worker_remote_control,
        "worker_send_task_events": settings.worker_events,
        "task_send_sent_event": False,
        "worker_hijack_root_logger": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "max_retries": settings.task_max_retries,
    }


def create_celery(settings: Settings, queue_urls: dict[str, str], *, include=(),
                  task_cls: type[Task] = Task) -> Celery:
    """A Celery app configured for the given settings and queue URLs."""
    app = Celery("jobsys", task_cls=task_cls, include=list(include))
    app.conf.update(celery_config(settings, queue_urls))
    return app
