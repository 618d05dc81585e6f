"""The local stand-in for S3 → Lambda: long-poll the uploads queue the emulator's
bucket notification fills, call the handler, delete each message only once the
handler succeeded (a failure leaves it to come back after its visibility timeout).

    python -m lambdas.local
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from core import aws, logs, provision
from core.settings import Settings
from lambdas import import_upload

log = logging.getLogger("lambdas.local")


def run_once(settings: Settings, sqs, url: str, wait: int = 10) -> int:
    """Handle the messages of one receive; returns how many were handled."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=wait).get("Messages", [])
    handled = 0
    for message in messages:
        try:
            event = json.loads(message["Body"])
            import_upload.handler(event, None, settings=settings)
        except Exception:
            log.exception("upload notification not handled; it will come back")
            continue
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        handled += 1
    return handled


def main() -> int:
    settings = Settings.from_env()
    logs.configure(settings, "import-upload")
    sqs = aws.client(settings, "sqs")
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("waiting for upload notifications on %s", url)
    try:
        while not stop.is_set():
            run_once(settings, sqs, url, wait=min(settings.sqs_wait_time_seconds, 5))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

