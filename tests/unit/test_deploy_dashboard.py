"""The stack's CloudWatch dashboard reads what the EMF lines write: the same namespace,
metric names and dimension sets, so the two cannot drift apart."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from core import kinds, lifecycle, metrics
from deploy.names import POOLS, queue_id
from tests.support.stack import RESOURCES, containers, of_type
from tests.unit.test_metrics import assert_valid_emf

PREFIX = "jobsys-"
NAMESPACE = PREFIX + "metrics"
T0 = datetime(2026, 12, 3, tzinfo=timezone.utc)


def resolved(text: str) -> str:
    """A ``!Sub`` text as CloudFormation resolves it for a stack with prefix ``jobsys-``."""
    return (text.replace("${QueuePrefix}", PREFIX).replace("${AWS::Region}", "ap-northeast-1"))


def the_dashboard() -> tuple[str, dict]:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    props = dashboard["Properties"]
    text = resolved(props["DashboardBody"]["Fn::Sub"])
    assert "${" not in text, "the body refers to nothing CloudFormation does not resolve"
    return resolved(props["DashboardName"]["Fn::Sub"]), json.loads(text)


def emitted_lines() -> list[dict]:
    """One line of each shape the workers and the autoscaler write: every kind, outcome
    and pool, a job that ran and one cancelled before it ran."""
    lines = [metrics.job_ended(NAMESPACE, kind, queue, outcome, T0, T0, T0, 0)
             for kind, queue in ((k.name, k.workload) for k in kinds.KINDS.values())
             for outcome in lifecycle.FINISHED]
    lines += [metrics.pool_decided(NAMESPACE, {"pool": p, "desired": 1, "current": 0,
                                               "reason": "wake", "applied": True,
                                               "dry_run": False}, 1, 0) for p in POOLS]
    for line in lines:
        assert_valid_emf(line)
    return lines


def emitted_series() -> set[tuple]:
    """(namespace, metric, ((dimension, value), …)) of every series those lines make."""
    found = set()
    for line in emitted_lines():
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                key = tuple(sorted((d, line[d]) for d in dims))
                found |= {(directive["Namespace"], m["Name"], key) for m in directive["Metrics"]}
    return found


def charted() -> list[list]:
    _, body = the_dashboard()
    return [line for widget in body["widgets"] for line in widget["properties"]["metrics"]]


def test_the_dashboard_body_is_json_of_metric_widgets_with_a_valid_name():
    name, body = the_dashboard()
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name)
    assert body["widgets"] and all(w["type"] == "metric" for w in body["widgets"])
    assert all(w["properties"]["region"] == "ap-northeast-1" for w in body["widgets"])


def test_every_charted_metric_of_ours_is_a_series_the_emf_lines_write():
    series = emitted_series()
    ours = [line for line in charted() if line[0] == NAMESPACE]
    assert ours
    for line in ours:
        *head, options = line
        namespace, name, *pairs = head
        key = tuple(sorted(zip(pairs[::2], pairs[1::2])))
        assert (namespace, name, key) in series, f"nothing writes {line}"
        assert options["stat"] in ("p50", "p95", "Sum", "Maximum")


def test_the_dashboard_draws_wait_outcomes_run_time_and_workers_for_every_kind_and_pool():
    ours = {(line[1], *line[2:-1]) for line in charted() if line[0] == NAMESPACE}
    for kind in kinds.KINDS:
        assert ("QueueWait", "Kind", kind) in ours and ("RunTime", "Kind", kind) in ours
        assert all(("Jobs", "Kind", kind, "Outcome", o) in ours for o in lifecycle.FINISHED)
    for pool in POOLS:
        assert {("DesiredWorkers", "Pool", pool), ("CurrentWorkers", "Pool", pool)} <= ours


def test_the_sqs_charts_name_the_stacks_own_queues():
    sqs = [line for line in charted() if line[0] == "AWS/SQS"]
    names = {resolved(RESOURCES[queue_id(w)]["Properties"]["QueueName"]["Fn::Sub"])
             for w in POOLS}
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert {line[3] for line in sqs if line[1] == metric} == names


def test_workers_and_the_autoscaler_write_emf_lines_into_the_dashboards_namespace():
    workers = {name: c for name, c in containers().items() if c["Name"] == "worker"}
    assert len(workers) == len(POOLS)
    autoscaler = RESOURCES["AutoscalerFunction"]["Properties"]["Environment"]["Variables"]
    envs = [{e["Name"]: e["Value"] for e in c["Environment"]} for c in workers.values()]
    for env in [*envs, autoscaler]:
        assert env["METRICS"] == "emf"
        assert resolved(env["METRICS_NAMESPACE"]["Fn::Sub"]) == NAMESPACE
