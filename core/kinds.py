"""Job kinds: what a client may start, which task runs it, on which queue.

The web app validates a request against its kind here and enqueues the task
by name, so it never imports the task code (nor its heavy dependencies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from core import csvimport, exports, pdfbatch
from core.errors import ConfigurationError, InvalidRequest

Validator = Callable[[Mapping[str, Any]], dict]


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its name, its Celery task and queue, and its parameter check."""

    name: str
    task_name: str
    workload: str
    validate: Validator
    description: str = ""
    #: The longest one task of a job of this kind may run, in seconds (None: unbounded);
    #: ``max_run_setting`` names the setting that changes it, if one does.
    max_run_seconds: float | None = None
    max_run_setting: str | None = None
    #: What the owner of a job that ran past it can do.
    overrun_advice: str = ""


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
    # Its sleep is at most 300 s; the rest is the path itself.
    max_run_seconds=330,
    overrun_advice="a canary sleeps at most 300 s, so the worker or its database was slow: "
                   "see the worker's log",
))


register(JobKind(
    name=pdfbatch.KIND,
    task_name="pdf.plan_batch",
    workload="pdf",
    validate=pdfbatch.validate,
    description="Renders one PDF per recipient (inline rows, a CSV in the bucket or a "
                "table) from a bundled template, and a ZIP of them all.",
    # Per task: the planner (at most PDF_RECIPIENTS_MAX_ROWS rows), a chunk (it renders for
    # half of this at most and hands the rest on), the ZIP (the other half).
    max_run_seconds=600,
    overrun_advice="split the recipients into smaller batches",
))


register(JobKind(
    name=csvimport.KIND,
    task_name=csvimport.TASK,
    workload="imports",
    validate=csvimport.validate,
    description="Imports a CSV file from the bucket into a dataset's table: checks every "
                "row, reports the bad ones, loads with COPY and upserts in one transaction.",
    max_run_seconds=csvimport.MAX_RUN_SECONDS,
    max_run_setting="IMPORT_MAX_RUN_SECONDS",
    overrun_advice="split the file into smaller files, or raise IMPORT_MAX_RUN_SECONDS "
                   "where the imports pool runs on ECS (on AWS Lambda it may be at most 900)",
))


register(JobKind(
    name=exports.KIND,
    task_name="export.run",
    workload="exports",
    validate=exports.validate,
    description="Streams a dataset (columns and filters of your choice) to a CSV file in "
                "the bucket, optionally gzip, and links to it.",
    max_run_seconds=None,  # as long as the dataset takes: exports run on ECS
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


def max_run(kind: JobKind, settings=None) -> float | None:
    """The most one task of a ``kind`` job may run (s; None: unbounded): the value of its
    setting when it has one and ``settings`` are given, else its default."""
    if kind.max_run_setting and settings is not None:
        return getattr(settings, kind.max_run_setting.lower())
    return kind.max_run_seconds


def of_task(task_name: str, workload: str | None) -> list[JobKind]:
    """The kinds a task counts under: the kind it starts, else every kind of its queue
    (a PDF chunk render counts as a pdf_batch)."""
    own = [k for k in KINDS.values() if k.task_name == task_name]
    return own or [k for k in KINDS.values() if k.workload == workload]


def task_limit(task_name: str, workload: str | None, settings=None
               ) -> tuple[JobKind, float] | None:
    """The kind bounding a task and its maximum run time; None when nothing bounds it
    (no kind, or one that may run unbounded: the loosest kind decides)."""
    limits = [(max_run(k, settings), k) for k in of_task(task_name, workload)]
    if not limits or any(seconds is None for seconds, _ in limits):
        return None
    seconds, kind = max(limits, key=lambda pair: pair[0])
    return kind, seconds


def overrun(kind: JobKind, seconds: float) -> str:
    """A job's error when it ran past its kind's maximum, saying what to do."""
    setting = f" ({kind.max_run_setting})" if kind.max_run_setting else ""
    advice = f"; {kind.overrun_advice}" if kind.overrun_advice else ""
    return f"ran longer than {seconds:g} s, the most a {kind.name} job may run{setting}{advice}"


def check_fits(workloads, limit_seconds: float, runtime_label: str, settings=None,
               pool: str | None = None) -> None:
    """Refuse (``ConfigurationError``) to serve ``workloads`` on a runtime whose runs end
    after ``limit_seconds`` when a kind of theirs may run longer, naming the kind, its
    maximum, the limit and what to do. ``pool`` names the pool in the advice (default:
    the workload's own)."""
    problems = []
    for workload in workloads:
        for kind in (k for k in KINDS.values() if k.workload == workload):
            seconds = max_run(kind, settings)
            if seconds is not None and seconds <= limit_seconds:
                continue
            name = (pool or workload).upper().replace("-", "_")
            how_long = ("for as long as they take (no maximum run time)" if seconds is None
                        else f"for up to {seconds:g} s")
            setting = f" ({kind.max_run_setting})" if kind.max_run_setting else ""
            lower = (f"set {kind.max_run_setting} to at most {limit_seconds:g}, or "
                     if kind.max_run_setting else "")
            problems.append(
                f"{kind.name} jobs (queue {workload}) may run {how_long}{setting}, longer "
                f"than the {limit_seconds:g} s a run on {runtime_label} may take: {lower}run "
                f"pool {(pool or workload)} on ECS: POOL_{name}_RUNTIME=ecs")
    if problems:
        raise ConfigurationError("; ".join(problems))
