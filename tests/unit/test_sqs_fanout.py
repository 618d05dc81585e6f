"""The SQS transport with SNS fanout (broker/sqs_fanout.py) and the monitoring
queues' housekeeping (broker/monitor_queues.py), against moto's server over HTTP."""
from __future__ import annotations

import time
import uuid

import pytest
from kombu import Consumer, Exchange, Producer, Queue
from kombu.transport.SQS.exceptions import UndefinedQueueException

from broker import monitor_queues, monitoring, sqs_fanout
from tests.support.monitoring import footprint as monitoring_footprint
from core import aws
from core.settings import Settings
from stack.services import wait_for
from broker.app import create_celery

EVENTS = Exchange("celeryev", type="topic")
REPLIES = Exchange("reply.celery.pidbox", type="direct")


@pytest.fixture
def settings(moto_endpoint):
    return Settings(aws_endpoint_url=moto_endpoint, queue_prefix=f"u{uuid.uuid4().hex[:8]}-",
                    sqs_wait_time_seconds=1, sqs_polling_interval=0.01,
                    monitoring_lease_seconds=3)


@pytest.fixture
def sqs(settings):
    return aws.client(settings, "sqs")


@pytest.fixture
def sns(settings):
    return aws.client(settings, "sns")


@pytest.fixture
def celery(settings, sqs):
    name = settings.queue_name("default")
    app = create_celery(settings, {name: sqs.create_queue(QueueName=name)["QueueUrl"]},
                        include=())
    yield app
    sqs_fanout.OWNED.remove_all()


@pytest.fixture
def connect(celery):
    opened = []

    def connect():
        opened.append(celery.connection_for_write())
        return opened[-1]

    yield connect
    for conn in opened:
        conn.release()


def footprint(settings, sqs, sns) -> tuple[list[str], int]:
    """Roles of the prefix's monitoring queues and how many SNS subscriptions it has."""
    roles, endpoints = monitoring_footprint(settings, sqs, sns)
    return roles, len(endpoints)


def listen(conn, queue: Queue, received: list) -> Consumer:
    consumer = Consumer(conn.default_channel, [queue], no_ack=True,
                        callbacks=[lambda body, message: received.append(body)])
    consumer.consume()
    return consumer


def test_celery_sees_fanout_and_its_exchanges_are_fanout_in_any_connection(connect):
    conn = connect()
    assert conn.supports_exchange_type("fanout")
    assert conn.default_channel.typeof("celeryev").type == "fanout"
    assert conn.default_channel.typeof("celery.pidbox").type == "fanout"
    assert conn.default_channel.typeof("default").type == "direct"


def test_task_queues_stay_predefined(connect):
    with pytest.raises(UndefinedQueueException):
        connect().default_channel.queue_declare("videos")


def test_an_event_reaches_every_monitor_and_is_deleted_without_an_event_loop(
        settings, connect, celery, sqs):
    received = {"a": [], "b": []}
    monitors = {key: connect() for key in received}
    for key, conn in monitors.items():
        listen(conn, Queue(f"celeryev.{uuid.uuid4()}", EVENTS, routing_key="#"), received[key])

    with celery.events.default_dispatcher(hostname="w1@host") as dispatcher:
        dispatcher.send("worker-heartbeat", freq=15)
    for key, conn in monitors.items():
        wait_for(lambda: conn.drain_events(timeout=2) or received[key], 10, "an event")

    assert [e["type"] for e in received["a"] + received["b"]] == ["worker-heartbeat"] * 2
    for url, role in monitor_queues.monitoring_queues(sqs, settings.queue_prefix):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"
        assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        assert attributes["MessageRetentionPeriod"] == str(monitoring.RETENTION[role])
        tags = sqs.list_queue_tags(QueueUrl=url)["Tags"]
        assert tags["role"] == monitoring.EVENTS and set(tags) >= {"owner", "created", "beat"}


def test_a_reply_reaches_the_queue_its_client_made_in_another_process(connect):
    client, worker = connect(), connect()
    oid = str(uuid.uuid4())
    replies = []
    listen(client, Queue(f"{oid}.reply.celery.pidbox", REPLIES, routing_key=oid), replies)

    # The worker's connection has never seen the client's binding.
    Producer(worker.default_channel).publish({"w1@host": "pong"}, exchange=REPLIES,
                                             routing_key=oid, declare=[REPLIES])
    wait_for(lambda: client.drain_events(timeout=2) or replies, 10, "the reply")

    assert replies == [{"w1@host": "pong"}]


