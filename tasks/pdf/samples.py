"""Sample data for the shipped templates: the tests', the benchmark's and the docs' example."""
from __future__ import annotations

STATEMENT = {
    "name": "山田 太郎",
    "address": "東京都新宿区西新宿2-8-1",
    "invoice_number": "INV-2026-00042",
    "issue_date": "2026年11月30日",
    "due_date": "2026年12月31日",
    "items": [
        {"description": "ウェブサイト保守（11月分）", "quantity": 1, "unit_price": 50000},
        {"description": "サーバー利用料", "quantity": 1, "unit_price": 12000},
        {"description": "追加作業（時間）", "quantity": 3, "unit_price": 8000},
    ],
}

LETTER = {
    "name": "佐藤 花子",
    "date": "2026年11月30日",
    "subject": "サービス料金改定のお知らせ",
    "body": "拝啓 時下ますますご清栄のこととお慶び申し上げます。\n\n"
            "さて、このたび弊社サービスの料金を改定させていただくことになりました。"
            "何卒ご理解賜りますようお願い申し上げます。",
}


def statement(n: int) -> dict:
    """The sample statement for recipient number ``n`` (distinct name and number)."""
    return {**STATEMENT, "name": f"山田 太郎{n}", "invoice_number": f"INV-2026-{n:05d}"}
