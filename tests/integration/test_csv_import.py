"""CSV imports end to end: presigned upload → bucket notification → handler → SQS →
real worker → PostgreSQL; the API path; re-import; SIGKILL; the concurrency limit."""
from __future__ import annotations

import json
import signal

import psycopg
import pytest
import requests
from sqlalchemy import text

from core import provision
from core.datasets import spec_named
from lambdas import local
from stack.services import wait_for
from tasks.imports import loading, samples, slots
from tasks.imports.reading import FileProblem
from tests.support.jobs import row, wait_finished, wait_status
from tests.support.uploads import OWNER, object_event, upload
from webapp import create_app


@pytest.fixture
def live(live_client, clean_imports):
    return live_client


def notifications(settings, sqs):
    """Run the local notification loop until it has handled one message."""
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    return wait_for(lambda: local.run_once(settings, sqs, url, wait=1), 30,
                    "an upload notification")


def customers(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT customer_code, name, note FROM customers "
                                 "ORDER BY customer_code")).all()


def import_jobs(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT * FROM jobs WHERE kind = 'csv_import' ORDER BY created_at")).mappings()]


def test_an_upload_imports_through_its_notification_with_no_api_call_after_it(
        live, engine, settings, sqs, start_worker):
    start_worker("w1")
    upload(live, samples.customers_csv(300, encoding="cp932"))
    notifications(settings, sqs)
    job = wait_finished(engine, str(wait_for(lambda: import_jobs(engine), 10, "a job")[0]["id"]))
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["rows_written"] == 300 and job["result"]["encoding"] == "cp932"
    assert (job["done"], job["total"]) == (300, 300)
    rows = customers(engine)
    assert len(rows) == 300 and rows[0][0] == "C00000001"
    assert any("\r\n" in (note or "") for _, _, note in rows)  # a line break inside quotes


def test_a_redelivered_notification_makes_no_second_job(live, engine, settings, sqs):
    key = upload(live, samples.customers_csv(5))
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    message = wait_for(lambda: object_event(sqs, url), 30, "the notification")
    event = json.loads(message["Body"])
    assert event["Records"][0]["s3"]["object"]["key"].endswith(".csv")
    for _ in range(2):  # the notification arrives twice
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert wait_for(lambda: local.run_once(settings, sqs, url, wait=1), 30, "messages")
    local.run_once(settings, sqs, url, wait=1)
    # The client's own "upload complete" call finds the same job too.
    answer = live.post("/api/imports", headers=OWNER, json={"key": key})
    assert answer.status_code == 202 and answer.headers["Idempotent-Replayed"] == "true"
    assert len(import_jobs(engine)) == 1


def test_the_api_path_imports_and_reimporting_the_same_file_writes_nothing(
        live, engine, start_worker):
    start_worker("w1")
    data = samples.customers_csv(200)
    results = []
    for _ in range(2):
        key = upload(live, data)
        answer = live.post("/api/imports", headers=OWNER, json={"key": key})
        assert answer.status_code == 202, answer.get_json()
        job = wait_finished(engine, answer.get_json()["id"])
        assert job["status"] == "succeeded", job["error"]
        results.append(job["result"])
    assert [r["rows_written"] for r in results] == [200, 0]
    assert [r["load"] for r in results] == ["copy", "upsert"]
    changed = data.replace("C00000007,".encode(), "C00000007,".encode()).replace(
        b"user7@example", b"seven@example")
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER, data=changed)
    job = wait_finished(engine, answer.get_json()["id"])
    assert job["result"]["rows_written"] == 1 and len(customers(engine)) == 200


