"""kombu's SQS transport, able to carry Celery's events and remote control.

Selected with Celery's ``broker_transport = "broker.sqs_fanout:Transport"``; the
broker URL stays ``sqs://``. Task queues stay predefined and behave exactly as
in kombu's SQS transport. Only monitoring queues (``broker.monitoring``: event,
pidbox and reply queues) are created at run time, tagged, renewed and removed.

Stock Celery and kombu 5.7 on SQS fail Flower in six ways (docs/flower.md);
this subclass changes exactly these:

1. Remote control is skipped: the transport advertises ``fanout`` and its
   channels support it (an SNS topic fans a message out to subscribed queues).
2. Replies vanish: only the client bound its reply queue, so a worker routes a
   reply to ``<routing_key>.<exchange>`` itself, and drops it if that queue is
   gone rather than re-creating it.
3. Consumers without acks (Flower's event capture, the inspect collector)
   delete messages with kombu's async client, which needs a running hub: here
   they are deleted synchronously, one batch per receive.
4. Events go nowhere: ``celeryev`` and ``celery.pidbox`` are fanout exchanges
   whatever type Celery declares, in every connection of the process.
5. Flower's worker list is filled by inspect calls, so it needs 1-3 only.
6. Leaks: monitoring queues are created tagged, with a short retention
   (``broker.monitor_queues``); their owner renews them while it uses them and
   removes them, with their SNS subscriptions, when the channel closes (event
   queues) or the process exits (pidbox and reply queues, whose names come
   back). The first monitoring queue a process declares sweeps away the
   queues of owners that died.

Its base, ``broker.dead_letter.DeadLetteringChannel``, adds one thing for task
queues: a message no worker can run goes to the queue's dead-letter queue as
soon as it is received.

Celery's default exchange names (``control_exchange="celery"``,
``event_exchange="celeryev"``) are assumed.
"""
from __future__ import annotations

import logging
import time

from botocore.exceptions import ClientError
from kombu.transport import SQS
from kombu.transport.SQS.exceptions import DoesNotExistQueueException
from kombu.utils.encoding import bytes_to_str
from kombu.utils.objects import cached_property

from broker import monitor_queues, monitoring
from broker.dead_letter import DeadLetteringChannel

log = logging.getLogger(__name__)

FANOUT_EXCHANGES = frozenset({"celeryev", "celery.pidbox"})
REPLY_EXCHANGE = "reply.celery.pidbox"
DEFAULT_LEASE_SECONDS = 900.0
#: A reply collector waits for its --timeout, not for a full long poll.
REPLY_WAIT_SECONDS = 1


