import base64
import json
import random

import pytest

from core import envelope, kinds, lifecycle
from core.backoff import retry_delay
from core.errors import InvalidRequest


@pytest.mark.parametrize("attempt, low, high", [(1, 1, 2), (2, 2, 4), (3, 4, 8), (10, 150, 300)])
def test_retry_delay_doubles_up_to_the_cap_with_jitter(attempt, low, high):
    rand = random.Random(attempt)
    draws = [retry_delay(attempt, base=2, cap=300, rand=rand) for _ in range(200)]
    assert low <= min(draws) and max(draws) <= high
    assert len(set(draws)) > 100


def test_retry_attempts_count_from_one():
    with pytest.raises(ValueError):
        retry_delay(0, 2, 300)


@pytest.mark.parametrize("total, done, failed, status", [
    (10, 10, 0, lifecycle.SUCCEEDED),
    (10, 7, 3, lifecycle.PARTIAL),
    (10, 0, 10, lifecycle.FAILED),
    (0, 0, 0, lifecycle.SUCCEEDED),
])
def test_a_batch_outcome_follows_its_counts(total, done, failed, status):
    assert lifecycle.outcome(total, done, failed) == status


@pytest.mark.parametrize("current, new, allowed", [
    (lifecycle.QUEUED, lifecycle.RUNNING, True),
    (lifecycle.RUNNING, lifecycle.SUCCEEDED, True),
    (lifecycle.RUNNING, lifecycle.QUEUED, True),
    (lifecycle.SUCCEEDED, lifecycle.RUNNING, False),
    (lifecycle.CANCELLED, lifecycle.QUEUED, False),
    (lifecycle.QUEUED, lifecycle.SUCCEEDED, False),
    (lifecycle.PARTIAL, lifecycle.QUEUED, True),
    (lifecycle.FAILED, lifecycle.QUEUED, True),
    (lifecycle.SUCCEEDED, lifecycle.QUEUED, False),
    (lifecycle.PARTIAL, lifecycle.RUNNING, False),
])
def test_status_moves(current, new, allowed):
    assert lifecycle.can_move(current, new) is allowed


def test_only_a_batch_that_ended_with_failures_may_be_queued_again():
    assert lifecycle.requeueable() == (lifecycle.FAILED, lifecycle.PARTIAL)


def test_canary_params_are_checked_and_defaulted():
    kind = kinds.lookup("canary")
    assert kind.validate({}) == {"sleep_seconds": 0}
    with pytest.raises(InvalidRequest) as error:
        kind.validate({"sleep_seconds": True})
    assert error.value.field == "params.sleep_seconds"


def _kombu_body(args, kwargs, base64_outer=False):
    task_body = base64.b64encode(json.dumps([args, kwargs, {}]).encode()).decode()
    raw = json.dumps({"body": task_body, "headers": {"task": "canary.run", "id": "t-1"},
                      "properties": {"body_encoding": "base64"}})
    return base64.b64encode(raw.encode()).decode() if base64_outer else raw


@pytest.mark.parametrize("body, job_id", [
    (_kombu_body(["job-1"], {}), "job-1"),
    (_kombu_body([], {"job_id": "job-2"}), "job-2"),
    (_kombu_body(["job-3"], {}, base64_outer=True), "job-3"),
])
def test_a_task_message_reveals_its_job(body, job_id):
    parsed = envelope.parse(body)
    assert (parsed.task, parsed.task_id, parsed.job_id) == ("canary.run", "t-1", job_id)


def test_a_foreign_message_reveals_nothing():
    assert envelope.parse("hello") == envelope.TaskMessage(None, None, None)


def test_wake_signals_are_sent_once_per_workload_per_slot():
    from core.wake import SqsWaker

    class Recorder:
        def __init__(self):
            self.sent = []

        def send_message(self, **kwargs):
            self.sent.append((kwargs["MessageGroupId"], kwargs["MessageDeduplicationId"]))

    now = [1000.0]
    sqs = Recorder()
    waker = SqsWaker(sqs, "url", clock=lambda: now[0], slot=10)
    for _ in range(5):
        waker.wake("pdf")
    waker.wake("imports")
    now[0] += 10
    waker.wake("pdf")

    assert sqs.sent == [("pdf", "pdf-100"), ("imports", "imports-100"), ("pdf", "pdf-101")]
