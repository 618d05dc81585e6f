"""``GET /api/queues``: each workload's queue depth and its dead-letter queue's, from
SQS's own attributes (Flower's broker tab cannot read an SQS broker)."""
from __future__ import annotations

import threading

from flask import Blueprint, current_app, jsonify

from autoscaler.errors import TargetMissing
from autoscaler.queues import SqsQueueDepth
from core import aws
from core.settings import WORKLOADS
from webapp.auth import operator_required
from webapp.errors import ApiError

bp = Blueprint("queues", __name__, url_prefix="/api")
_lock = threading.Lock()


def sqs_client():
    """The web app's SQS client, built on first use (building one costs more than a call)."""
    with _lock:
        ext = current_app.extensions
        if "jobsys.sqs" not in ext:
            ext["jobsys.sqs"] = aws.client(ext["jobsys.settings"], "sqs")
            ext["jobsys.queue_depth"] = SqsQueueDepth(ext["jobsys.sqs"])
        return ext["jobsys.sqs"]


def queue_url(name: str) -> str:
    """The URL of the queue called ``name`` (TargetMissing when it does not exist)."""
    sqs_client()
    return current_app.extensions["jobsys.queue_depth"].url(name)


def depths() -> list[dict]:
    """Visible, in-flight and delayed messages per workload, and its dead letters."""
    settings = current_app.extensions["jobsys.settings"]
    sqs_client()
    depth = current_app.extensions["jobsys.queue_depth"]
    queues = []
    for workload in WORKLOADS:
        main = depth.depths(settings.queue_name(workload))
        dead = depth.depths(settings.dead_letter_name(workload))
        queues.append({"workload": workload, "queue": settings.queue_name(workload),
                       "visible": main.visible, "in_flight": main.in_flight,
                       "delayed": main.delayed,
                       "dead_letter": {"queue": settings.dead_letter_name(workload),
                                       "messages": dead.visible + dead.in_flight}})
    return queues


@bp.get("/queues")
@operator_required
def queue_depths():
    """Visible, in-flight and delayed messages per workload, and its dead letters."""
    try:
        return jsonify({"queues": depths()})
    except TargetMissing as exc:
        raise ApiError(503, str(exc)) from None
