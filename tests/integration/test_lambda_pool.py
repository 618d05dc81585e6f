"""A worker pool on AWS Lambda: ``worker.lambda_pool.handler`` given the events an SQS
event source mapping sends, built from messages received from moto's SQS, against
real PostgreSQL."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from core import envelope, lifecycle, poison, sqsevents
from core.errors import ConfigurationError
from stack import services
from stack.services import wait_for
from tasks.imports import samples
from tests.support.jobs import Sender, create, executions, row
from tests.support.messages import task_body
from tests.support.uploads import OWNER
from worker import lambda_pool

ROOT = Path(__file__).resolve().parents[2]


class Context:
    """A Lambda context: the function's name and the time its invocation has left."""

    function_name = "jobsys-worker-default"
    aws_request_id = "req-1"

    def __init__(self, seconds: float = 900):
        self._ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._ends - time.monotonic()) * 1000)


@pytest.fixture
def function(settings, queue_urls, monkeypatch):
    """Set the function's environment (``settings`` plus changes); returns the handler."""
    def configure(**env):
        for name, value in {**settings.to_env(), **env}.items():
            monkeypatch.setenv(name, value)
        lambda_pool.reset()
        return lambda_pool.handler

    yield configure
    lambda_pool.reset()


def receive(sqs, settings, workload: str = "default", wait: float = 20) -> dict:
    """The next message of a workload's queue as an event source mapping's record."""
    url = sqs.get_queue_url(QueueName=settings.queue_name(workload))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]
                                   )["Attributes"]["QueueArn"]

    def one():
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"],
                                  MessageAttributeNames=["All"]).get("Messages")
        return got and got[0]
    return sqsevents.record(wait_for(one, wait, f"a message on {workload}"), arn,
                            settings.aws_region)


def event(*records: dict) -> dict:
    return {"Records": list(records)}


def test_a_canary_sent_through_the_api_runs_on_the_lambda_handler(
        function, live_client, sqs, settings, engine):
    handler = function(WORKER_QUEUES="default")
    answer = live_client.post("/api/jobs", json={"kind": "canary", "params": {}})
    job_id = answer.get_json()["id"]
    record = receive(sqs, settings)
    assert record["attributes"]["ApproximateReceiveCount"] == "1"

    assert handler(event(record), Context()) == {"batchItemFailures": []}
    job = row(engine, job_id)
    assert job["status"] == lifecycle.SUCCEEDED and job["attempts"] == 1
    assert job["worker"].startswith("lambda:jobsys-worker-default:")
    assert job["result"]["worker"] == job["worker"]


def test_a_transient_error_is_retried_through_a_new_sqs_message(
        function, app, settings, queue_urls, sqs, engine):
    handler = function(WORKER_QUEUES="default", RETRY_BACKOFF_BASE="1")
    job_id = create(app, "test.flaky", {"failures": 1})
    Sender(settings, queue_urls).send("test.flaky", job_id)
    first = receive(sqs, settings)

    assert handler(event(first), Context()) == {"batchItemFailures": []}
    assert row(engine, job_id)["status"] == lifecycle.QUEUED
    again = receive(sqs, settings)
    assert again["messageId"] != first["messageId"], "a new message, not a redelivery"
    assert again["attributes"]["ApproximateReceiveCount"] == "1"
    assert envelope.parse(again["body"]).job_id == job_id

    assert handler(event(again), Context()) == {"batchItemFailures": []}
    job = row(engine, job_id)
    assert job["status"] == lifecycle.SUCCEEDED and job["attempts"] == 2
    assert len(executions(engine, job_id)) == 2


def test_a_job_past_its_invocations_end_fails_saying_why(
        function, live_client, sqs, settings, engine):
    handler = function(WORKER_QUEUES="default")
    answer = live_client.post("/api/jobs", json={"kind": "canary",
                                                 "params": {"sleep_seconds": 20}})
    record = receive(sqs, settings)

    began = time.monotonic()
    context = Context(seconds=lambda_pool.RESERVE_SECONDS + 1)
    assert handler(event(record), context) == {"batchItemFailures": []}
    assert time.monotonic() - began < 10
    job = row(engine, answer.get_json()["id"])
    assert job["status"] == lifecycle.FAILED
    assert job["error"].startswith("ran longer than the 1 s its AWS Lambda invocation had left")


def test_a_pdf_chunk_out_of_time_hands_its_other_documents_on_in_a_new_message(
        function, live_client, sqs, settings, engine):
    from tasks.pdf.samples import statement
    handler = function(WORKER_QUEUES="pdf")
    answer = live_client.post("/api/jobs", json={"kind": "pdf_batch", "params": {
        "template": "statement", "rows": [statement(n) for n in range(10)]}})
    job_id = answer.get_json()["id"]
    assert handler(event(receive(sqs, settings, "pdf")), Context()) == {"batchItemFailures": []}

    chunk = receive(sqs, settings, "pdf")  # the planner's one chunk of ten
    short = Context(seconds=lambda_pool.RESERVE_SECONDS + 2)  # a second to render in
    assert handler(event(chunk), short) == {"batchItemFailures": []}
    part = row(engine, job_id)
    assert part["status"] == lifecycle.RUNNING and 0 < part["done"] < 10

    rest = receive(sqs, settings, "pdf")
    assert rest["messageId"] != chunk["messageId"]
    assert handler(event(rest), Context()) == {"batchItemFailures": []}
    job = row(engine, job_id)
    assert job["status"] == lifecycle.SUCCEEDED and (job["done"], job["failed"]) == (10, 0)
    assert job["result"]["archive"]["documents"] == 10


