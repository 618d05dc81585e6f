"""Celery app for ``celery --app worker.flower:app flower``: Flower's view of the queues."""
from core import aws, queues
from core.settings import Settings
from tasks.app import create_celery

_settings = Settings.from_env()
app = create_celery(_settings, queues.resolve_urls(_settings, aws.client(_settings, "sqs")),
                    include=())
