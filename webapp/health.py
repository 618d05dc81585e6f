"""Health checks: ``/healthz`` (the app and its database), open to the load balancer,
and a canary that proves the whole pipeline (API → SQS → worker → database) works,
for operators and monitors that hold ``PIPELINE_CHECK_TOKEN`` only: each call makes a
job, may wake a pool from zero and holds a web thread while it waits."""
from __future__ import annotations

import hmac
import logging
import time

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import text

from core import lifecycle
from service.submit import NotQueued, submit
from webapp.api import enqueuer, job_json
from webapp.errors import ApiError
from webapp.extensions import db
from store import jobstore
from store.models import Job

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CANARY_OWNER = "health-check"
TOKEN_HEADER = "X-Pipeline-Token"


@bp.get("/healthz")
def healthz():
    """200 when the app answers and its database does."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        # Anyone may call this: the driver's text (host names, users) goes to the log only.
        log.warning("health check: database unreachable: %s", str(exc).splitlines()[0])
        return jsonify({"status": "unhealthy", "database": "database unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


@bp.get("/healthz/pipeline")
def pipeline():
    """Run a canary job and wait for it: 200 with its queue wait, 503 if it does not finish."""
    _allowed()
    timeout = _timeout()
    job, unsent = _start_canary()
    if unsent is not None:
        return jsonify({"status": "unhealthy", "reason": f"queue unreachable: {unsent}"}), 503
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        job = db.session.get(Job, job.id)
        if job.status in lifecycle.FINISHED:
            break
        time.sleep(0.1)
    ok = job.status == lifecycle.SUCCEEDED
    body = {"status": "ok" if ok else "unhealthy", "job": job_json(job)}
    if not ok:
        body["reason"] = (f"the canary is still {job.status} after {timeout:g}s; are workers running?"
                          if job.status not in lifecycle.FINISHED else f"the canary {job.status}")
    return jsonify(body), 200 if ok else 503


def _start_canary() -> tuple[Job, BaseException | None]:
    """The canary job, and why its task could not be sent (None when it was)."""
    try:
        done = submit(db.session, enqueuer(), "canary", CANARY_OWNER, {})
    except NotQueued as exc:
        return exc.job, exc.cause
    if done.send_error is not None:
        # Nobody waits for this canary: the relay would send it for nothing.
        jobstore.cancel(db.session, done.job.id)
        db.session.commit()
    return done.job, done.send_error


def _allowed() -> None:
    """Operators, or a monitor sending the shared ``PIPELINE_CHECK_TOKEN``; nobody else."""
    expected = current_app.extensions["jobsys.settings"].pipeline_check_token
    given = request.headers.get(TOKEN_HEADER, "")
    if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
        return
    if not current_user.is_authenticated:
        raise ApiError(401, f"the pipeline check is for operators: sign in as one, send an "
                            f"operator's API token, or send {TOKEN_HEADER} (PIPELINE_CHECK_TOKEN)")
    if not current_user.is_operator:
        raise ApiError(403, "the pipeline check is for operators only")


def _timeout() -> float:
    raw = request.args.get("timeout", "10")
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{raw!r} is not a number of seconds", field="timeout") from None
    if not 0 < value <= 60:
        raise ApiError(400, "must be more than 0 and at most 60 seconds", field="timeout")
    return value
