"""The rules of monitoring on SQS: which queues are monitoring queues, how they
are named and tagged, when their owner counts as gone, how Flower is started.

Celery's events and remote control need queues that live as long as one
process: an event queue per monitor (Flower, ``celery events``), a pidbox queue
per worker and a reply queue per client thread. They are the only queues
created at run time (by ``broker.sqs_fanout``; ``broker.monitor_queues`` talks
to SQS and SNS about them). Each is tagged ``role``, ``owner`` (host:pid),
``created`` and ``beat`` (epoch seconds); its owner renews ``beat`` while it
uses the queue, and a queue whose beat is older than the lease is swept.

Pure functions: no boto3, Celery or kombu here.
"""
from __future__ import annotations

import hashlib

EVENTS, PIDBOX, REPLY = "events", "pidbox", "reply"
#: Seconds SQS keeps an unread message: events and replies are worth nothing late.
RETENTION = {EVENTS: 300, PIDBOX: 300, REPLY: 60}
#: The fanout exchange (an SNS topic, after the queue prefix) each role listens to.
EXCHANGE_OF = {EVENTS: "celeryev", PIDBOX: "celery.pidbox"}
MAX_NAME = 80
_SQS_SUFFIXES = ((REPLY, "-reply-celery-pidbox"), (PIDBOX, "-celery-pidbox"))
#: Every monitoring queue's SQS name after the prefix matches one of these (IAM's
#: wildcards: the roles may create and delete these queues and no others).
SQS_NAME_PATTERNS = ("celeryev-*", "*-celery-pidbox")


def role_of(name: str) -> str | None:
    """The monitoring role of a kombu queue name; None for anything else (task queues)."""
    if name.startswith("celeryev."):
        return EVENTS
    if name.endswith(".reply.celery.pidbox"):
        return REPLY
    if name.endswith(".celery.pidbox"):
        return PIDBOX
    return None


def role_of_sqs_name(name: str, prefix: str) -> str | None:
    """The monitoring role of an SQS queue name (prefix included), or None."""
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix):]
    if rest.startswith("celeryev-"):
        return EVENTS
    return next((role for role, suffix in _SQS_SUFFIXES if rest.endswith(suffix)), None)


def fit_name(name: str) -> str:
    """``name`` within SQS's 80 characters, keeping its role suffix (long host names)."""
    if len(name) <= MAX_NAME:
        return name
    suffix = next((s for _, s in _SQS_SUFFIXES if name.endswith(s)), "")
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    head = name[:MAX_NAME - len(suffix) - len(digest) - 1]
    return f"{head}-{digest}{suffix}"


def tags(role: str, owner: str, now: float) -> dict[str, str]:
    """The tags a monitoring queue is created with."""
    stamp = str(int(now))
    return {"role": role, "owner": owner, "created": stamp, "beat": stamp}


def expired(queue_tags: dict, created: float, now: float, lease: float) -> bool:
    """True when the queue's owner has not renewed it for longer than ``lease`` seconds.

    Queues without our tags (left by stock kombu) count from their creation.
    """
    try:
        beat = float(queue_tags.get("beat") or created)
    except ValueError:
        beat = created
    return now - beat > lease


def renewal_due(last_beat: float | None, now: float, lease: float) -> bool:
    """An owner renews a third of the way into the lease, so two renewals may fail."""
    return last_beat is None or now - last_beat >= lease / 3


def topic_name(prefix: str, exchange: str) -> str:
    """kombu names a topic like a queue: the prefix, then dots as dashes."""
    return (prefix + exchange).replace(".", "-")


def topics_of(role: str, prefix: str) -> tuple[str, ...]:
    """Names of the SNS topics a queue of ``role`` is subscribed to."""
    return (topic_name(prefix, EXCHANGE_OF[role]),) if role in EXCHANGE_OF else ()


def topic_arn(queue_arn: str, topic: str) -> str:
    """The ARN of SNS topic ``topic`` in the queue's partition, region and account."""
    _, partition, _, region, account, _ = queue_arn.split(":", 5)
    return f"arn:{partition}:sns:{region}:{account}:{topic}"


#: Flower's defaults for an SQS broker, as the FLOWER_* variables Flower reads at
#: start (worker/flower.py sets them unless the operator did; a flag wins too).
FLOWER_ENV = {
    # Workers send events by their own settings (WORKER_EVENTS); Flower's
    # enable_events broadcast every 5 s would cost SNS publishes and undo
    # WORKER_EVENTS=off.
    "FLOWER_ENABLE_EVENTS": "false",
    # An inspect call crosses SNS and SQS twice: Flower's default 1 s is too short.
    "FLOWER_INSPECT_TIMEOUT": "5000",
}