class Channel(DeadLetteringChannel):
    """An SQS channel whose fanout exchanges are SNS topics (see the module doc)."""

    supports_fanout = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._event_queues: set[str] = set()

    @cached_property
    def lease(self) -> float:
        return float(self.transport_options.get("monitoring_lease_seconds")
                     or DEFAULT_LEASE_SECONDS)

    # 4. Celery's event and mailbox exchanges are fanout, declared or not.
    def exchange_declare(self, exchange=None, type="direct", *args, **kwargs):
        kind = "fanout" if exchange in FANOUT_EXCHANGES else type
        return super().exchange_declare(exchange, kind, *args, **kwargs)

    def typeof(self, exchange, default="direct"):
        if exchange in FANOUT_EXCHANGES:
            return self.exchange_types["fanout"]
        return super().typeof(exchange, default)

    def _exchange_is_fanout(self, exchange_name):
        return exchange_name in FANOUT_EXCHANGES or super()._exchange_is_fanout(exchange_name)

    # 2. A reply goes to the queue its client made, if that queue still exists.
    def _lookup(self, exchange, routing_key, default=None):
        if exchange == REPLY_EXCHANGE:
            return [f"{routing_key}.{exchange}"]
        return super()._lookup(exchange, routing_key, default)

    def _put(self, queue, message, **kwargs):
        if monitoring.role_of(queue) != monitoring.REPLY:
            return super()._put(queue, message, **kwargs)
        try:
            self._resolve_queue_url(queue)
            return super()._put(queue, message, **kwargs)
        except DoesNotExistQueueException:
            pass
        except ClientError as exc:
            if not monitor_queues.is_missing(exc):
                raise
            self._queue_cache.pop(self.canonical_queue_name(queue), None)
        log.debug("reply to %s dropped: its client has gone", queue)

    def after_reply_message_received(self, queue):
        # The reply queue's name comes back with the next call from this
        # thread, and SQS refuses to re-create a name for 60 s: keep it.
        if monitoring.role_of(queue) != monitoring.REPLY:
            super().after_reply_message_received(queue)

    # Monitoring queues are made at run time; task queues stay predefined.
    def canonical_queue_name(self, queue_name):
        name = super().canonical_queue_name(queue_name)
        return monitoring.fit_name(name) if monitoring.role_of(queue_name) else name

    def sqs(self, queue=None):
        return super().sqs(queue if queue in self.predefined_queues else None)

    def asynsqs(self, queue=None):
        return super().asynsqs(queue if queue in self.predefined_queues else None)

    def _resolve_queue_url(self, queue):
        if monitoring.role_of(queue) is None:
            return super()._resolve_queue_url(queue)
        name = self.canonical_queue_name(queue)
        if name not in self._queue_cache:
            try:
                self._queue_cache[name] = self.sqs().get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                if not monitor_queues.is_missing(exc):
                    raise
                raise DoesNotExistQueueException(f"queue {name} does not exist") from None
        return self._queue_cache[name]

    def _new_queue(self, queue, **kwargs):
        role = monitoring.role_of(queue)
        if role is None:
            return super()._new_queue(queue, **kwargs)
        try:
            return self._resolve_queue_url(queue)
        except DoesNotExistQueueException:
            if OWNED.exiting:
                raise  # a thread still consuming at exit must not leave a queue behind
            name = self.canonical_queue_name(queue)
            url = monitor_queues.create(self.sqs(), name, role, time.time())
            self._queue_cache[name] = url
            OWNED.add(url, *self._clients(role))
            return url

    def queue_declare(self, queue=None, passive=False, **kwargs):
        role = None if passive else monitoring.role_of(queue or "")
        if role is not None:
            self._keep(queue)
            if role == monitoring.EVENTS:
                self._event_queues.add(queue)
            sqs, sns, _ = self._clients(role)
            OWNED.sweep_once(sqs, sns, self.queue_name_prefix, self.lease)
        return super().queue_declare(queue, passive, **kwargs)

    def _clients(self, role: str) -> tuple:
        return (self.sqs(), self.fanout.get_client(),
                monitoring.topics_of(role, self.queue_name_prefix))

    def _keep(self, queue) -> None:
        """Renew a monitoring queue we use; re-create it if a sweep removed it."""
        role = monitoring.role_of(queue)
        if role is None:
            return
        url = self._new_queue(queue)
        if not OWNED.renew(url, self.lease, *self._clients(role)):
            self._queue_cache.pop(self.canonical_queue_name(queue), None)
            self._new_queue(queue)

    def _receive_message(self, queue, max_number_of_messages=1, wait_time_seconds=None):
        self._keep(queue)
        if monitoring.role_of(queue) == monitoring.REPLY:
            wait_time_seconds = REPLY_WAIT_SECONDS
        return super()._receive_message(queue, max_number_of_messages, wait_time_seconds)

    def _get_async(self, queue, count=1, callback=None):
        self._keep(queue)
        return super()._get_async(queue, count, callback)

    # A long poll can return after its channel closed (a worker's pidbox at
    # shutdown): kombu would then fail in the hub's timer.
    def _on_messages_ready(self, queue, qname, messages):
        if self.connection is None:
            return 0
        return super()._on_messages_ready(queue, qname, messages)

    def _loop1(self, queue, messages_fetched=None):
        if self.connection is not None:
            super()._loop1(queue, messages_fetched)

    # 3. No hub needed to consume without acks.
    def _delete_message(self, queue_name, message):
        self.sqs().delete_message(QueueUrl=self._new_queue(queue_name),
                                  ReceiptHandle=message["ReceiptHandle"])

    def _messages_to_python(self, messages, queue):
        if queue not in self._noack_queues:
            return super()._messages_to_python(messages, queue)
        payloads = [self._prepare_json_payload(bytes_to_str(
            self._decode_python_message_body(m["Body"]))) for m in messages]
        answer = self.sqs().delete_message_batch(
            QueueUrl=self._new_queue(queue),
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                     for i, m in enumerate(messages)])
        if answer.get("Failed"):
            log.warning("could not delete %d message(s) from %s: %s",
                        len(answer["Failed"]), queue, answer["Failed"][0].get("Message"))
        return payloads

    # 6. Remove what we made.
    def _delete(self, queue, exchange=None, *args, **kwargs):
        if monitoring.role_of(queue) is None:
            return super()._delete(queue, exchange, *args, **kwargs)
        url = self._queue_cache.pop(self.canonical_queue_name(queue), None)
        if url:
            OWNED.remove(url)

    def close(self):
        if not self.closed:
            for queue in self._event_queues:
                self._delete(queue)
            self._event_queues.clear()
        super().close()


class Transport(SQS.Transport):
    """kombu's SQS transport with SNS fanout for Celery's events and remote control."""

    Channel = Channel
    implements = SQS.Transport.implements.extend(
        exchange_type=frozenset({"direct", "fanout"}))


#: This process's monitoring queues, removed when it exits.
OWNED = monitor_queues.OwnedQueues()
