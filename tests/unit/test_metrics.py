"""EMF documents have the shape CloudWatch's Embedded Metric Format specification requires,
and the workers and the autoscaler emit them only when METRICS=emf."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from autoscaler.config import load
from autoscaler.decide import Depths, Policy
from autoscaler.queues import MemoryQueueDepth
from autoscaler.rounds import Autoscaler, Pool, run_round
from autoscaler.scalers import MemoryWorkerScaler
from autoscaler.state import MemoryStateStore
from core import metrics
from core.errors import ConfigurationError
from core.settings import Settings

T0 = datetime(2026, 12, 3, 7, 0, 0, tzinfo=timezone.utc)
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
         "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
         "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
         "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
         "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


def assert_valid_emf(doc: dict) -> None:
    """The specification's rules: a root ``_aws`` with an integer millisecond Timestamp and
    CloudWatchMetrics directives; every dimension is a string and every metric a number
    at the top level; at most 30 dimensions per set and 100 metrics per directive."""
    aws = doc["_aws"]
    assert set(aws) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(aws["Timestamp"], int)
    for directive in aws["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        assert all(isinstance(d, list) and 1 <= len(d) <= 30 for d in directive["Dimensions"])
        assert all(isinstance(doc[name], str) for dims in directive["Dimensions"] for name in dims)
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) == {"Name", "Unit"} and metric["Unit"] in UNITS
            assert isinstance(doc[metric["Name"]], (int, float))
            assert not isinstance(doc[metric["Name"]], bool)


def test_an_emf_document_puts_values_at_the_top_level_with_a_millisecond_timestamp():
    doc = metrics.emf("ns", (metrics.Directive((("Kind",),), {"Wait": "Seconds"}),),
                      {"Kind": "pdf_batch", "Wait": 1.5}, {"JobId": "j1"}, 1764745200.123)
    assert doc == {"_aws": {"Timestamp": 1764745200123, "CloudWatchMetrics": [
        {"Namespace": "ns", "Dimensions": [["Kind"]],
         "Metrics": [{"Name": "Wait", "Unit": "Seconds"}]}]},
        "JobId": "j1", "Kind": "pdf_batch", "Wait": 1.5}
    assert_valid_emf(doc)


def test_a_job_end_carries_its_queue_wait_run_time_and_one_count_under_its_outcome():
    doc = metrics.job_ended("jobsys", "export", "exports", "succeeded", T0,
                            T0 + timedelta(seconds=2.5), T0 + timedelta(seconds=10), 1.0)
    assert_valid_emf(doc)
    assert (doc["Kind"], doc["Queue"], doc["Outcome"]) == ("export", "exports", "succeeded")
    assert (doc["QueueWait"], doc["RunTime"], doc["Jobs"]) == (2.5, 7.5, 1)
    directives = doc["_aws"]["CloudWatchMetrics"]
    assert [d["Dimensions"] for d in directives] == [[["Kind"], ["Queue"]], [["Kind", "Outcome"]]]


def test_a_job_cancelled_before_it_ran_declares_no_wait_or_run_time_it_does_not_have():
    doc = metrics.job_ended("jobsys", "canary", "default", "cancelled", T0, None,
                            T0 + timedelta(seconds=3), 1.0)
    assert_valid_emf(doc)
    declared = [m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert declared == ["Jobs"]
    assert "QueueWait" not in doc and "RunTime" not in doc


def test_a_line_is_one_json_object_written_in_one_go(tmp_path):
    path = tmp_path / "out"
    with open(path, "wb") as out:
        metrics.write({"_aws": {}, "a": 1}, out.fileno())
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    assert json.loads(text) == {"_aws": {}, "a": 1}


def test_metrics_are_off_unless_asked_for_and_a_bad_mode_names_its_choices():
    assert Settings.from_env({}).metrics == "off"
    assert Settings.from_env({"METRICS": "EMF"}).metrics == "emf"
    with pytest.raises(ConfigurationError, match="METRICS='cloudwatch' is not one of: emf, off"):
        Settings.from_env({"METRICS": "cloudwatch"})
    assert load({}).metrics == "off"
    with pytest.raises(Exception, match="METRICS='statsd' is not one of: emf, off"):
        load({"METRICS": "statsd"})


def _autoscaler(namespace, written):
    pool = Pool("pdf", Policy(target=2, max=4), ("q-pdf",), MemoryWorkerScaler(1))
    return Autoscaler(pools=(pool,), depth=MemoryQueueDepth({"q-pdf": Depths(5, 1, 0)}),
                      store=MemoryStateStore(), metrics_namespace=namespace,
                      write_metrics=written.append, emit=lambda line: None)


def test_each_pool_decision_is_one_emf_line_with_workers_backlog_and_reason():
    written = []
    run_round(_autoscaler("stack-1", written), now=1000.0)
    (doc,) = written
    assert_valid_emf(doc)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "stack-1"
    assert (doc["Pool"], doc["CurrentWorkers"], doc["DesiredWorkers"], doc["Backlog"],
            doc["WorkerChange"]) == ("pdf", 1, 3, 6, 2)
    assert doc["Decision"].startswith("scale out")


def test_an_autoscaler_without_a_namespace_writes_no_metrics():
    written = []
    run_round(_autoscaler(None, written), now=1000.0)
    assert written == []


def test_the_autoscaler_config_turns_metrics_on_with_its_namespace():
    config = load({"METRICS": "emf", "METRICS_NAMESPACE": "prod-jobs"})
    assert (config.metrics, config.metrics_namespace) == ("emf", "prod-jobs")
