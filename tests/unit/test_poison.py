"""Which messages a worker refuses to run, and why: no services."""
from __future__ import annotations

import json
import uuid

import pytest

from core import envelope, poison
from tests.support.messages import (b64, envelope as kombu_envelope, malformed, sqs_body,
                                    task_body, with_body)

JOB = str(uuid.uuid4())
KNOWN = {"canary.run", "pdf.plan_batch"}


@pytest.mark.parametrize("shape, body, reason", [
    (shape, body, reason) for shape, (body, reason) in malformed(JOB).items()
] + [
    ("a JSON list", "[1, 2, 3]", "not a kombu message envelope"),
    ("empty", "", "not JSON"),
    ("base64 of not JSON", b64("plain words"), "not JSON"),
    ("a body that is not [args, kwargs, options]", with_body(JOB, b64('{"a": 1}')),
     "not JSON [args, kwargs, options]"),
    ("a pickled body", sqs_body({**kombu_envelope("canary.run", [JOB]),
                                 "content-type": "application/x-python-serialize"}),
     "content type 'application/x-python-serialize' is not application/json"),
    ("no job at all", sqs_body(kombu_envelope("canary.run", [])), "job id None is not a UUID"),
])
def test_a_malformed_message_is_refused_with_its_reason(shape, body, reason):
    found = poison.problem(body, KNOWN)
    assert found is not None and reason in found, shape


@pytest.mark.parametrize("shape, body", [
    ("args", task_body("canary.run", JOB)),
    ("kwargs", sqs_body(kombu_envelope("canary.run", [], {"job_id": JOB}))),
    ("no outer base64", json.dumps(kombu_envelope("pdf.plan_batch", [JOB]))),
    ("just under the size limit", task_body("canary.run", JOB, pad="x" * 100_000)),
])
def test_a_task_message_of_the_job_system_is_runnable(shape, body):
    assert poison.problem(body, KNOWN) is None, shape


def test_any_task_name_passes_when_the_known_tasks_are_not_given():
    assert poison.problem(task_body("no.such.task", JOB)) is None


def test_a_strictly_read_message_names_its_task_and_job():
    message = envelope.read(task_body("canary.run", JOB))
    assert (message.task, message.job_id) == ("canary.run", JOB)


def test_a_dead_lettered_copy_carries_its_reason():
    attributes = poison.attributes("not JSON", "dev-default", "m-1")
    assert poison.reason_of({"MessageAttributes": attributes}) == "not JSON"
    assert poison.reason_of({"Body": "x"}) is None


def test_a_chunk_message_the_pdf_planner_builds_is_runnable(monkeypatch):
    from broker.app import create_celery
    from core.settings import Settings
    from tasks.pdf import fanout

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    settings = Settings(aws_endpoint_url="http://127.0.0.1:9", queue_prefix="u-")
    app = create_celery(settings, {"u-pdf": "http://127.0.0.1:9/1/u-pdf"})
    with app.connection_for_write() as connection:
        body = fanout.encode(app, connection.default_channel, "pdf.render_chunk",
                             [JOB, 0, 20, 0], "pdf")
    assert poison.problem(body, {"pdf.render_chunk"}) is None
