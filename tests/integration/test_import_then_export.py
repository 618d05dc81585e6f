"""One spec serves both directions: a customers file imported through the API exports
as the same rows, and before anything is imported the export fails with one sentence."""
from __future__ import annotations

import csv
import io

import pytest
import requests

from core import aws, lifecycle
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
