"""Who is asking: a signed-in session (pages) or an API token (``Authorization: Bearer``).

Every ``/api/`` route but the public ones needs one of the two; the pages take a
session only, and a bearer token sent to one is refused. Requests that
change something with a session cookie must carry the CSRF token (a form
field, or the ``X-CSRFToken`` header from the pages' scripts); requests with a
bearer token need none, since a browser never adds that header on its own.
"""
from __future__ import annotations

import logging
import secrets
from functools import wraps

from flask import abort, current_app, redirect, request, url_for
from flask_login import LoginManager, current_user

from store import accounts, jobstore
from webapp.errors import ApiError
from webapp.extensions import csrf, db
from store.models import Job, User

log = logging.getLogger(__name__)
login_manager = LoginManager()
PUBLIC_API = {"openapi.spec"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def init_app(app, settings) -> None:
    """Sessions, tokens and CSRF for ``app``."""
    key = app.config.get("SECRET_KEY") or settings.secret_key
    if not key:
        key = secrets.token_urlsafe(32)
        if not app.testing:
            app.before_request(_warn_once())
    app.config.update(SECRET_KEY=key, WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.cookie_secure,
                      REMEMBER_COOKIE_SECURE=settings.cookie_secure,
                      REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.before_request(_guard)


def _warn_once():
    warned = []

    def warn():
        if not warned:
            warned.append(True)
            log.warning("SECRET_KEY is not set: sign-ins last only as long as this process and "
                        "work in no other; set it to one long random string for every web process")
    return warn


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return accounts.user_for_session(db.session, session_id)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        raise ApiError(401, "sign in, or send an API token as 'Authorization: Bearer <token>' "
                            "(create one under Account → API tokens)")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def bearer_token(req) -> str | None:
    auth = req.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return auth.token
    return None


def takes_tokens(req) -> bool:
    """Whether a bearer token may be used here: the JSON API and the health checks.

    Never the pages: a token that could post their forms could mint tokens that
    outlive its own revocation, or sign its user out."""
    return req.path.startswith("/api/") or req.blueprint == "health"


def _guard():
    """API routes need a user; cookie-authenticated changes need the CSRF token.

    A request that carries a bearer token is that token's user, or nobody: the
    token is never overruled by a session cookie sent alongside it.
    """
    token = bearer_token(request)
    if token is not None and not takes_tokens(request):
        raise ApiError(403, "API tokens work only on /api/ routes (and the health checks); "
                            "the pages, and the API tokens page among them, need a sign-in "
                            "through /login")
    if token is not None:
        user = accounts.user_for_token(db.session, token)
        db.session.commit()  # when it was last used
        login_manager._update_request_context_with_user(user)
    if (request.path.startswith("/api/") and request.endpoint not in PUBLIC_API
            and not current_user.is_authenticated):
        return current_app.login_manager.unauthorized()
    if request.method in _UNSAFE and token is None:
        csrf.protect()
    return None


def current_owner() -> str:
    """The name jobs created by this request are recorded under."""
    if not current_user.is_authenticated:
        raise ApiError(401, "sign in or send an API token")
    return current_user.username


def can_see(owner: str) -> bool:
    """Whether the current user may see (and act on) what ``owner`` owns."""
    return current_user.is_authenticated and (
        current_user.is_operator or current_user.username == owner)


def visible_job(job_id, kind: str | None = None) -> Job | None:
    """The job ``job_id`` (of ``kind``, when given) if the current user may see it, else None."""
    key = jobstore.as_uuid(job_id)
    job = db.session.get(Job, key) if key else None
    if job is None or not can_see(job.owner) or (kind is not None and job.kind != kind):
        return None
    return job


def api_job(job_id, kind: str | None = None) -> Job:
    """``visible_job`` for the API: a 404 that names the job when there is none to see."""
    job = visible_job(job_id, kind)
    if job is None:
        raise ApiError(404, f"no {kind + ' ' if kind else ''}job {job_id!r}", field="job_id")
    return job


def operator_required(view):
    """A page or API route only operators may use (403 for others)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if not current_user.is_operator:
            abort(403, "only operators may do this")  # JSON under /api/, a page elsewhere
        return view(*args, **kwargs)
    return wrapper
