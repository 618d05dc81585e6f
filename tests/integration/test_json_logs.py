"""One filter on ``job_id`` tells a job's story across processes: the web app's JSON lines
(in this process) and a real worker's (its own process), for a canary sent through SQS; and
the upload Lambda's, for the import it starts."""
from __future__ import annotations

import json
from dataclasses import replace

from core import lifecycle, provision
from lambdas import import_upload
from stack.services import wait_for
from tasks.imports import samples
from tests.support.accounts import signed_in
from tests.support.jobs import wait_status
from tests.support.uploads import object_event, upload
from webapp import create_app


def json_lines(text: str) -> list[dict]:
    """Every line parsed: a line that is not one JSON object fails the test here."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_canarys_job_id_follows_it_from_the_post_through_the_worker_in_json_lines(
        settings, queue_urls, start_worker, engine, capsys, root_logger):
    worker = start_worker("json-worker", LOG_FORMAT="json")
    capsys.readouterr()
    app = create_app({"TESTING": True}, settings=replace(settings, log_format="json"))
    response = signed_in(app.test_client()).post("/api/jobs", json={"kind": "canary"})
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)

    web = [line for line in json_lines(capsys.readouterr().err)
           if line.get("job_id") == job_id]
    queued = [line for line in web if "queued" in line["message"]]
    assert queued and queued[0]["kind"] == "canary" and queued[0]["process"] == "web"
    assert queued[0]["request_id"] == response.headers["X-Request-Id"]

    lines = json_lines(worker.log_path.read_text())
    assert any(line["message"].endswith(" ready.") for line in lines)
    story = [line for line in lines if line.get("job_id") == job_id]
    assert any(" started, attempt 1" in line["message"] for line in story)
    assert any(line["message"] == f"job {job_id} succeeded" for line in story)
    started = next(line for line in story if " started" in line["message"])
    assert (started["kind"], started["attempt"], started["process"]) == ("canary", 1, "worker")
    assert started["task_id"] and all(line["task_id"] == started["task_id"] for line in story)
    assert not any("job_id" in line for line in lines if line not in story)


class LambdaContext:
    aws_request_id = "lambda-request-1"


def test_the_upload_lambda_logs_the_job_it_starts_in_json_lines(
        live_client, clean_imports, settings, sqs, engine, capsys, root_logger):
    upload(live_client, samples.customers_csv(3))
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    event = json.loads(wait_for(lambda: object_event(sqs, url), 30, "the notification")["Body"])
    capsys.readouterr()

    started = import_upload.handler(event, LambdaContext(),
                                    settings=replace(settings, log_format="json"))

    [job_id] = started["started"]
    lines = json_lines(capsys.readouterr().err)
    story = [line for line in lines if line.get("job_id") == job_id]
    assert any("queued" in line["message"] for line in story)
    assert any(f"import job {job_id} started" in line["message"] for line in story)
    assert {(line["process"], line["kind"], line["aws_request_id"]) for line in story} == {
        ("import-upload", "csv_import", "lambda-request-1")}
