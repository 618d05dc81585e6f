"""Every request gets an id, on each line it logs (``request_id``) and in its response
(``X-Request-Id``), so a user's report of a failed call finds its lines."""
from __future__ import annotations

import uuid

from flask import g

from core import logs

HEADER = "X-Request-Id"


def init_app(app) -> None:
    app.before_request(_bind)
    app.after_request(_tell)
    app.teardown_request(_unbind)


def _bind() -> None:
    g.request_id = uuid.uuid4().hex
    g.request_log_token = logs.bind(request_id=g.request_id)


def _tell(response):
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def _unbind(_exc=None) -> None:
    token = g.pop("request_log_token", None)
    if token is not None:
        logs.unbind(token)
