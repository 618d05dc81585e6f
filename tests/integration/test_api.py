"""The JSON API against a real PostgreSQL (the queue is an in-memory recorder here;
tests/integration/test_pipeline.py sends over the real SQS)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core.enqueue import MemoryEnqueuer
from stack.services import free_port
from tests.support.accounts import bearer
from webapp import create_app

OWNER = bearer("alice")


def post(client, body, headers=None, **kwargs):
    return client.post("/api/jobs", json=body, headers={**OWNER, **(headers or {})}, **kwargs)


def sent(app):
    return app.extensions["jobsys.enqueuer"].sent


def test_creating_a_job_answers_202_with_its_location_and_queues_it(app, client):
    response = post(client, {"kind": "canary", "params": {"sleep_seconds": 1}})

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["status"] == "queued" and job["owner"] == "alice"
    assert sent(app) == [("canary.run", "default", job["id"])]
    assert client.get(response.headers["Location"], headers=OWNER).get_json()["id"] == job["id"]


def test_the_same_idempotency_key_returns_the_same_job_and_queues_it_once(app, client):
    first = post(client, {"kind": "canary"}, {"Idempotency-Key": "click-1"})
    second = post(client, {"kind": "canary"}, {"Idempotency-Key": "click-1"})

    assert second.status_code == 202
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(sent(app)) == 1


def test_idempotency_keys_belong_to_their_owner(client):
    alice = post(client, {"kind": "canary"}, {"Idempotency-Key": "k"})
    bob = post(client, {"kind": "canary"}, {"Idempotency-Key": "k", **bearer("bob")})
    assert alice.get_json()["id"] != bob.get_json()["id"]


def test_reusing_an_idempotency_key_for_a_different_request_is_refused(client):
    post(client, {"kind": "canary"}, {"Idempotency-Key": "k2"})
    response = post(client, {"kind": "canary", "params": {"sleep_seconds": 5}},
                    {"Idempotency-Key": "k2"})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("body, status, field, words", [
    ({}, 422, "kind", "is required"),
    ({"kind": "nope"}, 422, "kind", "'nope' is not a job kind"),
    ({"kind": "canary", "params": []}, 422, "params", "must be a JSON object"),
    ({"kind": "canary", "params": {"sleep_seconds": "soon"}}, 422, "params.sleep_seconds",
     "must be a number"),
    ({"kind": "canary", "params": {"sleep_seconds": 301}}, 422, "params.sleep_seconds",
     "between 0 and 300"),
    ({"kind": "canary", "params": {"colour": 1}}, 422, "params.colour", "is not a parameter"),
    ({"kind": "canary", "extra": 1}, 422, "extra", "is not a field"),
])
def test_invalid_requests_name_the_field_and_what_is_wrong(app, client, body, status, field, words):
    response = post(client, body)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["field"] == field
    assert words in error["message"]
    assert sent(app) == []


def test_a_body_that_is_not_json_is_refused_with_an_example(client):
    response = client.post("/api/jobs", data="kind=canary", headers=OWNER)
    assert response.status_code == 415
    assert '"kind": "canary"' in response.get_json()["error"]["message"]


def test_other_owners_jobs_are_not_found(client):
    job = post(client, {"kind": "canary"}).get_json()
    assert client.get(f"/api/jobs/{job['id']}", headers=bearer("bob")).status_code == 404
    assert client.get("/api/jobs/not-a-uuid", headers=OWNER).status_code == 404


def test_listing_pages_newest_first_and_filters_by_status(client):
    ids = [post(client, {"kind": "canary"}).get_json()["id"] for _ in range(5)]
    client.post(f"/api/jobs/{ids[0]}/cancel", headers=OWNER)

    seen, url = [], "/api/jobs?limit=2"
    while url:
        page = client.get(url, headers=OWNER).get_json()
        assert len(page["jobs"]) <= 2
        seen += [j["id"] for j in page["jobs"]]
        url = page["next"]
    assert seen == ids[::-1]

    cancelled = client.get("/api/jobs?status=cancelled", headers=OWNER).get_json()["jobs"]
    assert [j["id"] for j in cancelled] == [ids[0]]
    assert client.get("/api/jobs?kind=pdf_batch", headers=OWNER).get_json()["jobs"] == []
    bad = client.get("/api/jobs?status=done", headers=OWNER)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "status"


def test_cancelling_a_queued_job_cancels_it_and_a_finished_one_is_refused(client):
    job = post(client, {"kind": "canary"}).get_json()

    response = client.post(f"/api/jobs/{job['id']}/cancel", headers=OWNER)
    assert response.status_code == 202
    assert response.get_json()["status"] == "cancelled"

    again = client.post(f"/api/jobs/{job['id']}/cancel", headers=OWNER)
    assert again.status_code == 409


def test_a_job_whose_task_cannot_be_sent_now_is_accepted_and_left_to_the_relay(app, client):
    class Unreachable:
        def send(self, kind, job_id):
            raise ConnectionError("connection refused")
    app.extensions["jobsys.enqueuer"] = Unreachable()

    response = post(client, {"kind": "canary"})

    assert response.status_code == 202
    job = client.get(f"/api/jobs/{response.get_json()['id']}", headers=OWNER).get_json()
    assert job["status"] == "queued" and job["error"] is None


def test_the_api_answers_503_with_retry_after_when_the_database_is_down(settings):
    down = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/jobsys"
    app = create_app({"TESTING": True}, enqueuer=MemoryEnqueuer(),
                     settings=replace(settings, database_url=down))
    client = app.test_client()

    response = client.post("/api/jobs", json={"kind": "canary"}, headers=bearer("alice"))

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    message = response.get_json()["error"]["message"]
    assert "database" in message and "again" in message
    assert app.extensions["jobsys.enqueuer"].sent == []
    assert client.get("/healthz").status_code == 503


def test_healthz_reports_the_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}


def test_healthz_does_not_reveal_database_errors(settings, caplog):
    port = free_port()
    down = f"postgresql+psycopg://secret_user@127.0.0.1:{port}/secret_db"
    app = create_app({"TESTING": True}, enqueuer=MemoryEnqueuer(),
                     settings=replace(settings, database_url=down))

    with caplog.at_level("WARNING", logger="webapp.health"):
        response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "unhealthy", "database": "database unreachable"}
    assert str(port) in caplog.text, "the detail is logged for operators"


@pytest.mark.settings(pdf_recipients_max_rows=2)
def test_inline_recipients_over_the_batch_limit_are_refused_before_a_job_is_made(app, client):
    response = post(client, {"kind": "pdf_batch", "params": {
        "template": "letter", "rows": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}})
    assert response.status_code == 422
    assert response.get_json()["error"] == {"field": "params.rows", "message": (
        "holds 3 rows: more than 2 recipients, the most one batch may have "
        "(PDF_RECIPIENTS_MAX_ROWS); split them into several batches")}
    assert sent(app) == []


@pytest.mark.settings(max_request_bytes=2000)
def test_a_body_over_the_request_limit_is_refused_naming_its_setting(app, client):
    refused = post(client, {"kind": "canary", "params": {"padding": "x" * 5000}})

    assert refused.status_code == 413
    assert "2,000 bytes" in refused.get_json()["error"]["message"]
    assert "MAX_REQUEST_BYTES" in refused.get_json()["error"]["message"]
    assert sent(app) == []


@pytest.mark.parametrize("levels", [33, 5000])
def test_a_body_nested_deeper_than_any_request_needs_is_refused_not_a_server_error(
        app, client, levels):
    body = '{"kind": "canary", "params": {"a": ' + "[" * levels + "]" * levels + "}}"
    refused = client.post("/api/jobs", data=body, content_type="application/json",
                          headers=OWNER)

    assert refused.status_code == 400
    assert "more than 32 levels deep" in refused.get_json()["error"]["message"]
    assert sent(app) == []


def test_a_nul_character_deep_in_a_body_is_refused_naming_where_it_is(app, client):
    refused = post(client, {"kind": "canary", "params": {"rows": [{}, {"name": "a\x00b"}]}})

    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "params.rows[1].name"
    assert sent(app) == []
