"""One way to submit a job: recorded once, sent once; left queued for the relay when
its task cannot be sent now, failed with the reason when its queue does not exist;
and the stores leave committing to their caller."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core import lifecycle
from core.enqueue import MemoryEnqueuer
from core import csvimport
from core.errors import Forbidden, InvalidRequest, QueueMissing
from service.submit import NotQueued, submit
from store import db, jobstore, uploadstore
from store.models import Job


class Unreachable(MemoryEnqueuer):
    def send(self, kind, job_id):
        raise ConnectionError("SQS is unreachable")


class NoQueue(MemoryEnqueuer):
    def send(self, kind, job_id):
        raise QueueMissing("SQS queue 't-default' does not exist; create the queues with "
                           "`python -m core.provision`")


@pytest.fixture
def sessions(settings):
    return db.sessions(settings.require_database())


def statuses(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT status FROM jobs ORDER BY created_at")).scalars())


def pending_sends(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT job_id FROM pending_sends")).scalars())


def test_a_job_is_recorded_and_sent_once_per_idempotency_key(sessions, engine):
    sent = MemoryEnqueuer()
    with sessions() as session:
        first = submit(session, sent, "canary", "alice", {}, idempotency_key="k1")
        again = submit(session, sent, "canary", "alice", {}, idempotency_key="k1")
    assert (first.created, first.sent, again.created, again.sent) == (True, True, False, False)
    assert again.job.id == first.job.id
    assert sent.sent == [("canary.run", "default", str(first.job.id))]
    assert statuses(engine) == [lifecycle.QUEUED] and pending_sends(engine) == []


def test_params_are_validated_before_anything_is_recorded(sessions, engine):
    with sessions() as session, pytest.raises(InvalidRequest) as caught:
        submit(session, MemoryEnqueuer(), "canary", "alice", {"sleep_seconds": -1})
    assert caught.value.field == "params.sleep_seconds"
    assert statuses(engine) == []


@pytest.mark.parametrize("kind, params, field", [
    ("pdf_batch", {"template": "letter", "table": "investors"}, "params.table"),
    ("pdf_batch", {"template": "letter", "csv": "pdf/recipients/alice/x/r.csv"}, "params.csv"),
    ("csv_import", {"dataset": "customers", "key": "<alice's upload>"}, "params.key"),
    ("export", {"dataset": "jobs"}, "params.dataset"),
])
def test_a_job_started_without_the_api_cannot_name_what_its_owner_may_not_read(
        sessions, engine, kind, params, field):
    # The upload notification, schedules and scripts submit here, not through the API.
    key = csvimport.upload_key("customers", "r.csv")
    with sessions() as session:
        uploadstore.record_upload(session, key=key, owner="alice", dataset="customers",
                                  options={})
        session.commit()
        params = {k: key if v == "<alice's upload>" else v for k, v in params.items()}
        with pytest.raises(Forbidden) as caught:
            submit(session, MemoryEnqueuer(), kind, "bob", params)
        assert caught.value.field == field
        assert submit(session, MemoryEnqueuer(), kind, "ops", params).created
    assert statuses(engine) == [lifecycle.QUEUED]


def test_a_job_whose_task_cannot_be_sent_now_stays_queued_for_the_relay(sessions, engine):
    with sessions() as session:
        done = submit(session, Unreachable(), "canary", "alice", {})
    assert (done.created, done.queued, done.sent) == (True, True, False)
    assert isinstance(done.send_error, ConnectionError)
    assert statuses(engine) == [lifecycle.QUEUED] and pending_sends(engine) == [done.job.id]


def test_a_job_whose_queue_does_not_exist_is_failed_with_the_reason(sessions, engine):
    with sessions() as session, pytest.raises(NotQueued) as caught:
        submit(session, NoQueue(), "canary", "alice", {})
    assert isinstance(caught.value.cause, QueueMissing)
    with engine.connect() as conn:
        status, error = conn.execute(text("SELECT status, error FROM jobs")).one()
    assert status == lifecycle.FAILED and "python -m core.provision" in error
    assert pending_sends(engine) == []


def test_an_unsent_job_is_sent_again_only_when_asked(sessions, engine):
    with sessions() as session:
        with pytest.raises(NotQueued):
            submit(session, NoQueue(), "canary", "alice", {}, idempotency_key="night")
        sent = MemoryEnqueuer()
        assert not submit(session, sent, "canary", "alice", {}, idempotency_key="night").sent
        assert submit(session, sent, "canary", "alice", {}, idempotency_key="night",
                      requeue_unsent=True).sent
    assert statuses(engine) == [lifecycle.QUEUED] and len(sent.sent) == 1


def test_a_store_change_is_kept_only_when_its_caller_commits(sessions, engine):
    with sessions() as session:
        jobstore.create(session, kind="canary", owner="alice", params={})
    assert statuses(engine) == []
    with db.unit_of_work(sessions) as session:
        jobstore.create(session, kind="canary", owner="alice", params={})
    assert statuses(engine) == [lifecycle.QUEUED]


@pytest.mark.parametrize("total, done, failed", [
    (3, 3, 0), (3, 0, 3), (3, 2, 1), (0, 0, 0), (1, 0, 0)])
def test_a_job_finished_by_its_counts_gets_the_status_lifecycle_gives(
        sessions, total, done, failed):
    with db.unit_of_work(sessions) as session:
        job, _ = jobstore.create(session, kind="canary", owner="alice", params={})
        claimed = jobstore.claim(session, job.id, "w", 60)
        jobstore.progress(session, job.id, 1, total=total, done=done, failed=failed)
        ended = jobstore.finish(session, job.id, claimed.job.attempts, jobstore.by_counts())
    assert ended.status == lifecycle.outcome(total, done, failed)
    with sessions() as session:
        assert session.scalar(select(Job.status).where(Job.id == job.id)) == ended.status
