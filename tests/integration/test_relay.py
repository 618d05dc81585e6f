"""No job is stranded: a job recorded whose task was never sent (its process died
between the commit and the send, or the queue was down) is sent by the relay,
once, within ``RELAY_AFTER_SECONDS + RELAY_INTERVAL``, and runs once."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from celery.exceptions import Reject, Retry
from sqlalchemy import text

from broker.enqueue import CeleryEnqueuer
from core import lifecycle
from core.enqueue import Enqueuer, MemoryEnqueuer
from service.relay import Relay, relay_once
from service.submit import submit
from stack.services import wait_for
from store import db, jobstore
from tasks import runtime
from tests.support.accounts import signed_in
from tests.support.jobs import Sender, row, wait_drained, wait_status
from webapp import create_app

AFTER, INTERVAL = 1.0, 0.2


class Killed(BaseException):
    """The process dying between the commit and the send (SIGKILL, a lost host)."""


class Dies(Enqueuer):
    def send(self, kind, job_id):
        raise Killed()


class Recorder(Enqueuer):
    """Sends through ``inner`` (unless the queue is down) and notes each send and when."""

    def __init__(self, inner: Enqueuer, pause: float = 0.0):
        self.inner, self.pause, self.down = inner, pause, False
        self.sent: list[tuple[str, float]] = []
        self.refused = 0
        self._lock = threading.Lock()

    def send(self, kind, job_id):
        if self.down:
            with self._lock:
                self.refused += 1
            raise ConnectionError("SQS is unreachable")
        time.sleep(self.pause)
        self.inner.send(kind, job_id)
        with self._lock:
            self.sent.append((job_id, time.monotonic()))

    def ids(self) -> list[str]:
        return [job_id for job_id, _ in self.sent]


@pytest.fixture
def sessions(settings):
    return db.sessions(settings.require_database())


def stranded(sessions, kind: str = "canary") -> str:
    """A job recorded by a process that died before it sent the task."""
    with sessions() as session, pytest.raises(Killed):
        submit(session, Dies(), kind, "tester", {})
    with sessions() as session:
        return str(session.execute(text(
            "SELECT id FROM jobs ORDER BY created_at DESC LIMIT 1")).scalar())


def pending(engine) -> list[str]:
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(text("SELECT job_id FROM pending_sends")).scalars()]


def test_a_job_whose_process_died_before_the_send_is_sent_by_the_relay_and_runs_once(
        settings, queue_urls, sqs, start_worker, engine, sessions):
    start_worker()
    began = time.monotonic()
    job_id = stranded(sessions)
    assert row(engine, job_id)["status"] == lifecycle.QUEUED and pending(engine) == [job_id]
    sender = Recorder(CeleryEnqueuer(settings))

    relay = Relay(sessions, sender, interval=INTERVAL, older_than=AFTER).start()
    try:
        done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)
    finally:
        relay.stop()

    assert sender.ids() == [job_id]
    assert AFTER <= sender.sent[0][1] - began <= AFTER + INTERVAL + 5.0  # slack for a busy machine
    assert done["attempts"] == 1 and pending(engine) == []
    wait_drained(sqs, queue_urls[settings.queue_name("default")])


def test_a_young_pending_send_is_left_to_the_process_that_sends_it(sessions, engine):
    job_id = stranded(sessions)
    sender = MemoryEnqueuer()

    assert relay_once(sessions, sender, older_than=60) == 0
    assert sender.sent == [] and pending(engine) == [job_id]


def test_two_relays_at_once_send_each_stranded_job_once(sessions, engine):
    ids = {stranded(sessions) for _ in range(12)}
    sender = Recorder(MemoryEnqueuer(), pause=0.02)
    start = threading.Barrier(2)

    def relay():
        start.wait()
        while relay_once(sessions, sender, older_than=0, batch=3):
            pass

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(sender.ids()) == sorted(ids)
    assert pending(engine) == []


def test_a_job_that_left_the_queue_before_the_relay_came_is_not_sent(sessions, engine):
    job_id = stranded(sessions)
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'cancelled' WHERE id = :j"), {"j": job_id})
    sender = MemoryEnqueuer()

    assert relay_once(sessions, sender, older_than=0) == 1
    assert sender.sent == [] and pending(engine) == []


def test_a_relay_that_finds_the_queue_down_keeps_the_job_for_its_next_round(sessions, engine):
    job_id = stranded(sessions)
    sender = Recorder(MemoryEnqueuer())
    sender.down = True

    assert relay_once(sessions, sender, older_than=0) == 0
    assert pending(engine) == [job_id]
    sender.down = False
    assert relay_once(sessions, sender, older_than=0) == 1
    assert sender.ids() == [job_id] and row(engine, job_id)["status"] == lifecycle.QUEUED


class RetryingTask:
    """A task's ``retry``: the message is sent (a ``Retry`` to raise) or the queue refuses it."""

    def __init__(self, refuse: bool):
        self.refuse = refuse

    def retry(self, **options):
        if self.refuse:
            raise Reject(ConnectionError("SQS is unreachable"), requeue=False)
        return Retry("sent", when=options["delay_seconds"])


@pytest.mark.parametrize("refuse, owed", [(False, False), (True, True)])
def test_a_worker_retry_the_queue_refused_is_left_to_the_relay(sessions, engine, refuse, owed):
    with db.unit_of_work(sessions) as session:
        job, _ = jobstore.create(session, kind="canary", owner="tester", params={})
        jobstore.claim(session, job.id, "w", 60)
    with sessions() as session, pytest.raises(Reject if refuse else Retry):
        runtime.hand_back(RetryingTask(refuse), session, job.id, 1, "busy; retrying in 2s", 2)

    assert row(engine, str(job.id))["status"] == lifecycle.QUEUED
    assert pending(engine) == ([str(job.id)] if owed else [])
    sender = MemoryEnqueuer()
    relay_once(sessions, sender, older_than=0)
    assert len(sender.sent) == (1 if owed else 0)


def test_a_retry_sent_by_a_worker_leaves_no_pending_send(settings, queue_urls, start_worker,
                                                         engine, sessions):
    start_worker()
    with db.unit_of_work(sessions) as session:
        job, _ = jobstore.create(session, kind="test.flaky", owner="tester",
                                 params={"failures": 1})
    Sender(settings, queue_urls).send("test.flaky", str(job.id))

    done = wait_status(engine, str(job.id), lifecycle.SUCCEEDED, timeout=30)

    assert done["attempts"] == 2 and pending(engine) == []


def test_the_api_answers_202_while_the_queue_is_down_and_the_job_runs_once_it_is_back(
        settings, queue_urls, start_worker, engine):
    sender = Recorder(CeleryEnqueuer(settings))
    sender.down = True
    app = create_app({"TESTING": True}, enqueuer=sender, settings=replace(
        settings, relay_interval=INTERVAL, relay_after_seconds=AFTER))
    client = signed_in(app.test_client())
    try:
        response = client.post("/api/jobs", json={"kind": "canary"})
        assert response.status_code == 202, response.get_json()
        job_id = response.get_json()["id"]
        wait_for(lambda: sender.refused >= 2, 10, "the relay to try the queue again")
        assert row(engine, job_id)["status"] == lifecycle.QUEUED

        start_worker()
        sender.down = False
        done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)
    finally:
        app.extensions["jobsys.relay"].stop()

    assert sender.ids() == [job_id] and done["attempts"] == 1
