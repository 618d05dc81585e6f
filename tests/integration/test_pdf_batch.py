"""Document batches end to end: the API, SQS chunk fan-out, real workers rendering
with WeasyPrint, S3, and the per-document outcomes in PostgreSQL."""
from __future__ import annotations

import io
import subprocess
import zipfile

import pytest
import requests
from sqlalchemy import text

from core import lifecycle
from stack.services import wait_for
from store import db, jobstore
from tasks.pdf import samples
from tests.support.accounts import bearer
from tests.support.jobs import Sender, row, wait_drained, wait_finished

OWNER = bearer("tester")


@pytest.fixture
def clean_documents(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE pdf_documents, rate_buckets"))


@pytest.fixture
def live(live_client, clean_documents):
    return live_client


def submit(client, rows, template="statement") -> str:
    response = client.post("/api/jobs", headers=OWNER,
                           json={"kind": "pdf_batch", "params": {"template": template,
                                                                 "rows": rows}})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def documents(engine, job_id) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT * FROM pdf_documents WHERE job_id = :j ORDER BY seq"), {"j": job_id}).mappings()]


def pdf_keys(s3, settings, job_id) -> list[str]:
    listing = s3.list_objects_v2(Bucket=settings.bucket, Prefix=f"pdf/{job_id}/")
    return sorted(o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".pdf"))


def pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def follow(client, path: str) -> requests.Response:
    """Ask the API for a download, then fetch the presigned URL it redirects to."""
    answer = client.get(path, headers=OWNER)
    assert answer.status_code == 302, answer.get_json()
    return requests.get(answer.headers["Location"], timeout=10)


BROKEN = {k: v for k, v in samples.statement(99).items() if k != "due_date"}


@pytest.mark.settings(pdf_chunk_size=4)
def test_a_batch_renders_every_recipient_and_reports_the_one_that_failed_by_name(
        live, engine, settings, s3, start_worker):
    rows = [samples.statement(n) for n in range(9)]
    rows.insert(4, {**BROKEN, "name": "壊れた 行"})
    start_worker("w1")
    start_worker("w2")
    job_id = submit(live, rows)

    job = wait_finished(engine, job_id, timeout=120)

    assert (job["status"], job["total"], job["done"], job["failed"]) == (
        lifecycle.PARTIAL, 10, 9, 1)
    failed = live.get(f"/api/jobs/{job_id}/documents?status=failed", headers=OWNER).get_json()
    assert [(d["recipient"], d["status"]) for d in failed["documents"]] == [("壊れた 行", "failed")]
    assert "'due_date'" in failed["documents"][0]["error"]
    listing = live.get(f"/api/jobs/{job_id}/documents?status=done", headers=OWNER).get_json()
    assert len(listing["documents"]) == 9
    first = follow(live, listing["documents"][0]["download"])
    assert "山田 太郎0 様" in pdftotext(first.content)
    archive = zipfile.ZipFile(io.BytesIO(follow(live, f"/api/jobs/{job_id}/archive").content))
    assert len(archive.namelist()) == 9
    assert archive.namelist()[0] == "000001-山田太郎0.pdf"
    assert all("請求書" in pdftotext(archive.read(name)) for name in archive.namelist())


@pytest.mark.settings(pdf_chunk_size=2)
def test_retry_failed_renders_only_the_failed_documents_again(live, engine, start_worker):
    start_worker()
    job_id = submit(live, [samples.statement(1), BROKEN, samples.statement(3)])
    assert wait_finished(engine, job_id, timeout=90)["status"] == lifecycle.PARTIAL
    before = documents(engine, job_id)
    with engine.begin() as conn:  # the owner corrects the recipient's data
        conn.execute(text("UPDATE pdf_documents SET data = data || '{\"due_date\": \"12月31日\"}'"
                          " WHERE job_id = :j AND seq = 1"), {"j": job_id})

    response = live.post(f"/api/jobs/{job_id}/retry-failed", headers=OWNER)

    assert response.status_code == 202 and response.get_json()["retrying"] == 1
    # The answer is the job row as it stands: queued again, or already taken by the worker.
    assert response.get_json()["status"] in (
        lifecycle.QUEUED, lifecycle.RUNNING, lifecycle.SUCCEEDED)
    job = wait_finished(engine, job_id, timeout=90)
    after = documents(engine, job_id)
    assert (job["status"], job["done"], job["failed"]) == (lifecycle.SUCCEEDED, 3, 0)
    assert [d["finished_at"] for d in after[::2]] == [d["finished_at"] for d in before[::2]]
    assert after[1]["status"] == "done" and after[1]["finished_at"] > before[1]["finished_at"]
    again = live.post(f"/api/jobs/{job_id}/retry-failed", headers=OWNER)
    assert again.status_code == 409


