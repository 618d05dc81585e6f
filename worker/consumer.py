"""Celery's consumer, dead-lettering the task messages Celery refuses.

Celery logs such a message as "ignored and discarded" or "Received and deleted
unknown message" and rejects it, but SQS keeps a rejected message of a queue
with a redrive policy until its receive limit. The transport screens most such
messages out before Celery sees them (``broker.dead_letter``); these
handlers catch what only Celery can judge, such as an ETA that is not a date.
"""
from __future__ import annotations

from celery.worker.consumer import Consumer


class DeadLetteringConsumer(Consumer):
    """Moves a message Celery cannot run to its dead-letter queue at once, and says so."""

    def on_unknown_message(self, body, message):
        if not _dead_letter(message, "not a Celery task message"):
            super().on_unknown_message(body, message)

    def on_unknown_task(self, body, message, exc):
        if not _dead_letter(message, f"unknown task {(message.headers or {}).get('task')!r}"):
            super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body, message, exc):
        if not _dead_letter(message, f"invalid task message: {exc}"):
            super().on_invalid_task(body, message, exc)

    def on_decode_error(self, message, exc):
        if not _dead_letter(message, f"body cannot be decoded: {exc}"):
            super().on_decode_error(message, exc)


def _dead_letter(message, reason: str) -> bool:
    """Whether the message's transport could dead-letter it (broker.sqs_fanout's can)."""
    move = getattr(message.channel, "dead_letter", None)
    if move is not None:
        move(message, reason)
    return move is not None
