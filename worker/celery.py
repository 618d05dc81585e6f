"""The worker's Celery app for Celery's own command line:

    celery -A worker worker -Q pdf,default --concurrency 2

starts the same worker as ``python -m worker`` (keeper, dead-letter sweep,
job runtime), on the queues ``-Q`` names (else ``WORKER_QUEUES``: -Q wins); every other
setting comes from the environment as usual. The app is built when Celery
first asks for it, not at import.
"""
from __future__ import annotations

import os
import sys

from core.settings import Settings


def queues_from_argv(argv: list[str]) -> tuple[str, ...] | None:
    """The queues a ``celery worker`` command line names with ``-Q``/``--queues``, if any."""
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--queues="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-Q") and len(arg) > 2:
            value = arg[2:]
        else:
            continue
        return tuple(q for q in value.split(",") if q)
    return None


def _build():
    from worker.main import build, pdf_preflight

    named = queues_from_argv(sys.argv)
    # The queues Celery consumes decide the task code loaded: -Q wins.
    settings = Settings.from_env({**os.environ, **(
        {"WORKER_QUEUES": ",".join(named)} if named else {})})
    pdf_preflight(settings.worker_queues)
    celery, _ = build(settings)
    return celery


_app = None


def __getattr__(name: str):
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = _build()
    return _app