@pytest.mark.settings(pdf_chunk_size=10)
def test_a_redelivered_chunk_overwrites_its_pdfs_and_duplicates_nothing(
        live, engine, settings, queue_urls, s3, start_worker, sqs):
    start_worker()
    job_id = submit(live, [samples.statement(n) for n in range(3)])
    first = wait_finished(engine, job_id, timeout=90)
    keys = pdf_keys(s3, settings, job_id)
    # As if a worker died after storing document 2 but before recording it.
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'running', done = 2 WHERE id = :j"),
                     {"j": job_id})
        conn.execute(text("UPDATE pdf_documents SET status = 'pending' "
                          "WHERE job_id = :j AND seq = 2"), {"j": job_id})

    sender = Sender(settings, queue_urls)
    for _ in range(2):
        sender.celery.send_task("pdf.render_chunk", args=[job_id, 0, 10, 0], queue="pdf")
    wait_for(lambda: row(engine, job_id)["status"] == lifecycle.SUCCEEDED, 60, "the job to end")
    wait_drained(sqs, queue_urls[settings.queue_name("pdf")])

    again = row(engine, job_id)
    assert pdf_keys(s3, settings, job_id) == keys and len(keys) == 3
    assert len(documents(engine, job_id)) == 3
    assert (again["done"], again["failed"]) == (first["done"], first["failed"]) == (3, 0)


@pytest.mark.settings(pdf_chunk_size=1, cluster_rate_limits={"pdf_batch": "60/m"})
def test_the_cluster_wide_rate_limit_holds_across_two_worker_processes(
        live, engine, start_worker):
    start_worker("w1")
    start_worker("w2")
    job_id = submit(live, [samples.statement(n) for n in range(6)])

    assert wait_finished(engine, job_id, timeout=120)["status"] == lifecycle.SUCCEEDED

    docs = documents(engine, job_id)
    assert {d["worker"].split("@")[0] for d in docs} == {"w1", "w2"}
    grants = sorted(d["started_at"] for d in docs)
    # A bucket of one token refilled at 1/s: n grants span at least n - 1 seconds.
    for i, earlier in enumerate(grants):
        for j in range(i + 1, len(grants)):
            assert (grants[j] - earlier).total_seconds() >= (j - i) - 1e-3


@pytest.mark.settings(pdf_chunk_size=1, worker_rate_limits={"pdf_batch": "60/m"})
def test_the_per_worker_rate_limit_spaces_one_workers_documents(live, engine, start_worker):
    worker = start_worker("w1")
    job_id = submit(live, [samples.statement(n) for n in range(6)])

    assert wait_finished(engine, job_id, timeout=120)["status"] == lifecycle.SUCCEEDED

    assert "rate limit of pdf.render_chunk: 60/m chunks" in worker.log_path.read_text()
    starts = sorted(d["started_at"] for d in documents(engine, job_id))
    # Celery releases one chunk (= one document) a second to the pool; the pool's
    # own start-up jitter is well under the half second allowed here.
    assert (starts[-1] - starts[0]).total_seconds() >= len(starts) - 1 - 0.5


def test_a_batch_from_a_missing_csv_fails_with_what_to_do(live, engine, start_worker):
    start_worker()
    response = live.post("/api/jobs", headers=OWNER, json={
        "kind": "pdf_batch", "params": {"template": "letter", "csv": "pdf/recipients/tester/none.csv"}})
    job = wait_finished(engine, response.get_json()["id"], timeout=60)
    assert job["status"] == lifecycle.FAILED
    assert "no file 'pdf/recipients/tester/none.csv'" in job["error"]


