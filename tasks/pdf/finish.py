"""The end of a batch: once no document is pending, one worker builds the ZIP and
finishes the job (succeeded, partially_failed or failed by its counts)."""
from __future__ import annotations

import logging

from core import lifecycle, pdfbatch
from core.errors import RanTooLong
from core.settings import Settings
from store import batchstore
from store.models import Job
from tasks import deadlines, runtime, storage
from tasks.pdf import archive

log = logging.getLogger(__name__)


def after_chunk(job_id, settings: Settings) -> None:
    """Finish the job if this caller settled its last document (else do nothing)."""
    session = runtime.session()
    stale = settings.visibility_timeouts["pdf"] * 2 / 3
    claimed = batchstore.claim_archive(session, job_id, stale)
    session.commit()
    if not claimed:
        return
    job = session.get(Job, job_id, populate_existing=True)
    try:
        figures = _archive(session, job, settings) if job.done else None
    except RanTooLong as exc:
        session.rollback()
        runtime.current().end(batchstore.finish(
            session, job_id, lifecycle.FAILED, result=_result(job, None),
            error=f"the ZIP of its {job.done} documents was not built: {exc}"))
        session.commit()
        return
    except BaseException:
        batchstore.release_archive(session, job_id)
        session.commit()
        raise
    status = lifecycle.outcome(job.total, job.done, job.failed)
    runtime.current().end(batchstore.finish(session, job_id, status,
                                            result=_result(job, figures), error=_error(job)))
    session.commit()
    log.info("job %s %s: %d done, %d failed", job_id, status, job.done, job.failed)


def _archive(session, job: Job, settings: Settings) -> dict:
    key = pdfbatch.archive_key(str(job.id))
    members = ((pdfbatch.file_name(seq, recipient), source)
               for seq, recipient, source in batchstore.done_documents(session, job.id))
    deadline = runtime.current().deadline
    figures = archive.build(storage.client(settings, "s3"), settings.bucket, key, members,
                            check=lambda: deadlines.check(deadline))
    session.commit()  # ends the streaming read
    return {"key": key, **figures}


def _result(job: Job, archive_figures: dict | None) -> dict:
    result = {"template": job.params.get("template"), "documents": job.done,
              "failed": job.failed}
    if archive_figures:
        result["archive"] = archive_figures
    return result


def _error(job: Job) -> str | None:
    if not job.failed:
        return None
    return (f"{job.failed} of {job.total} documents failed; GET /api/jobs/{job.id}/documents"
            "?status=failed lists each recipient's error, and POST "
            f"/api/jobs/{job.id}/retry-failed renders them again")
