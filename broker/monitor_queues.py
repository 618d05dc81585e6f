"""Monitoring queues in SQS and their SNS subscriptions: create, renew, remove,
sweep the ones of owners that died, and remove a process's own at its exit.

The rules (names, tags, lease) are in ``broker.monitoring``; boto3 clients are
passed in. Imports no Celery or kombu.
"""
from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time

from botocore.exceptions import ClientError

from broker import monitoring

log = logging.getLogger(__name__)

_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_DELETED_RECENTLY = "AWS.SimpleQueueService.QueueDeletedRecently"


def owner() -> str:
    """This process, as the ``owner`` tag of the queues it makes."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_missing(exc: ClientError) -> bool:
    """True when an SQS error says the queue does not exist."""
    return exc.response.get("Error", {}).get("Code") in _MISSING


def create(sqs, name: str, role: str, now: float, wait: float = 65.0) -> str:
    """Create a tagged monitoring queue (or find it); returns its URL.

    SQS refuses a name deleted less than 60 s ago: wait rather than fail.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return sqs.create_queue(
                QueueName=name, tags=monitoring.tags(role, owner(), now),
                Attributes={"MessageRetentionPeriod": str(monitoring.RETENTION[role]),
                            "VisibilityTimeout": "30"})["QueueUrl"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code != _DELETED_RECENTLY or time.monotonic() > deadline:
                raise
            log.warning("SQS queue %s was deleted less than 60 s ago; waiting to re-create it",
                        name)
            time.sleep(5)


def renew(sqs, url: str, now: float, adopt: bool = False) -> bool:
    """Refresh the queue's ``beat`` tag (and take it over when ``adopt``); False
    if the queue no longer exists."""
    fresh = {"beat": str(int(now))} | ({"owner": owner()} if adopt else {})
    try:
        sqs.tag_queue(QueueUrl=url, Tags=fresh)
    except ClientError as exc:
        if is_missing(exc):
            return False
        raise
    return True


def remove(sqs, sns, url: str, topics: tuple[str, ...]) -> None:
    """Unsubscribe the queue from ``topics`` (matched by its ARN) and delete it."""
    try:
        arn = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    except ClientError as exc:
        if is_missing(exc):
            return
        raise
    for topic in topics:
        unsubscribe(sns, monitoring.topic_arn(arn, topic), lambda endpoint: endpoint == arn)
    try:
        sqs.delete_queue(QueueUrl=url)
    except ClientError as exc:
        if not is_missing(exc):
            raise


def unsubscribe(sns, topic_arn: str, matches) -> int:
    """Remove the topic's SQS subscriptions whose endpoint ARN ``matches``; returns how many."""
    try:
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        subscriptions = [s for page in pages for s in page.get("Subscriptions", [])]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFound":
            return 0
        raise
    doomed = [s for s in subscriptions if s.get("Protocol") == "sqs" and matches(s["Endpoint"])]
    for sub in doomed:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    return len(doomed)


def monitoring_queues(sqs, prefix: str) -> list[tuple[str, str]]:
    """(URL, role) of every monitoring queue whose name starts with ``prefix``."""
    found, kwargs = [], {"QueueNamePrefix": prefix, "MaxResults": 1000}
    while True:
        page = sqs.list_queues(**kwargs)
        for url in page.get("QueueUrls", []):
            role = monitoring.role_of_sqs_name(url.rsplit("/", 1)[-1], prefix)
            if role:
                found.append((url, role))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def sweep(sqs, sns, prefix: str, now: float, lease: float,
          mine: frozenset[str] = frozenset()) -> list[str]:
    """Remove the monitoring queues whose owner stopped renewing them, then SNS
    subscriptions left pointing at deleted queues. Returns the URLs removed.

    The queues in ``mine`` (the sweeping process's own) are never removed: their
    owner is alive, however late its last beat looks.
    """
    removed = []
    for url, role in monitoring_queues(sqs, prefix):
        if url in mine:
            continue
        try:
            queue_tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            created = float(sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["CreatedTimestamp"]
            )["Attributes"]["CreatedTimestamp"])
        except ClientError as exc:
            if is_missing(exc):
                continue
            raise
        if monitoring.expired(queue_tags, created, now, lease):
            log.info("removing %s queue %s of %s: not renewed for %.0f s", role, url,
                     queue_tags.get("owner", "an unknown owner"), lease)
            remove(sqs, sns, url, monitoring.topics_of(role, prefix))
            removed.append(url)
    _sweep_orphans(sqs, sns, prefix)
    return removed


