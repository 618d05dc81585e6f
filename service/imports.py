"""Turning an uploaded object into one import job.

Shared by the API ("upload complete", direct posts) and the upload notification
(lambdas/import_upload.py): both derive the job's idempotency key from the
object's key and ETag, so however many times either fires for the same object,
there is one job.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from core import csvimport
from core.enqueue import Enqueuer
from service.submit import Submitted, submit
from store.models import ImportUpload


def start(session: Session, enqueuer: Enqueuer, record: ImportUpload, etag: str) -> Submitted:
    """The import job of this uploaded object, created and queued once."""
    params = {"dataset": record.dataset, "key": record.key, **record.options}
    return submit(session, enqueuer, csvimport.KIND, record.owner, params,
                  idempotency_key=csvimport.upload_idempotency_key(record.key, etag))
