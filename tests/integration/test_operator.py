"""The operator page against real SQS and S3 (moto) and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.decide import Depths, Policy
from autoscaler.queues import MemoryQueueDepth
from autoscaler.rounds import Autoscaler, Pool, run_round
from autoscaler.scalers import MemoryWorkerScaler
from autoscaler.state import S3StateStore
from core import envelope
from tasks import deadletter
from webapp import create_app
from core.enqueue import MemoryEnqueuer
from webapp.extensions import db
from tests.support.accounts import sign_in_session
from tests.support.jobs import Sender, create, row

pytestmark = pytest.mark.settings(max_receive_count=1)


@pytest.fixture
def ops(settings, queue_urls):
    app = create_app({"TESTING": True}, settings=replace(settings, flower_url="http://flower.test:5555"),
                     enqueuer=MemoryEnqueuer())
    browser = app.test_client()
    browser.csrf = sign_in_session(browser, "ops")
    return browser


@pytest.fixture
def user(app):
    """A user signed in to the pages (a session; pages take no API token)."""
    browser = app.test_client()
    browser.csrf = sign_in_session(browser, "alice")
    return browser


def dead_letter(settings, sqs, queue_urls, app) -> str:
    """A canary job whose message went to the default dead-letter queue, failed by the
    workers' dead-letter sweep; its id."""
    job_id = create(app, "canary")
    Sender(settings, queue_urls).send("canary.run", job_id)
    url = queue_urls[settings.queue_name("default")]
    for _ in range(2):  # the second receive finds the message over its receive count
        sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=1)
    dead = {"default": queue_urls[settings.dead_letter_name("default")]}
    with app.app_context():  # the workers' sweep fails the job, and leaves the message visible
        assert deadletter.sweep(settings, sqs, db.session, dead) == [job_id]
    return job_id


def test_users_may_not_see_the_operator_page(user, anonymous, queue_urls):
    assert user.get("/operator/").status_code == 403
    assert user.post("/operator/queues/default/redrive",
                     data={"csrf_token": user.csrf}).status_code == 403
    assert anonymous.get("/operator/").status_code == 302


def test_the_page_shows_queue_depths_dead_letters_and_a_flower_link(ops, settings, sqs,
                                                                    queue_urls, app):
    job_id = dead_letter(settings, sqs, queue_urls, app)
    sqs.send_message(QueueUrl=queue_urls[settings.queue_name("pdf")], MessageBody="{}")
    page = ops.get("/operator/", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<tr data-workload="pdf">' in html and '<td class="visible">1</td>' in html
    assert 'class="dead-letter status-failed">1</td>' in html
    assert job_id in html and "canary.run" in html
    assert 'href="http://flower.test:5555"' in html
    assert "moved to the dead-letter queue" in html, "the failed job is listed with its error"
    dead = sqs.receive_message(QueueUrl=queue_urls[settings.dead_letter_name("default")],
                               WaitTimeSeconds=1)["Messages"]
    assert envelope.parse(dead[0]["Body"]).job_id == job_id, "looking took nothing away"


def test_redrive_sends_dead_letters_back_and_queues_their_jobs_again(ops, settings, sqs,
                                                                    queue_urls, app, engine):
    job_id = dead_letter(settings, sqs, queue_urls, app)
    answer = ops.post("/operator/queues/default/redrive", data={"csrf_token": ops.csrf})
    assert answer.status_code == 302
    back = sqs.receive_message(QueueUrl=queue_urls[settings.queue_name("default")],
                               WaitTimeSeconds=1)["Messages"]
    assert [envelope.parse(m["Body"]).job_id for m in back] == [job_id]
    assert envelope.parse(back[0]["Body"]).task == "canary.run"
    assert "Messages" not in sqs.receive_message(
        QueueUrl=queue_urls[settings.dead_letter_name("default")], WaitTimeSeconds=0)
    assert row(engine, job_id)["status"] == "queued"
    assert f"Messages sent back to {settings.queue_name('default')}: 1." in ops.get("/operator/").get_data(as_text=True)


def test_a_signed_in_operators_redrive_needs_the_pages_csrf_token(settings, sqs, queue_urls,
                                                                  app, engine):
    job_id = dead_letter(settings, sqs, queue_urls, app)
    browser = app.test_client()
    token = sign_in_session(browser, "ops")
    assert browser.post("/operator/queues/default/redrive").status_code == 400
    assert row(engine, job_id)["status"] == "failed"
    answer = browser.post("/operator/queues/default/redrive", data={"csrf_token": token})
    assert answer.status_code == 302 and row(engine, job_id)["status"] == "queued"


def test_the_page_shows_each_pools_workers_from_the_autoscalers_last_round(ops, settings, s3,
                                                                          queue_urls):
    bucket, key = settings.autoscaler_state()
    pdf = MemoryWorkerScaler()
    run_round(Autoscaler(pools=(Pool("pdf", Policy(), ("q",), pdf),),
                         depth=MemoryQueueDepth({"q": Depths(visible=3)}),
                         store=S3StateStore(s3, bucket, key), emit=lambda line: None), 1000.0)
    html = ops.get("/operator/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<tr data-pool="pdf">' in html
    assert '<td class="current">0</td>' in html and '<td class="desired">2</td>' in html
    assert "wake: 3 messages on an idle pool" in html


def test_the_page_speaks_japanese(ops, queue_urls):
    html = ops.get("/operator/?lang=ja").get_data(as_text=True)
    assert "ワーカープール" in html and "デッドレターメッセージ" in html


def test_only_operators_see_the_link_to_the_page(user, ops, queue_urls):
    page = user.get("/account/tokens")
    assert page.status_code == 200 and "/operator/" not in page.get_data(as_text=True)
    assert 'href="/operator/"' in ops.get("/account/tokens").get_data(as_text=True)