def _sweep_orphans(sqs, sns, prefix: str) -> None:
    names = {monitoring.topic_name(prefix, e) for e in monitoring.EXCHANGE_OF.values()}
    pages = sns.get_paginator("list_topics").paginate()
    for arn in [t["TopicArn"] for page in pages for t in page.get("Topics", [])
                if t["TopicArn"].rsplit(":", 1)[-1] in names]:
        gone = unsubscribe(sns, arn, lambda endpoint: _queue_gone(sqs, endpoint, prefix))
        if gone:
            log.info("removed %d SNS subscription(s) of deleted queues from %s", gone, arn)


def _queue_gone(sqs, endpoint_arn: str, prefix: str) -> bool:
    name = endpoint_arn.rsplit(":", 1)[-1]
    if not name.startswith(prefix):
        return False
    try:
        sqs.get_queue_url(QueueName=name)
    except ClientError as exc:
        if is_missing(exc):
            return True
        raise
    return False


class OwnedQueues:
    """The monitoring queues this process made or took over: renewed while
    used, removed at exit (not by forked children, which own nothing)."""

    def __init__(self):
        self._queues: dict[str, tuple] = {}  # URL -> (sqs, sns, topics)
        self._beats: dict[str, float] = {}
        self._swept: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._pid = None
        self.exiting = False

    def add(self, url: str, sqs, sns, topics: tuple[str, ...]) -> None:
        with self._lock:
            self._queues[url] = (sqs, sns, topics)
            self._beats[url] = time.time()
            if self._pid != os.getpid():
                self._pid = os.getpid()
                atexit.register(self._at_exit)

    def renew(self, url: str, lease: float, sqs, sns, topics: tuple[str, ...]) -> bool:
        """Refresh the queue's beat when due; False if it was removed meanwhile."""
        now = time.time()
        if not monitoring.renewal_due(self._beats.get(url), now, lease):
            return True
        adopt = url not in self._queues
        if not renew(sqs, url, now, adopt=adopt):
            self.forget(url)
            return False
        if adopt:
            self.add(url, sqs, sns, topics)
        self._beats[url] = now
        return True

    def sweep_once(self, sqs, sns, prefix: str, lease: float) -> None:
        """Sweep the queues of dead owners, once per process and prefix, sparing
        this process's own: a queue it declared a moment ago may already look
        expired when the process stalled between creating it and sweeping."""
        with self._lock:
            if (os.getpid(), prefix) in self._swept:
                return
            self._swept.add((os.getpid(), prefix))
            mine = frozenset(self._queues)
        try:
            sweep(sqs, sns, prefix, time.time(), lease, mine)
        except Exception as exc:
            log.warning("could not sweep monitoring queues: %s", exc)

    def forget(self, url: str):
        with self._lock:
            self._beats.pop(url, None)
            return self._queues.pop(url, None)

    def remove(self, url: str) -> None:
        owned = self.forget(url)
        if owned is None:
            return
        try:
            remove(owned[0], owned[1], url, owned[2])
        except Exception as exc:
            # A sweep takes it later; stopping must not fail on it.
            log.warning("could not remove monitoring queue %s: %s", url, exc)

    def remove_all(self) -> None:
        """Remove every queue this process still owns."""
        if self._pid != os.getpid():
            return
        for url in list(self._queues):
            self.remove(url)

    def _at_exit(self) -> None:
        self.exiting = True
        self.remove_all()