def test_three_bad_rows_import_nothing_and_the_report_names_them(live, engine, start_worker):
    start_worker("w1")
    rows = [samples.HEADER] + [r[:11] + [""] for r in samples.customer_rows(20)]
    rows[3][3] = "user3-at-example"     # line 4
    rows[9][0] = "C 9"                  # line 10
    rows[15] = rows[15][:3]             # line 16: too few fields
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                       data="\r\n".join(map(",".join, rows)).encode())
    assert answer.status_code == 202, answer.get_json()
    job = wait_finished(engine, answer.get_json()["id"])
    assert job["status"] == "failed" and "3 of 20 rows have problems" in job["error"]
    assert "nothing was imported" in job["error"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM customers")).scalar() == 0
    link = live.get(f"/api/jobs/{job['id']}/errors.csv", headers=OWNER)
    assert link.status_code == 302
    report = requests.get(link.headers["Location"], timeout=10).content.decode("utf-8-sig")
    assert [r.split(",")[:2] for r in report.splitlines()[1:]] == [
        ["4", "メールアドレス"], ["10", "顧客コード"], ["16", ""]]


def test_up_to_n_bad_rows_may_be_accepted(live, engine, start_worker):
    start_worker("w1")
    lines = samples.customers_csv(10).decode().split("\r\n")
    lines[2] = lines[2].replace("@example.co.jp", "@")
    answer = live.post("/api/imports/direct?dataset=customers&max_bad_rows=1", headers=OWNER,
                       data="\r\n".join(lines).encode())
    job = wait_finished(engine, answer.get_json()["id"])
    assert job["status"] == "partially_failed", job["error"]
    assert (job["done"], job["failed"]) == (9, 1) and len(customers(engine)) == 9


@pytest.mark.settings(import_max_problems=5)
def test_an_import_stops_reading_at_its_problem_cap_naming_the_line(live, engine, start_worker):
    start_worker("w1")
    rows = [samples.HEADER] + [r[:11] + [""] for r in samples.customer_rows(50)]
    for row in rows[2:]:  # every row from line 3 on has one bad e-mail address
        row[3] = "user-at-example"
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                       data="\r\n".join(map(",".join, rows)).encode())
    job = wait_finished(engine, answer.get_json()["id"])
    assert job["status"] == "failed"
    assert job["error"] == (
        "stopped reading at line 8: the file has more than 5 problems (IMPORT_MAX_PROBLEMS); "
        f"the error report lists the first 5 (GET /api/jobs/{job['id']}/errors.csv)")
    link = live.get(f"/api/jobs/{job['id']}/errors.csv", headers=OWNER)
    report = requests.get(link.headers["Location"], timeout=10).content.decode("utf-8-sig")
    assert [r.split(",")[0] for r in report.splitlines()[1:]] == ["3", "4", "5", "6", "7"]
    assert len(customers(engine)) == 0


def test_a_direct_post_over_the_limit_is_refused_with_the_way_round(live, settings):
    app = create_app({"TESTING": True}, settings=settings.__class__(
        **{**settings.__dict__, "import_direct_max_bytes": 1000}))
    answer = app.test_client().post("/api/imports/direct?dataset=customers", headers=OWNER,
                                    data=samples.customers_csv(50))
    assert answer.status_code == 413
    assert "POST /api/imports/uploads" in answer.get_json()["error"]["message"]


SLOW_TRIGGER = """
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION slow_row();
"""


def _slow_customers(engine) -> None:
    """The table exists and each row takes 20 ms to insert."""
    with engine.begin() as conn:
        conn.execute(text(spec_named("customers").create_table_sql()))
        conn.execute(text("DROP FUNCTION IF EXISTS slow_row() CASCADE"))
        conn.exec_driver_sql(SLOW_TRIGGER)


@pytest.mark.settings(visibility=6)
def test_an_import_longer_than_the_visibility_timeout_runs_once(live, engine, start_worker):
    _slow_customers(engine)
    start_worker("w1")
    start_worker("w2")
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                       data=samples.customers_csv(450))  # about 9 s of inserts
    job = wait_finished(engine, answer.get_json()["id"], timeout=90)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 1 and len(customers(engine)) == 450
    assert (job["finished_at"] - job["started_at"]).total_seconds() > 6


@pytest.mark.settings(visibility=6)
def test_a_worker_killed_mid_import_leaves_exactly_one_import_after_the_retry(
        live, engine, settings, start_worker):
    data = samples.customers_csv(400)
    _slow_customers(engine)
    first = start_worker("w1")
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER, data=data)
    job_id = answer.get_json()["id"]
    wait_for(lambda: _copying(engine), 30, "the import to be loading rows")
    first.signal(signal.SIGKILL)
    with engine.begin() as conn:
        conn.execute(text("DROP FUNCTION slow_row() CASCADE"))
    start_worker("w2")
    job = wait_finished(engine, job_id, timeout=90)
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2
    rows = customers(engine)
    assert len(rows) == 400 and len({r[0] for r in rows}) == 400


