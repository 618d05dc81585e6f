"""``GET /api/operator/metrics``: queue wait p50/p95 and jobs by outcome, per kind and
minute, over the last ``minutes`` (60 unless asked), from the job rows."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify, request

from store import jobstats
from webapp.auth import operator_required
from webapp.errors import ApiError
from webapp.extensions import db

bp = Blueprint("jobstats", __name__, url_prefix="/api/operator")


def window() -> int:
    """The ``minutes`` query value: a whole number from 1 to a day."""
    raw = request.args.get("minutes", str(jobstats.DEFAULT_MINUTES))
    try:
        minutes = int(raw)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= jobstats.MAX_MINUTES:
        raise ApiError(400, f"{raw!r} is not a whole number of minutes between 1 and "
                            f"{jobstats.MAX_MINUTES}", field="minutes")
    return minutes


@bp.get("/metrics")
@operator_required
def recent_jobs():
    """Queue wait and outcomes per kind over the last minutes (operators only)."""
    return jsonify(jobstats.recent(db.session, datetime.now(timezone.utc), window()))
