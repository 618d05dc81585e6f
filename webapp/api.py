"""The JSON API for jobs: create, read, list, cancel."""
from __future__ import annotations

import base64
import json
import logging
import uuid
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import and_, or_, select

from core import kinds, lifecycle, pdfbatch
from core.errors import InvalidRequest
from store import jobstore
from service.submit import submit
from webapp.errors import ApiError
from webapp.extensions import db
from store.models import Job
from webapp.auth import api_job, current_owner

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

MAX_PAGE = 200
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def job_json(job: Job) -> dict:
    """The API's view of a job."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "owner": job.owner,
        "status": job.status,
        "params": job.params,
        "progress": {"total": job.total, "done": job.done, "failed": job.failed},
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "worker": job.worker,
        "idempotency_key": job.idempotency_key,
        "cancel_requested": job.cancel_requested_at is not None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "links": {"self": url_for("api.get_job", job_id=job.id),
                  "cancel": url_for("api.cancel_job", job_id=job.id)},
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@bp.post("/jobs")
def create_job():
    """Record a job and queue it; 202 with its id and Location."""
    owner = current_owner()
    body = _json_object()
    kind = kinds.lookup(body.get("kind"))
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise InvalidRequest("params", "must be a JSON object")
    params = kind.validate(params)
    _check_limits(kind.name, params)
    unknown = sorted(set(body) - {"kind", "params"})
    if unknown:
        raise InvalidRequest(unknown[0], "is not a field of a job request (use kind and params)")
    done = submit(db.session, enqueuer(), kind.name, owner, params,
                  idempotency_key=_idempotency_key())
    if not done.created:
        return _replay(done.job, kind.name, params)
    return _accepted(done.job)


def enqueuer():
    """The app's way to send tasks (SQS in a deployment, a list in tests)."""
    return current_app.extensions["jobsys.enqueuer"]


def _check_limits(kind: str, params: dict) -> None:
    """Refuse at once what a worker would refuse: more inline recipients than a batch may have."""
    limit = current_app.extensions["jobsys.settings"].pdf_recipients_max_rows
    problem = kind == pdfbatch.KIND and pdfbatch.too_many_rows(len(params.get("rows", ())), limit)
    if problem:
        raise InvalidRequest("params.rows", f"holds {len(params['rows']):,} rows: {problem}")


def _accepted(job: Job, replayed: bool = False):
    response = jsonify(job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_job", job_id=job.id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(job: Job, kind: str, params: dict):
    if job.kind != kind or job.params != params:
        raise ApiError(422, f"this key was already used for a different request (job {job.id}); "
                            "use a new key for a new job", field="Idempotency-Key")
    return _accepted(job, replayed=True)


def _json_object() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the decoder's own limit, near 1,000 levels
        raise _too_deep() from None
    if body is None:
        raise ApiError(415 if not request.is_json else 400,
                       "the request body must be a JSON object such as "
                       '{"kind": "canary", "params": {}} sent with Content-Type: application/json')
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object, not a "
                            f"{type(body).__name__}")
    if _depth(body) > MAX_DEPTH:
        raise _too_deep()
    where = _nul_in(body)
    if where is not None:
        raise InvalidRequest(where or "body", _NUL_MESSAGE)
    return body


MAX_DEPTH = 32


def _too_deep() -> ApiError:
    return ApiError(400, f"the request body nests objects and lists more than {MAX_DEPTH} "
                         "levels deep; no request needs that many")

_NUL_MESSAGE = "must not contain the NUL character (\\u0000); PostgreSQL cannot store it"


def _depth(value) -> int:
    """How deeply ``value``'s objects and lists nest (a scalar: 0)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level + 1)
            todo.extend((item, level + 1)
                        for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def _nul_in(value) -> str | None:
    """The path of the first string (or key) in ``value`` holding a NUL character."""
    keys = _nul_keys(value)
    if keys is None:
        return None
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(keys)).lstrip(".")


def _nul_keys(value) -> list | None:
    """The keys leading to the first NUL, innermost first (built only once one is found)."""
    if isinstance(value, str):
        return [] if "\x00" in value else None
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return [key]
        found = _nul_keys(item)
        if found is not None:
            found.append(key)
            return found
    return None


@bp.before_app_request
def _refuse_nul_in_query():
    """Query values go into SQL as text, which cannot hold NUL: refuse them up front."""
    if request.path.startswith("/api/"):
        for name, value in request.args.items(multi=True):
            if "\x00" in value or "\x00" in name:
                raise ApiError(400, _NUL_MESSAGE, field=name.replace("\x00", ""))


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not set(key) <= _KEY_CHARS:
        raise ApiError(400, "must be 1-200 characters of letters, digits and - _ . :",
                       field="Idempotency-Key")
    return key


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """One job, as it is now."""
    return jsonify(job_json(api_job(job_id)))


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancel a queued job at once; ask a running one to stop at its next check."""
    response = jsonify(job_json(cancel(api_job(job_id))))
    response.status_code = 202
    return response


def cancel(job: Job) -> Job:
    """Cancel ``job`` (409 once it has finished)."""
    if job.status in lifecycle.FINISHED:
        raise ApiError(409, f"the job is already {job.status}", field="status")
    job = jobstore.cancel(db.session, job.id)
    db.session.commit()
    return job


@bp.get("/jobs")
def list_jobs():
    """The caller's jobs (an operator's: everyone's, or ``owner``'s), newest first,
    filtered by status and kind, a page at a time."""
    limit = _limit()
    query = select(Job)
    owner = request.args.get("owner")
    if not current_user.is_operator:
        if owner not in (None, current_user.username):
            raise ApiError(403, "only operators may list other users' jobs", field="owner")
        owner = current_user.username
    if owner:
        query = query.where(Job.owner == owner)
    status = request.args.get("status")
    if status:
        if status not in lifecycle.STATUSES:
            raise ApiError(400, f"{status!r} is not a status; one of: "
                                f"{', '.join(lifecycle.STATUSES)}", field="status")
        query = query.where(Job.status == status)
    kind = request.args.get("kind")
    if kind:
        query = query.where(Job.kind == kind)
    cursor = request.args.get("cursor")
    if cursor:
        created, last_id = _decode_cursor(cursor)
        query = query.where(or_(Job.created_at < created,
                                and_(Job.created_at == created, Job.id < last_id)))
    rows = db.session.execute(
        query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)).scalars().all()
    page, more = rows[:limit], len(rows) > limit
    body = {"jobs": [job_json(j) for j in page], "next": None}
    if more:
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        body["next"] = url_for("api.list_jobs", cursor=_encode_cursor(page[-1]), **args)
    return jsonify(body)


def _limit() -> int:
    raw = request.args.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"{raw!r} is not a whole number", field="limit") from None
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, f"must be between 1 and {MAX_PAGE}", field="limit")
    return limit


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), str(job.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, last_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), uuid.UUID(last_id)
    except (ValueError, TypeError):
        raise ApiError(400, "is not a cursor this API gave out; use the `next` link "
                            "of the previous page", field="cursor") from None
