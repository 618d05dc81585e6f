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
from tasks.imports.validate import BatchValidator
from tests.support.accounts import bearer
from tests.support.jobs import Sender, queue_depth, row, wait_finished

OWNER = bearer("tester")
ROWS = 3000
UNWRITABLE = "C0900001"  # its name holds a character CP932 has no code for
GENERATED_UNTIL = "2025-12-31"  # registered_on of every generated row is before it
COLUMNS = ["customer_code", "name", "name_kana", "email", "birth_date", "gender", "prefecture",
           "phone", "points", "balance", "registered_on", "note"]


@pytest.fixture(scope="module")
def customer_rows(engine):
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS customers"))
        customers.fill(conn, ROWS)
        conn.execute(text("INSERT INTO customers (customer_code, name, email, registered_on) "
                          "VALUES (:c, '𠮷野家 太郎', 'yoshinoya@example.jp', '2026-11-20')"),
                     {"c": UNWRITABLE})
    yield ROWS
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE customers"))


@pytest.fixture
def live(live_client, customer_rows):
    return live_client


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
    job_id = submit(live, dataset="customers", filters=[
        {"column": "registered_on", "op": "lte", "value": GENERATED_UNTIL}])
    job = wait_finished(engine, job_id)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    assert job["result"]["rows"] == ROWS and job["done"] == ROWS
    assert job["result"]["key"] == f"exports/{job_id}/customers.csv"
    table = list(csv.reader(io.StringIO(download(job).decode("utf-8"))))
    assert table[0] == COLUMNS  # the import spec's columns, in its order
    assert len(table) == ROWS + 1
    assert [r[0] for r in table[1:4]] == ["C0000001", "C0000002", "C0000003"]
    by_code = {r[0]: dict(zip(COLUMNS, r)) for r in table[1:]}
    assert by_code["C0000002"]["note"] == "'=HYPERLINK(\"http://x.example\")"  # neutralised
    assert by_code["C0000001"]["note"] == "住所変更あり\n旧住所: 東京都港区"  # newline kept
    assert by_code["C0000005"]["note"] == 'VIP, prefers "email"'
    assert by_code["C0000003"]["note"] == ""                             # NULL
    assert by_code["C0000001"]["name"] == "鈴木 太郎"
    assert by_code["C0000001"]["name_kana"] == "スズキ タロウ"
    assert any(r[9].startswith("-") for r in table[1:])  # numbers are not touched
    # The generated rows are what an import would accept: the file imports as it is.
    problems = []
    _, bad = BatchValidator(customers.spec(), table[0]).check(
        table[1:], list(range(2, ROWS + 2)), lambda *problem: problems.append(problem))
    assert (bad, problems[:3]) == (0, [])

    fresh = live.get(f"/api/jobs/{job_id}/download", headers=OWNER)
    assert fresh.status_code == 302
    assert requests.get(fresh.headers["Location"], timeout=30).content == download(job)
    assert live.get(f"/api/jobs/{job_id}/download").status_code == 404  # another owner

    wait_for(lambda: mails(mail_dir), 30, "the owner's e-mail")
    (message,) = mails(mail_dir)
    assert message["To"] == "tester@example.com"  # the owner's account address
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
    columns = ["customer_code", "name", "note"]
    codes = [customers.code(1), customers.code(2), customers.code(4), UNWRITABLE]
    some = [{"column": "customer_code", "op": "in", "value": codes}]
    zipped = submit(live, dataset="customers", columns=columns, filters=some, gzip=True,
                    encoding="cp932", unencodable="replace", neutralize_formulas=False)
    strict = submit(live, dataset="customers", columns=columns, filters=some, encoding="cp932")
    bom = submit(live, dataset="customers", columns=["customer_code", "name"],
                 encoding="utf-8-sig",
                 filters=[{"column": "customer_code", "op": "eq", "value": "C0000001"}])

    job = wait_finished(engine, zipped)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    table = list(csv.reader(io.StringIO(gzip.decompress(download(job)).decode("cp932"))))
    assert [r[0] for r in table] == ["customer_code", *codes]
    assert table[2][2].startswith("=HYPERLINK")        # neutralisation turned off
    assert table[3][2].startswith("東京都千代田区") and "～" in table[3][2]  # wave dash mapped
    assert table[4][1] == "?野家 太郎"

    job = wait_finished(engine, strict)
    assert job["status"] == lifecycle.FAILED
    assert f"row 4 (customer_code={UNWRITABLE}), column name: '𠮷' (U+20BB7) cannot be " \
           "written in CP932" in job["error"]

    job = wait_finished(engine, bom)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    assert download(job) == "\ufeffcustomer_code,name\nC0000001,鈴木 太郎\n".encode("utf-8")
    wait_for(lambda: len(mails(mail_dir)) == 3, 30, "three e-mails")
    failed = next(m for m in mails(mail_dir) if "failed" in m["Subject"])
    assert "U+20BB7" in failed.get_content()


def test_bad_export_requests_say_what_to_change(client):
    def error(**params):
        response = client.post("/api/jobs", json={"kind": "export", "params": params})
        assert response.status_code == 422
        return response.get_json()["error"]

    assert error(dataset="salaries")["message"] == "must be one of: customers, flights, jobs"
    assert error(dataset="customers", columns=["customer_code", "password"]) == {
        "field": "params.columns[1]", "message": "'password' is not a column of customers; "
        f"one of: {', '.join(COLUMNS)}"}
    assert error(dataset="customers", filters=[{"column": "note", "op": "gte",
                                                "value": "x"}])["field"] == "params.filters[0].op"
    assert error(dataset="customers", filters=[{"column": "birth_date", "op": "gte",
                                                "value": "1990-13-01"}]) == {
        "field": "params.filters[0].value",
        "message": "'1990-13-01' is not a date (YYYY-MM-DD) (column birth_date)"}
    assert error(dataset="customers", encoding="latin-1")["field"] == "params.encoding"
