"""The workers' Celery app: the broker's configuration (``broker.app``), the task
modules of the queues a worker consumes, and ``JobTask`` bound to the worker's
settings and database sessions. No web framework is involved.
"""
from __future__ import annotations

from celery import Celery

from broker.app import create_celery
from core.settings import Settings
from store import db
from tasks.runtime import JobTask

#: The task modules serving each workload's queue. A worker loads only those of
#: the queues it consumes, so an import worker never loads the PDF renderer.
TASK_MODULES_BY_WORKLOAD = {
    "default": ("tasks.canary",),
    "pdf": ("tasks.pdf.batch",),
    "imports": ("tasks.imports.job",),
    "exports": ("tasks.export",),
}
TASK_MODULES = tuple(m for modules in TASK_MODULES_BY_WORKLOAD.values() for m in modules)


def task_modules(workloads) -> tuple[str, ...]:
    """The task modules a worker consuming ``workloads`` needs."""
    return tuple(m for w in workloads for m in TASK_MODULES_BY_WORKLOAD.get(w, ()))


def create_worker_celery(settings: Settings, queue_urls: dict[str, str], *,
                         include=TASK_MODULES) -> Celery:
    """A Celery app whose tasks run as job tasks on this worker's database sessions."""
    bound = type("WorkerJobTask", (JobTask,), {
        "settings": settings, "sessions": db.sessions(settings.require_database())})
    return create_celery(settings, queue_urls, task_cls=bound,
                         include=list(include) + list(settings.worker_extra_imports))
