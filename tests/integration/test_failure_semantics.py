"""What happens when messages are redelivered, tasks run long, workers die and
tasks fail: real worker processes, a real moto SQS over HTTP, real PostgreSQL."""
from __future__ import annotations

import signal

import pytest

from core import lifecycle
from stack.services import wait_for
from tests.support.accounts import bearer, signed_in
from tests.support.jobs import (Sender, create, executions, queue_depth, row, wait_drained,
                                wait_finished, wait_status)


@pytest.fixture
def sender(settings, queue_urls):
    return Sender(settings, queue_urls)


@pytest.fixture
def default_queue(settings, queue_urls):
    return queue_urls[settings.queue_name("default")]


def test_redelivered_message_for_finished_job_does_nothing(
        app, engine, sender, start_worker, sqs, default_queue):
    job_id = create(app, "test.sleep", {"seconds": 0})
    start_worker()
    sender.send("test.sleep", job_id)
    first = wait_status(engine, job_id, lifecycle.SUCCEEDED)

    sender.send("test.sleep", job_id)
    wait_drained(sqs, default_queue)

    again = row(engine, job_id)
    assert len(executions(engine, job_id)) == 1
    assert again["attempts"] == 1
    assert again["finished_at"] == first["finished_at"]


def test_redelivered_message_for_running_job_does_not_start_a_second_copy(
        app, engine, sender, start_worker, sqs, default_queue):
    start_worker("w1")
    start_worker("w2")
    job_id = create(app, "test.sleep", {"seconds": 4})
    sender.send("test.sleep", job_id)
    wait_status(engine, job_id, lifecycle.RUNNING)

    sender.send("test.sleep", job_id)
    wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)
    wait_drained(sqs, default_queue)

    assert len(executions(engine, job_id)) == 1
    assert row(engine, job_id)["attempts"] == 1


@pytest.mark.settings(visibility=5)
def test_task_longer_than_visibility_timeout_is_not_delivered_twice(
        app, engine, sender, start_worker):
    start_worker("w1")
    start_worker("w2")
    job_id = create(app, "test.sleep", {"seconds": 14})
    sender.send("test.sleep", job_id)

    done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=60)

    assert len(executions(engine, job_id)) == 1
    assert done["attempts"] == 1


@pytest.mark.settings(visibility=6)
def test_worker_killed_mid_task_comes_back_and_the_job_finishes_once(
        app, engine, sender, start_worker):
    doomed = start_worker("doomed")
    job_id = create(app, "test.sleep", {"seconds": 3})
    sender.send("test.sleep", job_id)
    # Kill it once the task body has begun (the claim alone comes a moment earlier).
    wait_for(lambda: executions(engine, job_id), 30, "the task body to start")

    doomed.signal(signal.SIGKILL)
    doomed.popen.wait(10)
    start_worker("survivor")
    done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=60)

    runs = executions(engine, job_id)
    assert len(runs) == 2
    assert [r["finished_at"] is not None for r in runs] == [False, True]
    assert done["attempts"] == 2
    assert done["worker"].startswith("survivor@")


@pytest.mark.settings(visibility=5, max_receive_count=2)
def test_message_that_keeps_crashing_its_worker_goes_to_dead_letter_and_fails_the_job(
        app, engine, sender, start_worker, sqs, settings, queue_urls):
    start_worker()
    job_id = create(app, "test.crash")
    sender.send("test.crash", job_id)

    failed = wait_status(engine, job_id, lifecycle.FAILED, timeout=90)

    dead_letter = queue_urls[settings.dead_letter_name("default")]
    # One reading: the sweep holds the message (in flight) for a moment after failing the job.
    assert sum(queue_depth(sqs, dead_letter)[:2]) == 1
    assert settings.dead_letter_name("default") in failed["error"]
    assert "died" in failed["error"]
    assert len(executions(engine, job_id)) == settings.max_receive_count


@pytest.mark.settings(retry_backoff_base=1.0)
def test_transient_errors_are_retried_with_growing_delays(app, engine, sender, start_worker):
    start_worker()
    job_id = create(app, "test.flaky", {"failures": 2})
    sender.send("test.flaky", job_id)

    done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=60)

    runs = executions(engine, job_id)
    assert len(runs) == 3
    gaps = [(b["started_at"] - a["started_at"]).total_seconds() for a, b in zip(runs, runs[1:])]
    # Retry n waits between half and all of base * 2**(n-1): at least 0.5 s, then 1 s.
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0
    assert done["attempts"] == 3


@pytest.mark.settings(retry_backoff_base=0.5, task_max_retries=2)
def test_a_job_that_keeps_failing_transiently_gives_up_after_its_retries(
        app, engine, sender, start_worker):
    start_worker()
    job_id = create(app, "test.flaky", {"failures": 10})
    sender.send("test.flaky", job_id)

    failed = wait_status(engine, job_id, lifecycle.FAILED, timeout=60)

    assert len(executions(engine, job_id)) == 3
    assert "gave up after 3 attempts" in failed["error"]
    assert "the service is busy" in failed["error"]


@pytest.mark.parametrize("params, message", [
    ({}, "row 3, column email: 'x@' is not an email address"),
    ({"unexpected": True}, "ValueError: unexpected value in row 3"),
])
def test_permanent_errors_fail_the_job_without_a_retry(
        app, engine, sender, start_worker, sqs, default_queue, params, message):
    start_worker()
    job_id = create(app, "test.broken", params)
    sender.send("test.broken", job_id)

    failed = wait_finished(engine, job_id)
    wait_drained(sqs, default_queue)

    assert failed["status"] == lifecycle.FAILED
    assert failed["error"] == message
    assert len(executions(engine, job_id)) == 1


def test_a_running_job_stops_when_cancelled(app, engine, sender, start_worker):
    start_worker()
    job_id = create(app, "canary", {"sleep_seconds": 60})
    sender.send("canary.run", job_id)
    wait_status(engine, job_id, lifecycle.RUNNING)

    client = signed_in(app.test_client())
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=bearer("tester"))
    assert response.status_code == 202
    assert response.get_json()["cancel_requested"] is True

    stopped = wait_finished(engine, job_id, timeout=10)
    assert stopped["status"] == lifecycle.CANCELLED