def _copying(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text(  # this test's database only: others may be loading too
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'COPY%customers%' AND state = 'active'")).scalar() > 0


HOLD = 0x4A53_7E57  # an advisory lock the test holds; the trigger waits for it
HELD_TRIGGER = f"""
CREATE OR REPLACE FUNCTION held_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NEW; END $$;
CREATE TRIGGER held BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION held_row();
"""


def _waiting_copy(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'COPY%customers%' AND wait_event_type = 'Lock'")).scalar() > 0


def test_an_import_cancelled_while_it_loads_ends_cancelled_and_writes_nothing(
        live, engine, settings, start_worker):
    with engine.begin() as conn:
        conn.execute(text(spec_named("customers").create_table_sql()))
        conn.exec_driver_sql(HELD_TRIGGER)
    holder = psycopg.connect(settings.database_url.replace("+psycopg", ""), autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (HOLD,))  # the first row waits
        start_worker("w1")
        answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                           data=samples.customers_csv(2000))
        job_id = answer.get_json()["id"]
        wait_for(lambda: _waiting_copy(engine), 30, "the import to be loading its first row")
        cancel = live.post(f"/api/jobs/{job_id}/cancel", headers=OWNER)
        assert cancel.status_code == 202 and cancel.get_json()["cancel_requested"] is True
        holder.close()  # the rows go on: every one is in the table before any commit
        job = wait_finished(engine, job_id, timeout=60)
        assert (job["status"], job["error"]) == ("cancelled", "cancelled by its owner")
        assert customers(engine) == []
    finally:
        holder.close()
        with engine.begin() as conn:
            conn.execute(text("DROP FUNCTION held_row() CASCADE"))


@pytest.mark.settings(import_concurrency=1, import_wait_seconds=1)
def test_an_import_waits_for_a_free_slot_and_says_so(live, engine, settings, start_worker):
    start_worker("w1")
    holder = psycopg.connect(settings.database_url.replace("+psycopg", ""), autocommit=True)
    try:
        assert slots.take(holder, 1) == 0  # another import holds the only slot
        answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                           data=samples.customers_csv(10))
        job_id = answer.get_json()["id"]
        waiting = wait_for(lambda: "waiting for an import slot" in (row(engine, job_id)["error"]
                                                                   or "") and row(engine, job_id),
                           30, "the import to say it waits")
        assert waiting["status"] in ("queued", "running")
        assert "1 import(s) already run" in waiting["error"]
    finally:
        holder.close()  # the slot frees with its session, as when a worker dies
    job = wait_status(engine, job_id, "succeeded", timeout=60)
    assert job["error"] is None and len(customers(engine)) == 10


def _load(settings, chunks: list[str], group_chunks: int = 1):
    spec = spec_named("customers")
    with psycopg.connect(settings.database_url.replace("+psycopg", ""), autocommit=True) as conn:
        return loading.load(conn, spec, ["customer_code", "name", "email", "registered_on"],
                            chunks, commit=lambda: True, group_chunks=group_chunks)


def test_a_key_twice_in_a_file_fails_the_import_on_both_load_paths(settings, clean_imports,
                                                                  engine):
    first, again = "C1,山田,a@example.jp,2024-01-01\n", "C1,山田,b@example.jp,2024-01-01\n"
    with pytest.raises(FileProblem, match=r"the key \(customer_code\)=\(C1\) appears on more"):
        _load(settings, [first, again])  # into the empty table
    assert _load(settings, [first]).path == "copy"
    with pytest.raises(FileProblem, match="customer_code appears on more than one line"):
        _load(settings, ["C2,佐藤,c@example.jp,2024-01-01\n" + again + again.replace("b@", "c@")])
    with pytest.raises(FileProblem, match="customer_code appears on more than one line"):
        _load(settings, ["C2,佐藤,c@example.jp,2024-01-01\n", again, first])  # across groups
    loaded = _load(settings, ["C2,佐藤,c@example.jp,2024-01-01\n", first, first])
    assert (loaded.path, loaded.written) == ("upsert", 1)  # the same row twice is harmless
    assert [r[0] for r in customers(engine)] == ["C1", "C2"]
