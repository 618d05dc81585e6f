"""The bucket's object-created notification on the imports prefix starts the import.

In AWS, S3 invokes ``handler`` as a Lambda (from the web app's image) with the
S3 event; locally ``python -m lambdas.local`` calls it with the emulator's
notification. No web server is involved. A redelivered notification for the
same object (key and ETag) finds the job it already made: one job, not two.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote_plus

from core import csvimport
from core.settings import Settings

log = logging.getLogger(__name__)
_app = None


def _flask_app(settings: Settings | None = None):
    # Built on the first event, then kept for the life of the Lambda container.
    global _app
    if _app is None:
        from webapp import create_app
        _app = create_app(settings=settings)
    return _app


def handler(event: dict, context=None, settings: Settings | None = None) -> dict:
    """Start one import per created object under the imports prefix; returns what happened."""
    app = _flask_app(settings)
    outcome = {"started": [], "existing": [], "ignored": []}
    with app.app_context():
        for record in event.get("Records", []):
            key, etag = _object(record)
            what, detail = _start(app, key, etag) if key else ("ignored", "not an S3 object event")
            outcome[what].append(detail)
    log.info("upload notification: %s", outcome)
    return outcome


def _object(record: dict) -> tuple[str | None, str]:
    s3 = record.get("s3") or {}
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return None, ""
    obj = s3.get("object") or {}
    return unquote_plus(obj.get("key", "")), obj.get("eTag") or obj.get("sequencer") or ""


def _start(app, key: str, etag: str) -> tuple[str, str]:
    from webapp import importstore
    from webapp.extensions import db

    if not key.startswith(csvimport.PREFIX):
        return "ignored", f"{key} is outside {csvimport.PREFIX}"
    record = importstore.upload(db.session, key)
    if record is None:
        log.warning("object %s was not uploaded through the API; nothing to import", key)
        return "ignored", f"{key} has no upload record"
    job, created = importstore.start(db.session, app.extensions["jobsys.enqueuer"], record, etag)
    return ("started" if created else "existing"), str(job.id)
