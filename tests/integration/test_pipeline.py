"""The whole path: API → SQS (moto over HTTP) → worker → PostgreSQL."""
from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import text

from core import lifecycle
from tests.support.accounts import bearer, signed_in
from tests.support.jobs import Sender, create, queue_depth, wait_status
from webapp import create_app
from core.enqueue import MemoryEnqueuer


def test_a_canary_travels_api_to_worker_and_records_its_queue_wait(
        settings, queue_urls, start_worker, engine):
    start_worker("canary-worker")
    app = create_app({"TESTING": True}, settings=settings)
    client = signed_in(app.test_client())

    response = client.post("/api/jobs", json={"kind": "canary"})
    assert response.status_code == 202

    done = wait_status(engine, response.get_json()["id"], lifecycle.SUCCEEDED, timeout=30)
    assert done["result"]["worker"].startswith("canary-worker@")
    assert done["result"]["queue_wait_ms"] > 0
    assert (done["total"], done["done"], done["failed"]) == (1, 1, 0)


def test_the_pipeline_health_check_runs_a_canary(live_client, start_worker):
    start_worker()

    response = live_client.get("/healthz/pipeline?timeout=20", headers=bearer("ops"))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["job"]["status"] == "succeeded"


def test_the_pipeline_health_check_fails_clearly_without_workers(live_client):
    response = live_client.get("/healthz/pipeline?timeout=1", headers=bearer("ops"))

    assert response.status_code == 503
    assert "are workers running?" in response.get_json()["reason"]


class Unreachable(MemoryEnqueuer):
    def send(self, kind, job_id):
        raise ConnectionError("SQS is unreachable")


def jobs_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM jobs")).scalar()


def test_the_pipeline_check_reports_an_unreachable_queue_and_leaves_no_canary(settings, engine):
    client = create_app({"TESTING": True}, settings=settings,
                        enqueuer=Unreachable()).test_client()

    response = client.get("/healthz/pipeline?timeout=1", headers=bearer("ops"))

    assert response.status_code == 503
    assert "queue unreachable" in response.get_json()["reason"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM jobs")).scalars().all() == ["cancelled"]


def test_the_pipeline_check_is_for_operators_and_the_shared_token_only(settings, engine):
    app = create_app({"TESTING": True}, settings=replace(settings, pipeline_check_token="s3cret"),
                     enqueuer=MemoryEnqueuer())
    client = app.test_client()
    assert client.get("/healthz/pipeline?timeout=0.1").status_code == 401
    assert client.get("/healthz/pipeline?timeout=0.1", headers=bearer("alice")).status_code == 403
    assert client.get("/healthz/pipeline?timeout=0.1",
                      headers={"X-Pipeline-Token": "wrong"}).status_code == 401
    assert jobs_count(engine) == 0  # a refused call makes no job and queues nothing
    assert client.get("/healthz/pipeline?timeout=0.1",
                      headers={"X-Pipeline-Token": "s3cret"}).status_code == 503
    assert client.get("/healthz/pipeline?timeout=0.1", headers=bearer("ops")).status_code == 503
    assert client.get("/healthz").status_code == 200  # the load balancer's check stays open


def test_each_workload_has_its_own_queue(app, settings, queue_urls, sqs):
    sender = Sender(settings, queue_urls)
    for workload in ("pdf", "imports", "exports", "default"):
        sender.send("test.sleep", create(app, "test.sleep"), queue=workload)

    for workload in ("pdf", "imports", "exports", "default"):
        assert queue_depth(sqs, queue_urls[settings.queue_name(workload)])[0] == 1


def test_a_missing_queue_is_reported_with_the_command_that_creates_it(settings):
    client = signed_in(create_app({"TESTING": True}, settings=settings).test_client())

    response = client.post("/api/jobs", json={"kind": "canary"})

    assert response.status_code == 503
    job = client.get(f"/api/jobs/{response.get_json()['error']['job_id']}").get_json()
    assert "python -m core.provision" in job["error"]


def test_provisioning_is_idempotent_and_wires_each_dead_letter_queue(settings, sqs):
    from core import aws
    from core.provision import apply
    first = apply(settings, sqs, aws.client(settings, "s3"))
    second = apply(settings, sqs, aws.client(settings, "s3"))
    assert first == second

    for workload in ("default", "pdf", "imports", "exports"):
        attrs = sqs.get_queue_attributes(QueueUrl=first[settings.queue_name(workload)],
                                         AttributeNames=["All"])["Attributes"]
        policy = json.loads(attrs["RedrivePolicy"])
        assert policy["deadLetterTargetArn"].endswith(settings.dead_letter_name(workload))
        assert int(policy["maxReceiveCount"]) == settings.max_receive_count
        assert int(attrs["VisibilityTimeout"]) == settings.visibility_timeouts[workload]
    aws.client(settings, "s3").head_bucket(Bucket=settings.bucket)


def test_queueing_a_job_drops_one_wake_signal_for_its_workload(live_client, settings,
                                                               queue_urls, sqs):
    from core.wake import wake_queue_name
    for _ in range(3):
        assert live_client.post("/api/jobs", json={"kind": "canary"}).status_code == 202

    wake_url = queue_urls[wake_queue_name(settings.queue_prefix)]
    messages = sqs.receive_message(QueueUrl=wake_url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    bodies = [json.loads(m["Body"]) for m in messages]
    # One per 10-second slot: two only if the three requests straddled a slot boundary.
    assert bodies in ([{"wake": "default"}], [{"wake": "default"}] * 2)


def test_the_queue_depths_come_from_sqs(app, settings, queue_urls, sqs):
    sqs.send_message(QueueUrl=queue_urls[settings.queue_name("pdf")], MessageBody="{}")
    sqs.send_message(QueueUrl=queue_urls[settings.dead_letter_name("imports")], MessageBody="{}")

    depths = {q["workload"]: q for q in app.test_client().get("/api/queues", headers=bearer("ops")).get_json()["queues"]}

    assert set(depths) == {"default", "pdf", "imports", "exports"}
    assert (depths["pdf"]["visible"], depths["pdf"]["in_flight"]) == (1, 0)
    assert depths["imports"]["dead_letter"]["messages"] == 1
    assert depths["default"]["visible"] + depths["default"]["dead_letter"]["messages"] == 0


def test_queue_depths_name_a_missing_queue(app):
    response = app.test_client().get("/api/queues", headers=bearer("ops"))

    assert response.status_code == 503
    assert "python -m core.provision" in response.get_json()["error"]["message"]


def test_celerys_own_command_line_starts_a_working_worker(settings, queue_urls, engine, tmp_path):
    from pathlib import Path
    import sys

    from stack import services
    env = services.python_env(**{**settings.to_env(), "WORKER_QUEUES": "pdf",
                                 "WORKER_HEALTH_FILE": str(tmp_path / "cli.health")})
    child = services.spawn("celery-cli", [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "default",
        "--concurrency", "1", "--hostname", "cli@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel", "INFO"], env=env, log_dir=tmp_path / "logs",
        cwd=str(Path(__file__).resolve().parents[2]))
    try:
        services.wait_for(lambda: " ready." in child.log_path.read_text(errors="replace"),
                          60, "the celery worker to be ready")
        job_id = create(create_app({"TESTING": True}, settings=settings), "canary")
        Sender(settings, queue_urls).send("canary.run", job_id)
        done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)
        assert done["result"]["worker"].startswith("cli@")
    finally:
        child.stop(timeout=15)