def test_a_reply_for_a_client_that_left_is_dropped_not_queued(settings, connect, sqs):
    worker = connect()
    Producer(worker.default_channel).publish({"w1@host": "pong"}, exchange=REPLIES,
                                             routing_key=str(uuid.uuid4()), declare=[REPLIES])
    assert monitor_queues.monitoring_queues(sqs, settings.queue_prefix) == []


def test_a_monitor_that_closes_removes_its_event_queue_and_subscription(
        settings, connect, sqs, sns):
    conn = connect()
    listen(conn, Queue(f"celeryev.{uuid.uuid4()}", EVENTS, routing_key="#"), [])
    assert footprint(settings, sqs, sns) == (["events"], 1)

    conn.release()

    assert footprint(settings, sqs, sns) == ([], 0)


def test_at_exit_a_process_removes_its_pidbox_and_reply_queues_and_subscriptions(
        settings, connect, sqs, sns):
    conn = connect()
    listen(conn, Queue("w1@host.celery.pidbox", Exchange("celery.pidbox", "fanout")), [])
    listen(conn, Queue(f"{uuid.uuid4()}.reply.celery.pidbox", REPLIES), [])
    assert footprint(settings, sqs, sns) == (["pidbox", "reply"], 1)

    sqs_fanout.OWNED.remove_all()

    assert footprint(settings, sqs, sns) == ([], 0)


def test_a_queue_swept_while_its_owner_was_idle_is_made_again_when_used(
        settings, connect, sqs):
    channel = connect().default_channel
    name = f"{uuid.uuid4()}.reply.celery.pidbox"
    channel.queue_declare(name)
    sqs.delete_queue(QueueUrl=channel._new_queue(name))

    # The owner checks its queue when a third of the lease has passed.
    wait_for(lambda: channel.queue_declare(name)
             and monitor_queues.monitoring_queues(sqs, settings.queue_prefix),
             settings.monitoring_lease_seconds * 2, "the reply queue to come back")


def _monitoring_queue(sqs, settings, name: str, role: str, beat: float) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=settings.queue_prefix + name,
                           tags=monitoring.tags(role, "gone:1", beat))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, arn["Attributes"]["QueueArn"]


def test_the_sweep_removes_queues_and_subscriptions_of_dead_owners_only(settings, sqs, sns):
    now, lease = time.time(), settings.monitoring_lease_seconds
    topic = sns.create_topic(Name=monitoring.topic_name(settings.queue_prefix,
                                                       "celery.pidbox"))["TopicArn"]
    dead = _monitoring_queue(sqs, settings, "dead_host-celery-pidbox", "pidbox", now - 10)
    alive = _monitoring_queue(sqs, settings, "alive_host-celery-pidbox", "pidbox", now)
    orphan = _monitoring_queue(sqs, settings, "orphan_host-celery-pidbox", "pidbox", now)
    task_queue = sqs.create_queue(QueueName=settings.queue_name("default"))["QueueUrl"]
    for _, arn in (dead, alive, orphan):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sqs.delete_queue(QueueUrl=orphan[0])

    removed = monitor_queues.sweep(sqs, sns, settings.queue_prefix, now, lease)

    assert removed == [dead[0]]
    assert [u for u, _ in monitor_queues.monitoring_queues(sqs, settings.queue_prefix)] == \
        [alive[0]]
    assert [s["Endpoint"] for s in sns.list_subscriptions_by_topic(
        TopicArn=topic)["Subscriptions"]] == [alive[1]]
    assert sqs.get_queue_url(QueueName=settings.queue_name("default"))["QueueUrl"] == task_queue


def test_a_process_never_sweeps_its_own_queues_however_late_their_beat(settings, sqs, sns):
    # A process that stalls between declaring a queue and its first sweep finds
    # its own queue's beat older than the lease; only a dead owner's queue goes.
    now, lease = time.time(), settings.monitoring_lease_seconds
    own, _ = _monitoring_queue(sqs, settings, "own_host-celery-pidbox", "pidbox", now - 10)
    _monitoring_queue(sqs, settings, "dead_host-celery-pidbox", "pidbox", now - 10)
    owned = monitor_queues.OwnedQueues()
    owned.add(own, sqs, sns, ())

    owned.sweep_once(sqs, sns, settings.queue_prefix, lease)

    assert [u for u, _ in monitor_queues.monitoring_queues(sqs, settings.queue_prefix)] == [own]
    owned.remove_all()
    assert monitor_queues.monitoring_queues(sqs, settings.queue_prefix) == []


def test_a_receive_that_failed_is_an_empty_receive_not_an_unrecoverable_error(connect):
    # kombu's async client hands a timeout or a 5xx (SQS unreachable) over as a list.
    channel = connect().default_channel
    assert channel._on_messages_ready(None, "default", []) == 0
