"""The Celery application on Amazon SQS, configured from settings.

Imported by the web app to send tasks by name, so it imports no task code.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from celery import Celery, Task
from kombu import Queue

from core.settings import WORKLOADS, Settings
from tasks import outcome

#: The task modules serving each workload's queue. A worker loads only those of
#: the queues it consumes, so an import worker never loads the PDF renderer.
TASK_MODULES_BY_WORKLOAD = {
    "default": ("tasks.canary",),
    "pdf": ("tasks.pdf.batch",),
    "imports": ("tasks.imports.job",),
    "exports": ("tasks.export",),
}
TASK_MODULES = tuple(m for modules in TASK_MODULES_BY_WORKLOAD.values() for m in modules)


def task_modules(workloads) -> tuple[str, ...]:
    """The task modules a worker consuming ``workloads`` needs."""
    return tuple(m for w in workloads for m in TASK_MODULES_BY_WORKLOAD.get(w, ()))


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


def create_celery(settings: Settings, queue_urls: dict[str, str], *,
                  flask_app=None, include=TASK_MODULES) -> Celery:
    """A Celery app configured for the given settings and queue URLs.

    With ``flask_app``, every task runs inside its application context (the
    pattern of Flask's own Celery example), so tasks use its database session.
    """
    class FlaskTask(Task):
        # A failed job is a FAILURE in Celery's (and Flower's) view, logged
        # without a traceback: the job row holds the error.
        throws = (outcome.JobEndedFailed,)

        def __call__(self, *args, **kwargs):
            if flask_app is None:
                return self.run(*args, **kwargs)
            with flask_app.app_context():
                return outcome.run(self, args, kwargs)

    app = Celery("jobsys", task_cls=FlaskTask,
                 include=list(include) + list(settings.worker_extra_imports))
    app.conf.update(celery_config(settings, queue_urls))
    if flask_app is not None:
        flask_app.extensions["celery"] = app
    return app
