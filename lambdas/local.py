"""The local stand-in for S3 → Lambda: long-poll the uploads queue the emulator's
bucket notification fills, call the handler, delete each message only once the
handler succeeded (a failure leaves it to come back after its visibility timeout).

    python -m lambdas.local
"""
from __future__ import annotations

import json
import logging
import sys

from core import aws, logs, provision
from core.settings import Settings
from core.sqspoll import Poller
from lambdas import import_upload

log = logging.getLogger("lambdas.local")


def poller(settings: Settings, sqs, wait: int = 10) -> Poller:
    """The loop that hands each upload notification to ``import_upload.handler``."""
    def handle(url: str, message: dict) -> bool:
        import_upload.handler(json.loads(message["Body"]), None, settings=settings)
        return True

    return Poller(sqs, handle, wait=wait)


def run_once(settings: Settings, sqs, url: str, wait: int = 10) -> int:
    """Handle the messages of one receive; returns how many came."""
    return poller(settings, sqs, wait).run_once(url)


def main() -> int:
    settings = Settings.from_env()
    logs.configure(settings, "import-upload")
    sqs = aws.client(settings, "sqs")
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    loop = poller(settings, sqs, wait=min(settings.sqs_wait_time_seconds, 5))
    loop.stop_on_signals()
    log.info("waiting for upload notifications on %s", url)
    loop.run([url])
    return 0


if __name__ == "__main__":
    sys.exit(main())
