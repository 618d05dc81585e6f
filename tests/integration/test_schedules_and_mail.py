"""The nightly schedule's paths to the queue (the AWS handler on moto's SQS, the
local loop with a driven clock), the hand-run of a missed night, and e-mail
through SES on moto, once per job."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from core import aws, lifecycle, mail
from lambdas import nightly_export
from lambdas.scheduler import tick
from stack import services
from tasks import notify
from tests.support.jobs import queue_depth
from store import jobstore
from core.enqueue import MemoryEnqueuer
from webapp.extensions import db

EVENT = {"schedule": "customers-nightly", "scheduled_time": "2026-11-19T17:00:00Z"}
KEY = "schedule:customers-nightly:2026-11-20"


@pytest.fixture
def env(settings, queue_urls, monkeypatch):
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)


def jobs_with_key(engine, key):
    with engine.connect() as conn:
        return conn.execute(text("SELECT id, kind, owner, status, params FROM jobs "
                                 "WHERE idempotency_key = :k"), {"k": key}).mappings().all()


def test_the_eventbridge_handler_queues_one_export_per_schedule_and_date(
        env, settings, queue_urls, sqs, engine):
    exports_url = queue_urls[settings.queue_name("exports")]
    first = nightly_export.handler(EVENT, None)
    assert first["date"] == "2026-11-20" and first["queued"] is True
    (job,) = jobs_with_key(engine, KEY)
    assert (job["kind"], job["owner"], job["status"]) == ("export", "scheduler", "queued")
    assert job["params"]["dataset"] == "customers" and job["params"]["gzip"] is True
    assert queue_depth(sqs, exports_url)[0] == 1
    message = sqs.receive_message(QueueUrl=exports_url, VisibilityTimeout=0)["Messages"][0]
    assert str(job["id"]) in message["Body"] or str(job["id"]) in _decoded(message["Body"])

    again = nightly_export.handler(dict(EVENT, scheduled_time="2026-11-19T17:00:42Z"), None)
    assert again == dict(first, queued=False)
    assert len(jobs_with_key(engine, KEY)) == 1
    assert queue_depth(sqs, exports_url)[0] == 1


def _decoded(body: str) -> str:
    import base64
    return base64.b64decode(body).decode(errors="replace")


def test_a_missed_night_is_run_by_hand_for_its_date(env, settings, sqs, queue_urls, engine):
    command = [sys.executable, "-m", "lambdas.nightly_export", "--schedule",
               "customers-nightly", "--date", "2026-11-18"]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         env=services.python_env(), cwd=str(Path(__file__).parents[2]))
    made = json.loads(out.stdout.strip().splitlines()[-1])
    assert made["queued"] is True
    (job,) = jobs_with_key(engine, "schedule:customers-nightly:2026-11-18")
    assert str(job["id"]) == made["job_id"]
    assert queue_depth(sqs, queue_urls[settings.queue_name("exports")])[0] == 1


def test_the_local_loop_fires_at_two_in_tokyo_and_a_repeat_makes_no_second_job(
        settings, engine):
    queued = MemoryEnqueuer()

    def fire(name, day):
        return nightly_export.trigger(name, day, settings=settings, enqueuer=queued)

    before = datetime(2026, 11, 19, 16, 59, 55, tzinfo=timezone.utc)
    after = datetime(2026, 11, 19, 17, 0, 10, tzinfo=timezone.utc)
    assert tick(before, after, fire) == [("customers-nightly", "2026-11-20")]
    # A restarted loop looking at the same window again, and AWS firing too:
    assert tick(before, after, fire) == [("customers-nightly", "2026-11-20")]
    (job,) = jobs_with_key(engine, KEY)
    assert queued.sent == [("export.run", "exports", str(job["id"]))]


def test_a_night_whose_task_could_not_be_sent_is_left_to_the_relay_and_reruns_need_again(
        settings, engine):
    class Unreachable(MemoryEnqueuer):
        def send(self, kind, job_id):
            raise ConnectionError("SQS is unreachable")

    day = datetime(2026, 11, 20).date()
    job_id, queued_now = nightly_export.trigger("customers-nightly", day, settings=settings,
                                                enqueuer=Unreachable())
    (job,) = jobs_with_key(engine, KEY)
    assert (job_id, queued_now, job["status"]) == (str(job["id"]), True, lifecycle.QUEUED)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pending_sends")).scalar() == 1
    queued = MemoryEnqueuer()
    # Fired again while the relay holds the job: nothing more is sent.
    assert nightly_export.trigger("customers-nightly", day, settings=settings,
                                  enqueuer=queued) == (job_id, False)
    with engine.begin() as conn:  # failed before it ever ran (its queue did not exist)
        conn.execute(text("UPDATE jobs SET status = 'failed' WHERE id = :j"), {"j": job["id"]})
    assert nightly_export.trigger("customers-nightly", day, settings=settings,
                                  enqueuer=queued) == (str(job["id"]), True)
    assert jobs_with_key(engine, KEY)[0]["status"] == lifecycle.QUEUED
    assert nightly_export.trigger("customers-nightly", day, settings=settings,
                                  enqueuer=queued) == (str(job["id"]), False)
    with engine.begin() as conn:  # it ran and failed
        conn.execute(text("UPDATE jobs SET status = 'failed', attempts = 1 WHERE id = :j"),
                     {"j": job["id"]})
    assert nightly_export.trigger("customers-nightly", day, settings=settings,
                                  enqueuer=queued)[1] is False
    assert nightly_export.trigger("customers-nightly", day, settings=settings,
                                  enqueuer=queued, again=True)[1] is True
    assert len(queued.sent) == 2 and len(jobs_with_key(engine, KEY)) == 1


def test_an_email_through_ses_is_sent_once_per_job_and_outcome(app, settings):
    ses = aws.client(settings, "sesv2")
    ses.create_email_identity(EmailIdentity=settings.mail_from)
    sender = mail.SesMailer(ses)
    sent_before = _sent(settings)
    with app.app_context():
        job, _ = jobstore.create(db.session, kind="export", owner="hanako@example.jp",
                                 params={"dataset": "customers"})
        db.session.execute(text("UPDATE jobs SET status = :s, result = CAST(:r AS jsonb) "
                                "WHERE id = :j"),
                           {"s": lifecycle.SUCCEEDED, "j": job.id,
                            "r": json.dumps({"dataset": "customers", "rows": 5,
                                             "url": "http://files/x.csv"})})
        db.session.commit()
        db.session.refresh(job)
        assert notify.job_ended(db.session, job, settings, sender) is True
        assert notify.job_ended(db.session, job, settings, sender) is False
        row = db.session.execute(text("SELECT address, transport FROM job_notifications "
                                      "WHERE job_id = :j"), {"j": job.id}).one()
    assert tuple(row) == ("hanako@example.jp", "ses")
    assert _sent(settings) == sent_before + 1


def test_a_failed_send_leaves_the_email_to_send_later(app, settings):
    class Down(mail.Mailer):
        name = "smtp"

        def send(self, msg):
            raise ConnectionRefusedError("no SMTP server on 127.0.0.1:25")

    later = mail.MemoryMailer()
    with app.app_context():
        job, _ = jobstore.create(db.session, kind="pdf_batch", owner="taro",
                                 params={"template": "letter"})
        db.session.execute(text("UPDATE jobs SET status = 'failed', error = 'no recipients' "
                                "WHERE id = :j"), {"j": job.id})
        db.session.commit()
        db.session.refresh(job)
        assert notify.job_ended(db.session, job, settings, Down()) is False
        assert notify.job_ended(db.session, job, settings, later) is True
    (message,) = later.sent
    assert message["To"] == "taro@localhost" and "failed" in message["Subject"]
    assert "no recipients" in message.get_content()


def _sent(settings) -> int:
    quota = aws.client(settings, "ses").get_send_quota()
    return int(quota["SentLast24Hours"])
