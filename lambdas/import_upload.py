"""The bucket's object-created notification on the imports prefix starts the import.

In AWS, S3 invokes ``handler`` as a Lambda (from the web app's image) with the
S3 event; locally ``python -m lambdas.local`` calls it with the emulator's
notification. No web server is involved. A redelivered notification for the
same object (key and ETag) finds the job it already made: one job, not two.
"""
from __future__ import annotations

import logging
from urllib.parse import unquote_plus

from broker.enqueue import CeleryEnqueuer
from core import csvimport, logs
from core.settings import Settings
from service import imports
from store import db, uploadstore

log = logging.getLogger(__name__)
_enqueuers: dict[tuple, CeleryEnqueuer] = {}


def _enqueuer(settings: Settings) -> CeleryEnqueuer:
    # Built on the first event, then kept for the life of the Lambda container.
    key = (settings.aws_endpoint_url, settings.aws_region, settings.queue_prefix)
    if key not in _enqueuers:
        _enqueuers[key] = CeleryEnqueuer(settings)
    return _enqueuers[key]


def handler(event: dict, context=None, settings: Settings | None = None) -> dict:
    """Start one import per created object under the imports prefix; returns what happened."""
    settings = settings or Settings.from_env()
    if context is not None:  # invoked as a Lambda, not by the local stand-in
        logs.configure(settings, "import-upload")
    outcome = {"started": [], "existing": [], "ignored": []}
    with logs.bound(aws_request_id=getattr(context, "aws_request_id", None)), \
            db.sessions(settings.require_database())() as session:
        for record in event.get("Records", []):
            key, etag = _object(record)
            what, detail = (_start(session, _enqueuer(settings), key, etag) if key
                            else ("ignored", "not an S3 object event"))
            outcome[what].append(detail)
        log.info("upload notification: %s", outcome)
    return outcome


def _object(record: dict) -> tuple[str | None, str]:
    s3 = record.get("s3") or {}
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return None, ""
    obj = s3.get("object") or {}
    return unquote_plus(obj.get("key", "")), obj.get("eTag") or obj.get("sequencer") or ""


def _start(session, enqueuer, key: str, etag: str) -> tuple[str, str]:
    if not key.startswith(csvimport.PREFIX):
        return "ignored", f"{key} is outside {csvimport.PREFIX}"
    record = uploadstore.upload(session, key)
    if record is None:
        log.warning("object %s was not uploaded through the API; nothing to import", key)
        return "ignored", f"{key} has no upload record"
    done = imports.start(session, enqueuer, record, etag)
    what = "started" if done.created else "existing"
    with logs.bound(job_id=done.job.id, kind=done.job.kind):
        log.info("upload %s: import job %s %s", key, done.job.id, what)
    return what, str(done.job.id)
