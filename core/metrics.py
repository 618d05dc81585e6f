"""Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on
stdout, from which CloudWatch Logs extracts the metrics (no CloudWatch API call).

Standard library only, like ``core.env``: the autoscaler's Lambda image carries this
module too. What each line declares (``JOB_METRICS``, ``POOL_METRICS``) is also what
the stack's dashboard draws (``deploy.dashboard``; a test ties the two together).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

MODES = ("emf", "off")
NAMESPACE = "jobsys"


@dataclass(frozen=True)
class Directive:
    """Metrics and the dimension sets CloudWatch files each of them under."""

    dimensions: tuple[tuple[str, ...], ...]
    units: Mapping[str, str]  # metric name → unit


#: Per job end: how long it waited, how long it ran, and one count under its outcome.
JOB_METRICS = (
    Directive((("Kind",), ("Queue",)), {"QueueWait": "Seconds", "RunTime": "Seconds"}),
    Directive((("Kind", "Outcome"),), {"Jobs": "Count"}),
)
#: Per autoscaler decision, per pool.
POOL_METRICS = (
    Directive((("Pool",),), {"DesiredWorkers": "Count", "CurrentWorkers": "Count",
                             "Backlog": "Count", "WorkerChange": "Count"}),
)


def emf(namespace: str, directives: tuple[Directive, ...], values: Mapping[str, object],
        properties: Mapping[str, object], now: float) -> dict:
    """The EMF document of ``values`` (dimension values and metric values) at ``now``
    (epoch seconds); a metric without a value (None or absent) is left out."""
    present = {k: v for k, v in values.items() if v is not None}
    declared = []
    for directive in directives:
        metrics = [{"Name": name, "Unit": unit} for name, unit in directive.units.items()
                   if name in present]
        if metrics:
            declared.append({"Namespace": namespace,
                             "Dimensions": [list(d) for d in directive.dimensions],
                             "Metrics": metrics})
    return {"_aws": {"Timestamp": int(now * 1000), "CloudWatchMetrics": declared},
            **properties, **present}


def job_ended(namespace: str, kind: str, queue: str, status: str, created, started,
              finished, now: float, properties: Mapping[str, object] = {}) -> dict:
    """The EMF document of a job's end (datetimes of its row; ``started`` None when it
    never ran): queue wait = started − created, run time = finished − started."""
    def seconds(start, end):
        return None if start is None or end is None else round((end - start).total_seconds(), 3)
    values = {"Kind": kind, "Queue": queue, "Outcome": status, "Jobs": 1,
              "QueueWait": seconds(created, started), "RunTime": seconds(started, finished)}
    return emf(namespace, JOB_METRICS, values, properties, now)


def pool_decided(namespace: str, record: Mapping[str, object], backlog: int,
                 now: float) -> dict:
    """The EMF document of one pool's autoscaling decision record."""
    values = {"Pool": record["pool"], "DesiredWorkers": record["desired"],
              "CurrentWorkers": record["current"], "Backlog": backlog,
              "WorkerChange": record["desired"] - record["current"]}
    properties = {"Decision": record["reason"], "Applied": record["applied"],
                  "DryRun": record["dry_run"]}
    return emf(namespace, POOL_METRICS, values, properties, now)


def write(document: dict, fd: int = 1) -> None:
    """One EMF line on standard output, in one write.

    Not ``print``: a Celery worker replaces ``sys.stdout`` with a logger that prefixes
    each line (CloudWatch reads EMF only from a line that is the JSON object), and one
    ``os.write`` of a line keeps pool processes sharing the descriptor from interleaving.
    """
    os.write(fd, (json.dumps(document, separators=(",", ":"), default=str) + "\n").encode())
