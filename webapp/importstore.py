"""Starting imports: record an upload the API handed out, and turn an uploaded
object into one import job.

Shared by the API ("upload complete", direct posts) and the upload notification
handler (lambdas/import_upload.py): both derive the job's idempotency key from
the object's key and ETag, so however many times either one fires for the same
object, there is one job.
"""
from __future__ import annotations

import logging

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core import csvimport, kinds
from webapp import jobstore
from webapp.models import ImportUpload, Job

log = logging.getLogger(__name__)


def record_upload(session: Session, *, key: str, owner: str, dataset: str,
                  options: dict) -> None:
    """Remember who may import ``key``, into which dataset, with which options."""
    session.execute(insert(ImportUpload).values(key=key, owner=owner, dataset=dataset,
                                                options=options)
                    .on_conflict_do_nothing(index_elements=["key"]))
    session.commit()


def upload(session: Session, key: str) -> ImportUpload | None:
    return session.get(ImportUpload, key)


def start(session: Session, enqueuer, record: ImportUpload, etag: str) -> tuple[Job, bool]:
    """The import job of this uploaded object, created and queued once.

    Returns (job, created). If the message cannot be sent, the job is failed
    with the reason and the error propagates.
    """
    kind = kinds.lookup(csvimport.KIND)
    params = {"dataset": record.dataset, "key": record.key, **record.options}
    job, created = jobstore.create(
        session, kind=kind.name, owner=record.owner, params=params,
        idempotency_key=csvimport.upload_idempotency_key(record.key, etag))
    if created:
        try:
            enqueuer.send(kind, str(job.id))
        except Exception as exc:
            jobstore.fail_unsent(session, job.id, f"could not be queued: {exc}")
            raise
        log.info("import job %s queued for %s", job.id, record.key)
    return job, created
