"""JSON errors for the API: every error names what is wrong and, when it can, the field."""
from __future__ import annotations

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from core.errors import InvalidRequest

log = logging.getLogger(__name__)


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
        return jsonify(error_body(exc.message, exc.field)), 422

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return jsonify(error_body(exc.description or exc.name)), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify(error_body("internal error; the server log has the details")), 500
