"""``GET /api/queues``: each workload's queue depth and its dead-letter queue's, from
SQS's own attributes (Flower's broker tab cannot read an SQS broker)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from autoscaler.errors import TargetMissing
from autoscaler.queues import SqsQueueDepth
from core import aws
from core.settings import WORKLOADS
from webapp.auth import operator_required
from webapp.errors import ApiError

bp = Blueprint("queues", __name__, url_prefix="/api")


@bp.get("/queues")
@operator_required
def queue_depths():
    """Visible, in-flight and delayed messages per workload, and its dead letters."""
    settings = current_app.extensions["jobsys.settings"]
    depth = current_app.extensions.get("jobsys.queue_depth")
    if depth is None:  # one client per app: building one costs more than the calls
        depth = current_app.extensions["jobsys.queue_depth"] = SqsQueueDepth(
            aws.client(settings, "sqs"))
    queues = []
    try:
        for workload in WORKLOADS:
            main = depth.depths(settings.queue_name(workload))
            dead = depth.depths(settings.dead_letter_name(workload))
            queues.append({"workload": workload, "queue": settings.queue_name(workload),
                           "visible": main.visible, "in_flight": main.in_flight,
                           "delayed": main.delayed,
                           "dead_letter": {"queue": settings.dead_letter_name(workload),
                                           "messages": dead.visible + dead.in_flight}})
    except TargetMissing as exc:
        raise ApiError(503, str(exc)) from None
    return jsonify({"queues": queues})