SLOW_TRIGGER = """
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION slow_row();
"""


def test_an_import_past_its_kinds_maximum_fails_having_written_nothing(
        function, live_client, clean_imports, sqs, settings, engine):
    from core.datasets import spec_named
    with engine.begin() as conn:
        conn.execute(text(spec_named("customers").create_table_sql()))
        conn.exec_driver_sql(SLOW_TRIGGER)
    handler = function(WORKER_QUEUES="imports", IMPORT_MAX_RUN_SECONDS="1")
    answer = live_client.post("/api/imports/direct?dataset=customers", headers=OWNER,
                              data=samples.customers_csv(300))  # about 6 s of inserts
    record = receive(sqs, settings, "imports")

    assert handler(event(record), Context()) == {"batchItemFailures": []}
    job = row(engine, answer.get_json()["id"])
    assert job["status"] == lifecycle.FAILED
    assert job["error"].startswith("ran longer than 1 s, the most a csv_import job may run "
                                   "(IMPORT_MAX_RUN_SECONDS); split the file")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 0


def test_a_message_no_worker_can_run_goes_to_the_dead_letter_queue_at_once(
        function, app, settings, queue_urls, sqs):
    handler = function(WORKER_QUEUES="default")
    url = queue_urls[settings.queue_name("default")]
    job_id = create(app, "canary")
    sqs.send_message(QueueUrl=url, MessageBody="hello, this is not a task")
    sqs.send_message(QueueUrl=url, MessageBody=task_body("no.such.task", job_id))
    records = [receive(sqs, settings), receive(sqs, settings)]

    assert handler(event(*records), Context()) == {"batchItemFailures": []}
    dead = sqs.receive_message(QueueUrl=queue_urls[settings.dead_letter_name("default")],
                               MaxNumberOfMessages=10, WaitTimeSeconds=1,
                               MessageAttributeNames=["All"])["Messages"]
    assert sorted(poison.reason_of(m) for m in dead) == [
        "not JSON (nor base64 of JSON)", "unknown task 'no.such.task'"]


def test_the_job_of_a_message_the_handler_dead_letters_fails_in_that_invocation(
        function, app, settings, queue_urls, sqs, engine):
    handler = function(WORKER_QUEUES="default", DLQ_SWEEP_INTERVAL="3600")
    handler(event(), Context())  # the first invocation sweeps; the next is due in an hour
    job_id = create(app, "canary")
    sqs.send_message(QueueUrl=queue_urls[settings.queue_name("default")],
                     MessageBody=task_body("no.such.task", job_id))

    assert handler(event(receive(sqs, settings)), Context()) == {"batchItemFailures": []}
    job = row(engine, job_id)
    assert job["status"] == lifecycle.FAILED
    assert "unknown task 'no.such.task'" in job["error"]


def test_a_message_that_cannot_be_dead_lettered_is_reported_failed(
        function, app, settings, queue_urls, sqs):
    handler = function(WORKER_QUEUES="default")
    lambda_pool.pool()  # built while the dead-letter queue still exists
    sqs.delete_queue(QueueUrl=queue_urls[settings.dead_letter_name("default")])
    sqs.send_message(QueueUrl=queue_urls[settings.queue_name("default")],
                     MessageBody="hello, this is not a task")
    record = receive(sqs, settings)

    answer = handler(event(record), Context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}


def test_a_message_of_a_queue_the_function_does_not_serve_is_reported_failed(
        function, app, settings, queue_urls, sqs):
    handler = function(WORKER_QUEUES="default")
    sqs.send_message(QueueUrl=queue_urls[settings.queue_name("pdf")],
                     MessageBody=task_body("canary.run", create(app, "canary")))
    record = receive(sqs, settings, "pdf")

    answer = handler(event(record), Context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}


def test_a_worker_lambda_refuses_a_pool_with_exports_at_start_up(function, tmp_path):
    handler = function(WORKER_QUEUES="default,exports")
    with pytest.raises(ConfigurationError) as refused:
        handler(event(), Context())
    assert "export jobs (queue exports) may run for as long as they take" in str(refused.value)
    assert "POOL_EXPORTS_RUNTIME=ecs" in str(refused.value)

    env = services.python_env(WORKER_QUEUES="imports", IMPORT_MAX_RUN_SECONDS="1000")
    child = services.spawn("lambda-pool", [sys.executable, "-m", "worker.lambda_pool"],
                           env=env, log_dir=tmp_path, cwd=str(ROOT))
    assert child.popen.wait(60) == 2
    assert "IMPORT_MAX_RUN_SECONDS" in child.tail() and "POOL_IMPORTS_RUNTIME=ecs" in child.tail()


@pytest.mark.parametrize("visibility, comes_back", [
    (30, "on a new message, delayed until the claim is stale"),
    (1800, "after its visibility timeout: SQS delays a message 15 minutes at most"),
])
def test_a_message_whose_database_is_gone_comes_back(
        function, app, settings, queue_urls, sqs, visibility, comes_back):
    handler = function(WORKER_QUEUES="default", QUEUE_VISIBILITY_DEFAULT=str(visibility),
                       DATABASE_URL="postgresql://postgres@127.0.0.1:9/gone?connect_timeout=2")
    job_id = create(app, "canary", {})
    Sender(settings, queue_urls).send("canary.run", job_id)
    record = receive(sqs, settings)

    answer = handler(event(record), Context())
    url = sqs.get_queue_url(QueueName=settings.queue_name("default"))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    if visibility == 30:
        assert answer == {"batchItemFailures": []}, comes_back
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "1", comes_back
    else:
        assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}, \
            comes_back
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "0", comes_back
