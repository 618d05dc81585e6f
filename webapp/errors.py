"""JSON errors for the API: every error names what is wrong and, when it can, the field."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from core.errors import Forbidden, InvalidRequest
from service.submit import NotQueued

log = logging.getLogger(__name__)
# Seconds a client waits before it sends again a request the database could not take.
DATABASE_RETRY_AFTER = 5
DATABASE_DOWN = (f"the database is unreachable or busy, so the request was not carried out: "
                 f"send it again in {DATABASE_RETRY_AFTER} seconds (a job request sent again "
                 f"with the same Idempotency-Key header never makes two jobs)")


class ApiError(Exception):
    """An error answered with ``status`` and a JSON body."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra


def error_body(message: str, field: str | None = None, **extra) -> dict:
    body = {"message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return {"error": body}


def init_app(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify(error_body(exc.message, exc.field, **exc.extra)), exc.status

    @app.errorhandler(InvalidRequest)
    def invalid_request(exc: InvalidRequest):
        status = 403 if isinstance(exc, Forbidden) else 422
        return jsonify(error_body(exc.message, exc.field)), status

    @app.errorhandler(NotQueued)
    def not_queued(exc: NotQueued):
        body = error_body(f"the job could not be queued: {exc.cause}", job_id=str(exc.job.id))
        return jsonify(body), 503

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if not (isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated):
            return unexpected(exc)
        log.warning("database unreachable: %s", str(exc).splitlines()[0])
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
        if _wants_page():
            # Not the site's error page: its layout reads the signed-in user from the database.
            return DATABASE_DOWN, 503, {**headers, "Content-Type": "text/plain; charset=utf-8"}
        return jsonify(error_body(DATABASE_DOWN)), 503, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = _too_large() if exc.code == 413 else exc.description or exc.name
        if _wants_page():
            return render_template("error.html", code=exc.code, message=message), exc.code
        return jsonify(error_body(message)), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        message = "internal error; the server log has the details"
        if _wants_page():
            return render_template("error.html", code=500, message=message), 500
        return jsonify(error_body(message)), 500


def _wants_page() -> bool:
    """Pages answer errors as HTML; the API and health checks as JSON."""
    return not (request.path.startswith("/api/") or request.path.startswith("/healthz"))


def _too_large() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return (f"the request body is larger than the {limit:,} bytes a request may carry "
            "(MAX_REQUEST_BYTES); send files through an upload instead")
