"""Workers' reports to the autoscaler: what a process sends, when, and that a failed send
costs a job nothing."""
import json
import logging
import os
from datetime import datetime, timedelta, timezone

import pytest

from core.reports import MemoryReporter, Report, SqsReporter, Tally
from stack.services import wait_for

URL = "https://sqs.example/123/jobsys-wake.fifo"


class Clock:
    def __init__(self, now=600.0):
        self.now = now

    def __call__(self):
        return self.now


class RecordingSqs:
    """The SQS client's send_message, recording each call; ``failing`` refuses them."""

    def __init__(self, failing=False):
        self.sent, self.failing = [], failing

    def send_message(self, **kwargs):
        if self.failing:
            raise ConnectionError("SQS is away")
        self.sent.append(kwargs)
        return {"MessageId": str(len(self.sent))}

    def bodies(self):
        return [json.loads(m["MessageBody"]) for m in self.sent]


def test_a_tally_lets_a_workload_out_at_once_then_once_per_slot():
    tally = Tally(slot=60)
    tally.add("pdf", 2.0)
    [first] = tally.due(600.0)
    assert (first.workload, first.service_seconds, first.jobs) == ("pdf", 2.0, 1)
    tally.add("pdf", 3.0)
    tally.add("pdf", 5.0)
    tally.add("imports", 10.0)
    assert [r.workload for r in tally.due(630.0)] == ["imports"], "pdf was reported this minute"
    [held] = tally.due(660.0)
    assert (held.workload, held.service_seconds, held.jobs) == ("pdf", 4.0, 2)
    assert tally.due(700.0) == [] and not tally.holding


def test_a_tally_lets_everything_out_last_with_its_own_dedup_id_if_the_slot_was_used():
    tally = Tally(slot=60)
    tally.add("pdf", 1.0)
    [first] = tally.due(600.0)
    tally.add("pdf", 3.0)
    [last] = tally.due(610.0, last=True)
    assert (last.jobs, last.service_seconds, last.last) == (1, 3.0, True)
    assert first.dedup_id("p1") == "report-pdf-p1-10"
    assert last.dedup_id("p1") == "report-pdf-p1-10-last"


def test_a_report_body_is_the_shape_the_autoscaler_reads():
    assert Report("pdf", 1.23456, 3, 10).body() == {"report": "pdf", "service_seconds": 1.235,
                                                     "jobs": 3}


def make(sqs, clock=None):
    reporter = SqsReporter(lambda: sqs, URL, clock=clock or Clock(), interval=0.05)
    return reporter


def test_a_ready_worker_sends_one_ready_message_per_queue_in_the_queues_group():
    sqs = RecordingSqs()
    reporter = make(sqs)
    reporter.ready(["default", "pdf"])
    wait_for(lambda: len(sqs.sent) == 2, 10, "two ready messages")
    reporter.close()
    assert sqs.bodies() == [{"ready": "default"}, {"ready": "pdf"}]
    assert [m["MessageGroupId"] for m in sqs.sent] == ["default", "pdf"]
    assert all(m["QueueUrl"] == URL for m in sqs.sent)
    assert sqs.sent[0]["MessageDeduplicationId"].startswith("ready-default-")


def test_ended_jobs_are_reported_at_once_then_at_most_once_a_minute_and_last_on_close():
    sqs, clock = RecordingSqs(), Clock(600.0)
    reporter = make(sqs, clock)
    reporter.ended("pdf", 2.0)
    wait_for(lambda: len(sqs.sent) == 1, 10, "the first report")
    reporter.ended("pdf", 4.0)
    reporter.ended("pdf", 6.0)
    clock.now = 659.0
    reporter.ended("pdf", 8.0)
    assert sqs.bodies() == [{"report": "pdf", "service_seconds": 2.0, "jobs": 1}]
    clock.now = 660.0
    wait_for(lambda: len(sqs.sent) == 2, 10, "the next minute's report")
    reporter.ended("pdf", 1.0)
    reporter.close()
    assert sqs.bodies()[1:] == [{"report": "pdf", "service_seconds": 6.0, "jobs": 3},
                                {"report": "pdf", "service_seconds": 1.0, "jobs": 1}]
    dedup = [m["MessageDeduplicationId"] for m in sqs.sent]
    assert len(set(dedup)) == 3 and dedup[2].endswith("-11-last")


def test_each_reporter_process_has_its_own_dedup_ids():
    first, second = RecordingSqs(), RecordingSqs()
    for sqs in (first, second):
        reporter = make(sqs)
        reporter.ended("pdf", 1.0)
        reporter.close()
    assert first.sent[0]["MessageDeduplicationId"] != second.sent[0]["MessageDeduplicationId"]


def test_a_failed_send_is_logged_as_a_warning_and_never_raised(caplog):
    reporter = make(RecordingSqs(failing=True))
    with caplog.at_level(logging.WARNING, logger="core.reports"):
        reporter.ended("pdf", 1.0)
        reporter.ready(["pdf"])
        reporter.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("SQS is away" in w for w in warnings)


def test_closing_a_reporter_that_sent_nothing_does_nothing():
    sqs = RecordingSqs()
    make(sqs).close()
    assert sqs.sent == []


def test_a_forked_child_starts_without_its_parents_held_reports():
    # Celery's prefork pool forks the children that run the tasks.
    reporter = make(RecordingSqs())
    reporter.ended("pdf", 1.0)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if reporter._outbox is None else 1)
    _, status = os.waitpid(pid, 0)
    reporter.close()
    assert os.waitstatus_to_exitcode(status) == 0


T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("attempts, finished, reported", [
    (1, T0 + timedelta(seconds=2.5), [("pdf", 2.5)]),
    (2, T0 + timedelta(seconds=2.5), []),  # its row spans the retry's wait as well
    (1, None, []),
])
def test_a_job_that_ran_once_is_reported_with_its_rows_run_time(attempts, finished, reported):
    from store.models import Job
    from tasks.runtime import _report

    reporter = MemoryReporter()
    job = Job(attempts=attempts, started_at=T0, finished_at=finished)
    _report(job, {"routing_key": "pdf"}, reporter)
    assert reporter.jobs == reported
