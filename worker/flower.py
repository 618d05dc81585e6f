"""Celery app for ``celery --app worker.flower:app flower``: Flower's view of the queues.

Loading it also gives Flower its defaults for an SQS broker (``FLOWER_ENV``:
no enable_events broadcasts, a 5 s inspect timeout) unless the environment or
a command-line flag says otherwise. Monitoring queues of processes that died
are swept when Flower starts consuming events (broker/sqs_fanout.py).
"""
import os

from broker.monitoring import FLOWER_ENV
from core import aws, logs, queues
from core.settings import Settings
from broker.app import create_celery
from broker.monitoring import FLOWER_ENV

for _name, _value in FLOWER_ENV.items():
    os.environ.setdefault(_name, _value)

_settings = Settings.from_env()
# Before Flower starts: tornado adds its own handler only to a root logger with none.
logs.configure(_settings, "flower")
app = create_celery(_settings, queues.resolve_urls(_settings, aws.client(_settings, "sqs")),
                    include=())
