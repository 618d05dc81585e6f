"""The stack's CloudWatch dashboard: what the workers' and the autoscaler's EMF lines
(``core.metrics``) measure, next to SQS's own queue metrics.

The workers and the autoscaler get ``METRICS=emf`` and ``METRICS_NAMESPACE`` from
``metrics_env()``, so the lines land in the namespace the dashboard reads.
"""
from __future__ import annotations

import json

from core import kinds, lifecycle
from deploy import pools
from deploy.cfn import sub
from deploy.names import POOLS, function_name, pool_short

#: The namespace of the stack's metrics: one per stack, as its other names.
NAMESPACE = "${QueuePrefix}metrics"
DASHBOARD_NAME = "${QueuePrefix}jobs"
OUTCOMES = sorted(lifecycle.FINISHED)
PERCENTILES = ("p50", "p95")


def metrics_env() -> dict:
    """What turns the EMF lines on, for the workers and the autoscaler."""
    return {"METRICS": "emf", "METRICS_NAMESPACE": sub(NAMESPACE)}


def _metric(name: str, dimensions: dict, stat: str, label: str) -> list:
    pairs = [part for item in dimensions.items() for part in item]
    return [NAMESPACE, name, *pairs, {"stat": stat, "label": label}]


def _widget(title: str, lines: list, width: int = 12, stacked: bool = False,
            period: int = 60, unit: str | None = None) -> dict:
    props = {"title": title, "view": "timeSeries", "region": "${AWS::Region}",
             "stacked": stacked, "period": period, "metrics": lines}
    if unit:
        props["yAxis"] = {"left": {"label": unit, "showUnits": False, "min": 0}}
    return {"type": "metric", "width": width, "height": 6, "properties": props}


def _percentiles(name: str, dimension: str, values) -> list:
    return [_metric(name, {dimension: v}, p, f"{v} {p}") for v in values for p in PERCENTILES]


def job_widgets() -> list[dict]:
    """Queue wait and run time per kind, and jobs per minute by outcome for each kind."""
    names = sorted(kinds.KINDS)
    out = [_widget("Queue wait p50 / p95 by kind", _percentiles("QueueWait", "Kind", names),
                   unit="seconds"),
           _widget("Run time p50 / p95 by kind", _percentiles("RunTime", "Kind", names),
                   unit="seconds")]
    for kind in names:
        out.append(_widget(f"Jobs per minute by outcome: {kind}", [
            _metric("Jobs", {"Kind": kind, "Outcome": o}, "Sum", o) for o in OUTCOMES],
            width=6, stacked=True))
    return out


def pool_widgets() -> list[dict]:
    """The autoscaler's view of each pool: workers it found and wanted, and the backlog."""
    workers = [_metric(name, {"Pool": p}, "Maximum", f"{p} {label}") for p in POOLS
               for name, label in (("DesiredWorkers", "desired"), ("CurrentWorkers", "current"))]
    backlog = [_metric("Backlog", {"Pool": p}, "Maximum", p) for p in POOLS]
    # A pool on Lambda is the event source's: its workers are its function's invocations.
    running = [["AWS/Lambda", "ConcurrentExecutions", "FunctionName",
                function_name(pool_short(p)), {"stat": "Maximum", "label": p}]
               for p in pools.lambda_pools()]
    return [_widget("Workers per pool (autoscaler: desired / current)", workers),
            _widget("Backlog per pool (autoscaler)", backlog),
            _widget("Jobs running per pool on Lambda (concurrent executions)", running,
                    width=24)]


def queue_widgets() -> list[dict]:
    """SQS's own numbers per queue, and the queue wait the workers measured per queue."""
    def sqs(name: str) -> list:
        return [["AWS/SQS", name, "QueueName", "${QueuePrefix}" + w,
                 {"stat": "Maximum", "label": w}] for w in POOLS]
    return [_widget("Messages waiting per queue (SQS)",
                    sqs("ApproximateNumberOfMessagesVisible")),
            _widget("Age of the oldest message per queue (SQS)",
                    sqs("ApproximateAgeOfOldestMessage"), unit="seconds"),
            _widget("Queue wait p95 by queue (workers)",
                    [_metric("QueueWait", {"Queue": w}, "p95", w) for w in POOLS],
                    width=24, unit="seconds")]


def body() -> dict:
    """The dashboard's body, with ``${…}`` for CloudFormation to substitute."""
    return {"widgets": [*job_widgets(), *pool_widgets(), *queue_widgets()]}


def dashboard() -> dict:
    """The dashboard resource."""
    return {"Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": sub(DASHBOARD_NAME), "DashboardBody": sub(json.dumps(body()))}}}

