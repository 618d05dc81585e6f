"""Move a task message no worker can run to its queue's dead-letter queue at once.

SQS dead-letters a message only after ``maxReceiveCount`` receives; a message
that can never run would meanwhile hold up its receive batch and, with kombu,
stop the worker on each receive. The dead-letter queue is the one the queue's
own redrive policy names, so the worker needs no setting for it.
"""
from __future__ import annotations

import json
import logging
from queue import Empty

from botocore.exceptions import BotoCoreError, ClientError
from kombu.transport import SQS, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.objects import cached_property

from core import poison

log = logging.getLogger(__name__)


class DeadLetterMover:
    """Copies a message to its queue's dead-letter queue, then deletes it."""

    def __init__(self):
        self._targets: dict[str, str | None] = {}

    def target(self, sqs, queue_url: str) -> str | None:
        """The URL of the dead-letter queue of ``queue_url`` (None: it has none)."""
        if queue_url not in self._targets:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
            arn = json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn")
            self._targets[queue_url] = (sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])
                                        ["QueueUrl"] if arn else None)
        return self._targets[queue_url]

    def move(self, sqs, queue: str, queue_url: str, message: dict, reason: str) -> bool:
        """Dead-letter ``message`` of ``queue`` for ``reason``; logs one line saying where it
        went. Whether it reached the dead-letter queue (False: it stays in ``queue``)."""
        ident = message.get("MessageId", "?")
        what = f"malformed message {ident} on {queue} ({reason})"
        try:
            dead = self.target(sqs, queue_url)
            if dead is None:
                log.error("%s: %s has no dead-letter queue, so the message stays there and "
                          "comes back after its visibility timeout (give the queue a redrive "
                          "policy)", what, queue)
                return False
            sqs.send_message(QueueUrl=dead, MessageBody=bytes_to_str(message["Body"]),
                             MessageAttributes=poison.attributes(reason, queue, ident))
        except (ClientError, BotoCoreError) as exc:
            log.error("%s: could not copy it to the dead-letter queue (%s); left in %s, "
                      "where SQS dead-letters it after its receive limit", what, exc, queue)
            return False
        try:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (ClientError, BotoCoreError) as exc:
            log.error("%s: copied to %s but not deleted from %s (%s); it will be received "
                      "and moved again", what, _name(dead), queue, exc)
            return True
        log.error("%s: moved to %s", what, _name(dead))
        return True


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class DeadLetteringChannel(SQS.Channel):
    """kombu's SQS channel, dead-lettering at once the task messages no worker can run.

    kombu would stop the worker on an undecodable one, and Celery would log
    another as deleted while SQS keeps it; neither sees them here. Monitoring
    queues are left alone. The worker names its tasks in the transport option
    ``task_names``; without it any task name passes.
    """

    @cached_property
    def dead_letters(self) -> DeadLetterMover:
        return DeadLetterMover()

    def _on_messages_ready(self, queue, qname, messages):
        if not isinstance(messages, dict):
            # kombu's async client answers a timeout or a 5xx (SQS unreachable) with
            # a list, which its own handler cannot read: an empty receive, try again.
            log.warning("receive from %s failed (SQS unreachable or busy); polling again", qname)
            return 0
        fetched = messages.get("Messages")
        if not fetched:
            return super()._on_messages_ready(queue, qname, messages)
        runnable = self._screen(qname, queue, fetched)
        if not runnable:
            return len(fetched)  # poll again at once: more may be waiting
        return super()._on_messages_ready(queue, qname, {**messages, "Messages": runnable})

    def _messages_to_python(self, messages, queue):
        runnable = self._screen(queue, self._new_queue(queue), messages)
        return super()._messages_to_python(runnable, queue)

    def _get(self, queue):
        try:
            return super()._get(queue)
        except IndexError:  # its one message was dead-lettered
            raise Empty() from None

    def _screen(self, queue: str, queue_url: str, messages: list[dict]) -> list[dict]:
        """The messages a worker can run; the others are dead-lettered."""
        name = self.canonical_queue_name(queue)
        if name not in self.predefined_queues or queue in self._noack_queues:
            return messages
        names = self.transport_options.get("task_names")
        runnable = []
        for message in messages:
            reason = poison.problem(message["Body"], names)
            if reason is None:
                runnable.append(message)
            else:
                self.dead_letters.move(self.sqs(name), name, queue_url, message, reason)
        return runnable

    def delivered(self, sqs_message: dict, queue_url: str, routing_key: str):
        """``sqs_message`` (as ReceiveMessage returns it) of ``queue_url`` as the kombu message
        a consumer of this channel would get: for a message an event source hands over."""
        payload = self._message_to_python(sqs_message, _name(queue_url), queue_url)
        # As a worker consuming the queue sees it: a retry reads these to find its queue.
        payload["properties"]["delivery_info"].update(exchange="", routing_key=routing_key)
        return self.Message(payload, channel=self)

    def dead_letter(self, message, reason: str) -> None:
        """Dead-letter a delivered message that Celery refuses to run, and let go of it."""
        info = message.delivery_info or {}
        url, raw = info.get("sqs_queue"), info.get("sqs_message")
        if url and raw:
            queue = _name(url)
            self.dead_letters.move(self.sqs(queue), queue, url, raw, reason)
        # Acknowledged here only: the move deleted it from SQS, or left it
        # there (logged) for SQS's own redrive.
        virtual.Channel.basic_ack(self, message.delivery_tag)
