"""The rules behind monitoring on SQS: queue roles and names, the lease, the
settings that turn monitoring down, and the worker's command line."""
from __future__ import annotations

import pytest

from broker import monitoring
from core.errors import ConfigurationError
from core.settings import Settings
from worker.main import argv


@pytest.mark.parametrize("name, role", [
    ("celeryev.0b6e1f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", monitoring.EVENTS),
    ("w1@ip-10-0-1-2.ec2.internal.celery.pidbox", monitoring.PIDBOX),
    ("0b6e1f2a-1c2d-4e5f-8a9b-0c1d2e3f4a5b.reply.celery.pidbox", monitoring.REPLY),
    ("default", None),
    ("pdf", None),
    ("celeryev", None),
])
def test_monitoring_queues_are_told_from_task_queues_by_their_kombu_name(name, role):
    assert monitoring.role_of(name) == role


@pytest.mark.parametrize("name, role", [
    ("prod-celeryev-0b6e1f2a", monitoring.EVENTS),
    ("prod-w1_host-celery-pidbox", monitoring.PIDBOX),
    ("prod-0b6e1f2a-reply-celery-pidbox", monitoring.REPLY),
    ("prod-default", None),
    ("prod-default-dlq", None),
    ("other-celeryev-0b6e1f2a", None),
])
def test_and_by_their_sqs_name_within_one_prefix(name, role):
    assert monitoring.role_of_sqs_name(name, "prod-") == role


def test_a_name_too_long_for_sqs_is_shortened_the_same_way_everywhere_keeping_its_role():
    long = "prod-worker-12345_" + "ip-10-0-123-234-" * 5 + "-celery-pidbox"
    short = monitoring.fit_name(long)
    assert len(long) > 80 and len(short) == 80
    assert short == monitoring.fit_name(long)
    assert monitoring.role_of_sqs_name(short, "prod-") == monitoring.PIDBOX
    assert monitoring.fit_name("prod-w1_host-celery-pidbox") == "prod-w1_host-celery-pidbox"


@pytest.mark.parametrize("tags, created, now, lease, gone", [
    ({"beat": "1000"}, 0, 1000 + 900, 900, False),
    ({"beat": "1000"}, 0, 1000 + 901, 900, True),
    ({}, 1000, 1000 + 60, 900, False),
    ({}, 1000, 1000 + 901, 900, True),
    ({"beat": "garbage"}, 1000, 1000 + 901, 900, True),
])
def test_a_queue_counts_as_abandoned_once_its_beat_is_older_than_the_lease(
        tags, created, now, lease, gone):
    assert monitoring.expired(tags, created, now, lease) is gone


@pytest.mark.parametrize("last, now, due", [(None, 0, True), (0, 299, False), (0, 300, True)])
def test_an_owner_renews_a_third_of_the_way_into_the_lease(last, now, due):
    assert monitoring.renewal_due(last, now, 900) is due


def test_new_queues_are_tagged_with_role_owner_and_time():
    assert monitoring.tags("pidbox", "host:42", 1700000000.7) == {
        "role": "pidbox", "owner": "host:42", "created": "1700000000", "beat": "1700000000"}


def test_topics_are_found_from_the_queue_arn_like_kombu_names_them():
    arn = "arn:aws:sqs:ap-northeast-1:123456789012:prod-w1_host-celery-pidbox"
    assert monitoring.topics_of(monitoring.PIDBOX, "prod-") == ("prod-celery-pidbox",)
    assert monitoring.topics_of(monitoring.REPLY, "prod-") == ()
    assert monitoring.topic_arn(arn, "prod-celeryev") == \
        "arn:aws:sns:ap-northeast-1:123456789012:prod-celeryev"


def test_monitoring_settings_default_on_and_survive_the_environment():
    s = Settings.from_env({})
    assert (s.worker_events, s.worker_heartbeat_interval, s.worker_remote_control,
            s.monitoring_lease_seconds) == (True, 15, True, 900)
    off = Settings.from_env({"WORKER_EVENTS": "off", "WORKER_HEARTBEAT_INTERVAL": "0",
                             "WORKER_REMOTE_CONTROL": "false", "MONITORING_LEASE_SECONDS": "60"})
    assert (off.worker_events, off.worker_heartbeat_interval, off.worker_remote_control,
            off.monitoring_lease_seconds) == (False, 0, False, 60)
    assert Settings.from_env(off.to_env()) == off


def test_a_switch_that_is_neither_on_nor_off_names_the_variable():
    with pytest.raises(ConfigurationError, match="WORKER_EVENTS='maybe' is not on or off"):
        Settings.from_env({"WORKER_EVENTS": "maybe"})


@pytest.mark.parametrize("interval, flags", [
    (15, ["--heartbeat-interval", "15"]),
    (0, ["--without-heartbeat"]),
])
def test_the_worker_heartbeats_at_the_configured_interval_or_not_at_all(interval, flags):
    args = argv(Settings(worker_heartbeat_interval=interval), name="w1")
    assert args[-len(flags):] == flags
    assert "--without-gossip" in args and "--without-mingle" in args