@pytest.mark.settings(pdf_chunk_size=2)
def test_a_batch_from_a_shift_jis_csv_in_the_bucket(live, engine, settings, s3, start_worker):
    lines = ["name,date,subject,body"] + [f"髙橋 {n},11月30日,お知らせ①,本文{n}" for n in range(3)]
    s3.put_object(Bucket=settings.bucket, Key="pdf/recipients/tester/r.csv",
                  Body="\r\n".join(lines).encode("cp932"))
    start_worker()
    response = live.post("/api/jobs", headers=OWNER, json={
        "kind": "pdf_batch", "params": {"template": "letter", "csv": "pdf/recipients/tester/r.csv"}})
    job = wait_finished(engine, response.get_json()["id"], timeout=90)
    assert (job["status"], job["done"]) == (lifecycle.SUCCEEDED, 3)
    assert [d["recipient"] for d in documents(engine, job["id"])] == [f"髙橋 {n}" for n in range(3)]


def batch_from(live, key: str, template: str = "letter") -> str:
    response = live.post("/api/jobs", headers=OWNER, json={
        "kind": "pdf_batch", "params": {"template": template, "csv": key}})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_a_recipients_file_with_a_thousand_long_headers_is_refused(
        live, engine, settings, s3, start_worker):
    header = ",".join(f"c{n:03d}".ljust(1000, "x") for n in range(1000))
    lines = [header] + [",".join([f"v{n}"] * 1000) for n in range(200)]
    s3.put_object(Bucket=settings.bucket, Key="pdf/recipients/tester/wide.csv",
                  Body="\r\n".join(lines).encode())
    start_worker()
    job = wait_finished(engine, batch_from(live, "pdf/recipients/tester/wide.csv"), timeout=60)
    assert job["status"] == lifecycle.FAILED
    assert job["error"] == ("pdf/recipients/tester/wide.csv line 1, column 101: more than the "
                            "100 columns a recipients file may have (PDF_RECIPIENTS_MAX_COLUMNS); "
                            "keep only those the template uses")
    assert documents(engine, job["id"]) == []


@pytest.mark.settings(pdf_chunk_size=2)
def test_a_recipients_file_cannot_fill_the_database_with_what_no_template_reads(
        live, engine, settings, s3, start_worker):
    header = "name,date,subject,body," + ",".join(f"extra{n}" for n in range(50))
    lines = [header] + [f"佐藤 {n},11月30日,お知らせ,本文{n}," + ",".join(["z" * 5000] * 50)
                        for n in range(2)]
    s3.put_object(Bucket=settings.bucket, Key="pdf/recipients/tester/extra.csv",
                  Body="\r\n".join(lines).encode())
    start_worker()
    job = wait_finished(engine, batch_from(live, "pdf/recipients/tester/extra.csv"), timeout=90)
    assert (job["status"], job["done"]) == (lifecycle.SUCCEEDED, 2)
    assert [d["data"] for d in documents(engine, job["id"])] == [
        {"name": f"佐藤 {n}", "date": "11月30日", "subject": "お知らせ", "body": f"本文{n}"}
        for n in range(2)]


@pytest.mark.settings(pdf_source_tables=("users",))
def test_a_table_batch_of_a_user_is_refused_by_the_worker_too(
        live, engine, settings, queue_urls, start_worker):
    # A job row made by anything but the checked ways (a script, a bad migration).
    with db.unit_of_work(db.sessions(settings.require_database())) as session:
        job, _ = jobstore.create(session, kind="pdf_batch", owner="tester",
                                 params={"template": "letter", "table": "users"})
    start_worker()
    Sender(settings, queue_urls).send("pdf.plan_batch", str(job.id), "pdf")
    finished = wait_finished(engine, str(job.id), timeout=60)
    assert finished["status"] == lifecycle.FAILED
    assert finished["error"].startswith("params.table: only operators may start a batch from "
                                        "a table")
    assert documents(engine, str(job.id)) == []
