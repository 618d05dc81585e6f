"""What a PDF worker process keeps between tasks: a warm renderer.

Built once per pool process (per thread), on first use (after the fork: fontconfig state
should not be shared across it; AWS clients are ``tasks.storage``'s). A worker
that takes PDF work also renders one sample per pool process at start, so the first real
document does not pay ~1 s for fonts, and applies the per-worker rate limit.
"""
from __future__ import annotations

import logging
import threading

from celery import signals

from core import pdfbatch
from core.ratelimit import parse_rate
from core.settings import Settings
from tasks.pdf import samples
from tasks.pdf.render import Renderer

log = logging.getLogger(__name__)
RENDER_TASK = "pdf.render_chunk"

# One per thread: a worker's pool process has one, the local Lambda stand-in
# (worker.lambda_pool) runs invocations on threads, and WeasyPrint's objects are not
# for sharing between threads.
_local = threading.local()


def renderer() -> Renderer:
    """This thread's renderer."""
    if getattr(_local, "renderer", None) is None:
        _local.renderer = Renderer()
    return _local.renderer


def chunk_rate_limit(settings: Settings) -> str | None:
    """Celery's rate_limit for chunk tasks from the per-worker limit in documents."""
    limit = settings.worker_rate_limits.get(pdfbatch.KIND)
    if not limit:
        return None
    rate = parse_rate(limit)
    unit = {1: "s", 60: "m", 3600: "h"}[rate.seconds]
    return f"{rate.count / settings.pdf_chunk_size:g}/{unit}"


@signals.worker_init.connect(weak=False)
def _apply_worker_rate_limit(sender=None, **_):
    # Settings are read here, at the worker's edge: Celery reads a task's
    # rate_limit when its consumer starts, just after this signal.
    limit = chunk_rate_limit(Settings.from_env())
    if limit and sender is not None:
        sender.app.tasks[RENDER_TASK].rate_limit = limit
        log.info("per-worker rate limit of %s: %s chunks", RENDER_TASK, limit)


@signals.worker_process_init.connect(weak=False)
def _warm_up(**_):
    if "pdf" not in Settings.from_env().worker_queues:
        return
    try:
        renderer().render("statement", samples.STATEMENT)
    except Exception:
        log.exception("warming the PDF renderer failed; the first document will pay for it")
