"""Exports end to end: the API, the exports queue, a real worker streaming from
PostgreSQL into an S3 multipart upload on moto, the download link, and the
owner's e-mail (once, however often the message is delivered)."""
from __future__ import annotations

import csv
import gzip
import io
from email import message_from_bytes, policy

import pytest
import requests
from sqlalchemy import text

from core import aws, lifecycle
from stack import customers
from stack.services import wait_for
from tests.support.jobs import Sender, queue_depth, row, wait_finished
from webapp import create_app

OWNER = {"X-Owner": "tester"}
ROWS = 3000
UNWRITABLE_ID = 900001  # its name holds a character CP932 has no code for


@pytest.fixture(scope="module")
def customer_rows(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS customers"))
        customers.fill(conn, ROWS)
        conn.execute(text("INSERT INTO customers (id, name, email, status) VALUES "
                          "(:i, '𠮷野家 太郎', 'yoshinoya@example.jp', 'active')"),
                     {"i": UNWRITABLE_ID})
    yield ROWS
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE customers"))


@pytest.fixture
def live(settings, queue_urls, customer_rows):
    return create_app({"TESTING": True}, settings=settings).test_client()


@pytest.fixture
def mail_dir(tmp_path):
    return tmp_path / "mail"


def submit(client, **params) -> str:
    response = client.post("/api/jobs", headers=OWNER, json={"kind": "export", "params": params})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def download(job: dict) -> bytes:
    response = requests.get(job["result"]["url"], timeout=30)
    assert response.status_code == 200
    return response.content


def mails(folder) -> list:
    return [message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(folder.glob("*.eml"))]


def test_an_export_lands_in_the_bucket_with_its_rows_a_link_and_one_email(
        live, engine, start_worker, mail_dir, settings, queue_urls):
    start_worker(MAIL_DIR=str(mail_dir))
    job_id = submit(live, dataset="customers",
                    filters=[{"column": "id", "op": "lte", "value": ROWS}])
    job = wait_finished(engine, job_id)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    assert job["result"]["rows"] == ROWS and job["done"] == ROWS
    assert job["result"]["key"] == f"exports/{job_id}/customers.csv"
    table = list(csv.reader(io.StringIO(download(job).decode("utf-8"))))
    assert table[0] == ["id", "name", "email", "birth_date", "balance", "status", "notes",
                        "updated_at"]
    assert len(table) == ROWS + 1 and [r[0] for r in table[1:4]] == ["1", "2", "3"]
    by_id = {r[0]: r for r in table[1:]}
    assert by_id["2"][6] == "'=HYPERLINK(\"http://x.example\")"   # neutralised
    assert by_id["1"][6] == "line one\nline two"                    # newline kept in the cell
    assert by_id["5"][6] == 'VIP, prefers "email"'
    assert by_id["1"][1] == "鈴木 太郎"
    assert any(r[4].startswith("-") for r in table[1:])             # numbers are not touched

    fresh = live.get(f"/api/jobs/{job_id}/download", headers=OWNER)
    assert fresh.status_code == 302
    assert requests.get(fresh.headers["Location"], timeout=30).content == download(job)
    assert live.get(f"/api/jobs/{job_id}/download").status_code == 404  # another owner

    wait_for(lambda: mails(mail_dir), 30, "the owner's e-mail")
    (message,) = mails(mail_dir)
    assert message["To"] == "tester@localhost"
    assert "finished" in message["Subject"] and job["result"]["url"] in message.get_content()

    # The same message again (SQS redelivers): nothing runs, no second e-mail.
    Sender(settings, queue_urls).send("export.run", job_id, queue="exports")
    wait_for(lambda: _sent_again_and_drained(settings, queue_urls), 30, "the redelivery")
    assert row(engine, job_id)["attempts"] == 1
    assert len(mails(mail_dir)) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job_notifications WHERE job_id = :j"),
                            {"j": job_id}).scalar() == 1


def _sent_again_and_drained(settings, queue_urls) -> bool:
    return queue_depth(aws.client(settings, "sqs"),
                       queue_urls[settings.queue_name("exports")]) == (0, 0, 0)


def test_gzip_cp932_and_the_unwritable_character_policy(live, engine, start_worker, mail_dir):
    start_worker(MAIL_DIR=str(mail_dir))
    columns = ["id", "name", "notes"]
    some = [{"column": "id", "op": "in", "value": [1, 2, 4, UNWRITABLE_ID]}]
    zipped = submit(live, dataset="customers", columns=columns, filters=some, gzip=True,
                    encoding="cp932", unencodable="replace", neutralize_formulas=False)
    strict = submit(live, dataset="customers", columns=columns, filters=some, encoding="cp932")
    bom = submit(live, dataset="customers", columns=["id", "name"], encoding="utf-8-sig",
                 filters=[{"column": "id", "op": "eq", "value": 1}])

    job = wait_finished(engine, zipped)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    table = list(csv.reader(io.StringIO(gzip.decompress(download(job)).decode("cp932"))))
    assert [r[0] for r in table] == ["id", "1", "2", "4", str(UNWRITABLE_ID)]
    assert table[2][2].startswith("=HYPERLINK")        # neutralisation turned off
    assert table[3][2].startswith("東京都千代田区") and "～" in table[3][2]  # wave dash mapped
    assert table[4][1] == "?野家 太郎"

    job = wait_finished(engine, strict)
    assert job["status"] == lifecycle.FAILED
    assert f"row 4 (id={UNWRITABLE_ID}), column name: '𠮷' (U+20BB7) cannot be written " \
           "in CP932" in job["error"]

    job = wait_finished(engine, bom)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    assert download(job) == "\ufeffid,name\n1,鈴木 太郎\n".encode("utf-8")
    wait_for(lambda: len(mails(mail_dir)) == 3, 30, "three e-mails")
    failed = next(m for m in mails(mail_dir) if "failed" in m["Subject"])
    assert "U+20BB7" in failed.get_content()


def test_bad_export_requests_say_what_to_change(client):
    def error(**params):
        response = client.post("/api/jobs", json={"kind": "export", "params": params})
        assert response.status_code == 422
        return response.get_json()["error"]

    assert error(dataset="salaries")["message"] == "must be one of: customers, jobs"
    assert error(dataset="customers", columns=["id", "password"]) == {
        "field": "params.columns[1]", "message": "'password' is not a column of customers; "
        "one of: id, name, email, birth_date, balance, status, notes, updated_at"}
    assert error(dataset="customers", filters=[{"column": "notes", "op": "eq",
                                                "value": "x"}])["field"] == "params.filters[0].op"
    assert error(dataset="customers", filters=[{"column": "birth_date", "op": "gte",
                                                "value": "1990-13-01"}]) == {
        "field": "params.filters[0].value",
        "message": "'1990-13-01' is not a date (YYYY-MM-DD) (column birth_date)"}
    assert error(dataset="customers", encoding="latin-1")["field"] == "params.encoding"
