"""The user pages: who sees what, sign-in, CSRF, and the JSON the pages' scripts read."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests
from sqlalchemy import text

from core import csvimport, pdfbatch
from tests.support.accounts import bearer, sign_in_session
from webapp.views.start import TEMPLATE_COLUMNS

PAGES = ["/", "/pdf/new", "/imports/new", "/exports/new"]


def _job(engine, owner: str, kind: str, status: str = "queued", **values) -> str:
    """A job row as a worker would have left it."""
    job_id = str(uuid.uuid4())
    params = {"pdf_batch": {"template": "letter", "csv": "pdf/recipients/x/r.csv"},
              "csv_import": {"dataset": "customers", "key": "imports/customers/x/a.csv",
                             "encoding": "auto", "max_bad_rows": 0},
              "export": {"dataset": "customers", "columns": ["name"], "filters": [],
                         "encoding": "utf-8", "gzip": False}}[kind]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO jobs (id, kind, owner, params, status, total, done, failed, result, "
            "finished_at) VALUES (:id, :kind, :owner, :params, :status, :total, :done, "
            ":failed, :result, CASE WHEN :finished THEN now() END)"),
            {"id": job_id, "kind": kind, "owner": owner, "params": json.dumps(params),
             "status": status, "total": values.get("total", 0), "done": values.get("done", 0),
             "failed": values.get("failed", 0), "result": json.dumps(values.get("result")),
             "finished": status != "queued"})
    return job_id


@pytest.fixture
def pages(app):
    """Session clients, signed in through the login form: ``pages("alice")``."""
    def client_of(username: str):
        client = app.test_client()
        client.csrf = sign_in_session(client, username)
        return client
    return client_of


@pytest.mark.parametrize("path", PAGES + [f"/jobs/{uuid.uuid4()}"])
def test_every_page_needs_a_sign_in(anonymous, path):
    answer = anonymous.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=")


def test_the_owner_sees_her_jobs_on_the_list_and_their_pages(pages, clean_db):
    alice = pages("alice")
    job_id = alice.post("/api/jobs", json={"kind": "canary", "params": {}},
                        headers={"X-CSRFToken": alice.csrf}).get_json()["id"]
    listing = alice.get("/").get_data(as_text=True)
    assert f'data-job="{job_id}"' in listing
    page = alice.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    assert 'id="cancel"' in page.get_data(as_text=True)
    for path in PAGES:
        assert alice.get(path).status_code == 200, path


def test_a_user_cannot_see_download_or_cancel_another_users_job(pages, engine, clean_db):
    jobs = {"import": _job(engine, "alice", "csv_import", "failed", total=3, done=2, failed=1),
            "pdf": _job(engine, "alice", "pdf_batch", "succeeded", total=1, done=1,
                        result={"archive": {"key": "pdf/x/documents.zip"}}),
            "export": _job(engine, "alice", "export", "succeeded",
                           result={"key": "exports/x/customers.csv"}),
            "queued": _job(engine, "alice", "pdf_batch")}
    bob = pages("bob")
    assert f'data-job="{jobs["queued"]}"' not in bob.get("/").get_data(as_text=True)
    for job_id in jobs.values():
        assert bob.get(f"/jobs/{job_id}").status_code == 404
    for url in (f"/api/jobs/{jobs['import']}/errors.csv", f"/api/jobs/{jobs['import']}/errors",
                f"/api/jobs/{jobs['pdf']}/archive", f"/api/jobs/{jobs['pdf']}/documents",
                f"/api/jobs/{jobs['export']}/download"):
        assert bob.get(url).status_code == 404, url
    cancel = bob.post(f"/jobs/{jobs['queued']}/cancel", data={"csrf_token": bob.csrf})
    assert cancel.status_code == 404
    retry = bob.post(f"/jobs/{jobs['pdf']}/retry-failed", data={"csrf_token": bob.csrf})
    assert retry.status_code == 404
    assert _status(engine, jobs["queued"]) == "queued"


def test_an_operator_sees_everyones_jobs_with_their_owner(pages, engine, clean_db):
    job_id = _job(engine, "alice", "pdf_batch")
    ops = pages("ops")
    listing = ops.get("/").get_data(as_text=True)
    assert f'data-job="{job_id}"' in listing and "<td>alice</td>" in listing
    assert ops.get(f"/jobs/{job_id}").status_code == 200
    ops.post(f"/jobs/{job_id}/cancel", data={"csrf_token": ops.csrf})
    assert _status(engine, job_id) == "cancelled"


def test_forms_without_the_csrf_token_are_refused(pages, engine, clean_db):
    job_id = _job(engine, "alice", "pdf_batch")
    alice = pages("alice")
    assert alice.post(f"/jobs/{job_id}/cancel").status_code == 400
    assert alice.post(f"/jobs/{job_id}/cancel", data={"csrf_token": "forged"}).status_code == 400
    assert alice.post("/api/jobs", json={"kind": "canary"}).status_code == 400
    assert _status(engine, job_id) == "queued"
    answer = alice.post(f"/jobs/{job_id}/cancel", data={"csrf_token": alice.csrf})
    assert answer.status_code == 302 and _status(engine, job_id) == "cancelled"


def test_a_finished_jobs_page_links_its_files(pages, engine, clean_db):
    alice = pages("alice")
    jobs = {"errors.csv": _job(engine, "alice", "csv_import", "failed", total=3, done=2,
                                failed=1),
            "archive": _job(engine, "alice", "pdf_batch", "partially_failed", total=2, done=1,
                            failed=1, result={"archive": {"key": "pdf/x/documents.zip"}}),
            "download": _job(engine, "alice", "export", "succeeded",
                             result={"key": "exports/x/customers.csv", "rows": 5, "bytes": 9})}
    for link, job_id in jobs.items():
        html = alice.get(f"/jobs/{job_id}").get_data(as_text=True)
        assert f'href="/api/jobs/{job_id}/{link}"' in html
        assert 'id="cancel"' not in html
    assert 'id="retry-failed"' in alice.get(f"/jobs/{jobs['archive']}").get_data(as_text=True)


def test_the_owner_retries_the_failed_documents_from_the_page(pages, engine, clean_db):
    job_id = _job(engine, "alice", "pdf_batch", "partially_failed", total=2, done=1, failed=1)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO pdf_documents (job_id, seq, recipient, data, status, error) "
                          "VALUES (:j, 0, '山田', '{}', 'done', NULL), "
                          "(:j, 1, '佐藤', '{}', 'failed', 'date is undefined')"), {"j": job_id})
    alice = pages("alice")
    answer = alice.post(f"/jobs/{job_id}/retry-failed", data={"csrf_token": alice.csrf},
                        follow_redirects=True)
    assert "Rendering 1 failed documents again." in answer.get_data(as_text=True)
    assert _status(engine, job_id) == "queued"


def test_a_refused_action_comes_back_with_its_reason(pages, engine, clean_db):
    alice = pages("alice")
    job_id = _job(engine, "alice", "pdf_batch", "succeeded", total=1, done=1)
    answer = alice.post(f"/jobs/{job_id}/retry-failed", data={"csrf_token": alice.csrf},
                        follow_redirects=True)
    assert "could not be retried: the job is succeeded with 0 failed documents" \
        in answer.get_data(as_text=True)
    answer = alice.post(f"/jobs/{job_id}/cancel", data={"csrf_token": alice.csrf},
                        follow_redirects=True)
    assert "could not be cancelled: the job is already succeeded" in answer.get_data(as_text=True)


@pytest.mark.settings(pdf_source_tables=("investors",))
def test_the_pdf_page_offers_an_operator_the_tables_a_batch_may_read(pages, clean_db):
    html = pages("ops").get("/pdf/new").get_data(as_text=True)
    assert '<option>investors</option>' in html and 'value="table"' in html


@pytest.mark.settings(pdf_source_tables=("investors",))
def test_the_pdf_page_offers_a_user_no_table_of_everyones_records(pages, clean_db):
    html = pages("alice").get("/pdf/new").get_data(as_text=True)
    assert 'investors' not in html and 'value="table"' not in html


def test_the_pdf_page_offers_no_table_when_none_is_allowed(pages, clean_db):
    assert 'value="table"' not in pages("alice").get("/pdf/new").get_data(as_text=True)


def test_pages_speak_japanese(pages, clean_db):
    alice = pages("alice")
    html = alice.get("/?lang=ja").get_data(as_text=True)
    assert "新しいPDF一括作成" in html and "ジョブ" in html
    assert "CSVを取り込む" in alice.get("/imports/new").get_data(as_text=True)


def test_the_import_errors_come_a_page_at_a_time(client, app, engine, s3, settings, queue_urls,
                                                  clean_db):
    from tasks.imports.report import ErrorReport
    job_id = _job(engine, "local", "csv_import", "failed", total=5, done=0, failed=5)
    report = ErrorReport()
    for line in range(2, 7):
        report(line, "email", f"bad{line}", "not an e-mail address")
    report.store(s3, settings.bucket, csvimport.report_key(job_id))
    first = client.get(f"/api/jobs/{job_id}/errors?limit=2").get_json()
    assert [e["line"] for e in first["errors"]] == [2, 3]
    assert first["bad_rows"] == 5 and first["report"] == f"/api/jobs/{job_id}/errors.csv"
    second = client.get(first["next"]).get_json()
    assert [e["value"] for e in second["errors"]] == ["bad4", "bad5"]
    last = client.get(second["next"]).get_json()
    assert [e["line"] for e in last["errors"]] == [6] and last["next"] is None
    assert client.get(f"/api/jobs/{job_id}/errors", headers=bearer("bob")).status_code == 404
    assert client.get(f"/api/jobs/{job_id}/errors", headers=bearer("ops")).status_code == 200


def test_a_recipients_csv_goes_to_the_bucket_through_a_presigned_post(client, s3, settings,
                                                                       queue_urls, clean_db):
    answer = client.post("/api/pdf/uploads", json={"filename": "宛先 一覧.csv"})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["key"].startswith("pdf/recipients/") and body["key"].endswith(".csv")
    sent = requests.post(body["upload"]["url"], data=body["upload"]["fields"],
                         files={"file": ("r.csv", "name\n山田\n".encode())}, timeout=10)
    assert sent.status_code in (200, 204), sent.text
    assert s3.get_object(Bucket=settings.bucket, Key=body["key"])["Body"].read().decode() \
        == "name\n山田\n"
    job = client.post("/api/jobs", json={"kind": "pdf_batch",
                                         "params": {"template": "letter", "csv": body["key"]}})
    assert job.status_code == 202


def test_the_pdf_page_names_the_columns_each_template_takes():
    from tasks.pdf import samples
    data = {"letter": samples.LETTER, "statement": samples.STATEMENT}
    assert set(TEMPLATE_COLUMNS) == set(pdfbatch.TEMPLATES)
    for name, columns in TEMPLATE_COLUMNS.items():
        sample = {("items_json" if k == "items" else k) for k in data[name]}
        assert set(columns) == sample, name


def _status(engine, job_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}).scalar()


@pytest.mark.parametrize("path", ["/login", "/api/jobs", "/static/app.js", "/healthz", "/nowhere"])
def test_pages_cannot_be_framed(anonymous, path):
    answer = anonymous.get(path)
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"


def test_pages_run_no_inline_or_foreign_script_and_upload_only_to_the_bucket(pages, settings):
    policy = pages("alice").get("/imports/new").headers["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == f"'self' {settings.aws_endpoint_url}"


@pytest.mark.settings(trusted_proxies=1)
def test_hsts_is_sent_only_over_https_as_the_load_balancer_saw_it(anonymous):
    plain = anonymous.get("/login", headers={"X-Forwarded-Proto": "http"})
    secure = anonymous.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in plain.headers
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_a_client_cannot_claim_https_without_a_trusted_proxy(anonymous):
    forged = anonymous.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forged.headers
    assert "Strict-Transport-Security" in anonymous.get("/login", base_url="https://localhost").headers


@pytest.mark.settings(pdf_recipients_max_bytes=100, import_max_bytes=5000)
def test_a_recipients_upload_may_not_be_as_large_as_an_import(client, s3, settings, clean_db):
    # S3 refuses a file over the signed range (moto does not check it: the worker's own
    # size check is tested in tests/unit/test_pdf_batch_logic.py).
    for path, body, limit in [("/api/pdf/uploads", {}, 100),
                              ("/api/imports/uploads", {"dataset": "customers"}, 5000)]:
        upload = client.post(path, json=body).get_json()["upload"]
        policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
        assert ["content-length-range", 1, limit] in policy["conditions"]
        assert upload["max_bytes"] == limit
