"""Job kinds: what a client may start, which task runs it, on which queue.

The web app validates a request against its kind here and enqueues the task
by name, so it never imports the task code (nor its heavy dependencies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from core import csvimport, exports, pdfbatch
from core.errors import InvalidRequest

Validator = Callable[[Mapping[str, Any]], dict]


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name, its Celery task and queue, and its parameter check."""

    name: str
    task_name: str
    workload: str
    validate: Validator
    description: str = ""


def _canary_params(params: Mapping[str, Any]) -> dict:
    unknown = sorted(set(params) - {"sleep_seconds"})
    if unknown:
        raise InvalidRequest(f"params.{unknown[0]}", "is not a parameter of a canary job "
                             "(it takes only sleep_seconds)")
    sleep = params.get("sleep_seconds", 0)
    if isinstance(sleep, bool) or not isinstance(sleep, (int, float)):
        raise InvalidRequest("params.sleep_seconds", "must be a number of seconds")
    if not 0 <= sleep <= 300:
        raise InvalidRequest("params.sleep_seconds", "must be between 0 and 300")
    return {"sleep_seconds": sleep}


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add a kind to the registry (one name, one kind)."""
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


register(JobKind(
    name="canary",
    task_name="canary.run",
    workload="default",
    validate=_canary_params,
    description="Travels the whole path (API, queue, worker, database) and records "
                "its queue wait and the worker that ran it.",
))


register(JobKind(
    name=pdfbatch.KIND,
    task_name="pdf.plan_batch",
    workload="pdf",
    validate=pdfbatch.validate,
    description="Renders one PDF per recipient (inline rows, a CSV in the bucket or a "
                "table) from a bundled template, and a ZIP of them all.",
))


register(JobKind(
    name=csvimport.KIND,
    task_name=csvimport.TASK,
    workload="imports",
    validate=csvimport.validate,
    description="Imports a CSV file from the bucket into a dataset's table: checks every "
                "row, reports the bad ones, loads with COPY and upserts in one transaction.",
))


register(JobKind(
    name=exports.KIND,
    task_name="export.run",
    workload="exports",
    validate=exports.validate,
    description="Streams a dataset (columns and filters of your choice) to a CSV file in "
                "the bucket, optionally gzip, and links to it.",
))


def lookup(name: Any) -> JobKind:
    """The kind called ``name``, or an error that lists the kinds there are."""
    if not isinstance(name, str) or not name:
        raise InvalidRequest("kind", f"is required; one of: {', '.join(sorted(KINDS))}")
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidRequest("kind", f"{name!r} is not a job kind; one of: "
                             f"{', '.join(sorted(KINDS))}") from None
