"""A filled ``customers`` table for tests, benchmarks and the local run.

The table is the one the ``customers`` import spec (``datasets/customers.toml``)
declares, created with its own DDL, so what these rows look like is what an
import writes. One SQL statement fills it with realistic rows that pass the
spec's checks: codes ``C0000001``…, Japanese names and their kana, emails,
birth dates, genders from the spec's choices, prefectures, phone numbers,
points, balances (some negative), registration dates, and notes holding
commas, quotes, line breaks, a formula, a wave dash ``〜`` or nothing at all.
"""
from __future__ import annotations

from sqlalchemy import text

from core.datasets import DatasetSpec, spec_named

DATASET = "customers"

FILL = """
INSERT INTO {table} (customer_code, name, name_kana, email, birth_date, gender, prefecture,
                     phone, points, balance, registered_on, note)
SELECT 'C' || lpad(CAST(g AS text), greatest(7, length(CAST(g AS text))), '0'),
       (ARRAY['佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','髙橋'])[f]
         || ' ' || (ARRAY['太郎','花子','一郎','美咲','健太','さくら','翔','陽菜','蓮','結衣'])[n],
       (ARRAY['サトウ','スズキ','タカハシ','タナカ','イトウ','ワタナベ','ヤマモト','ナカムラ',
              'コバヤシ','タカハシ'])[f]
         || ' ' || (ARRAY['タロウ','ハナコ','イチロウ','ミサキ','ケンタ','サクラ','ショウ','ヒナ',
                          'レン','ユイ'])[n],
       'customer' || g || '@example.jp',
       CASE WHEN g % 11 = 0 THEN NULL ELSE DATE '1940-01-01' + CAST(g * 37 % 23000 AS int) END,
       CASE WHEN g % 7 = 0 THEN NULL
            ELSE (CAST(:genders AS text[]))[1 + g % cardinality(CAST(:genders AS text[]))] END,
       (ARRAY['東京都','大阪府','神奈川県','愛知県','北海道','福岡県','京都府','沖縄県',
              '宮城県','広島県'])[1 + g * 7 % 10],
       CASE WHEN g % 13 = 0 THEN NULL
            ELSE '0' || (10 + g % 89) || '-' || lpad(CAST(g * 7919 % 10000 AS text), 4, '0')
                 || '-' || lpad(CAST(g % 10000 AS text), 4, '0') END,
       g * 7919 % 50001,
       round((g * 7919 % 2000000 - 500000) / 100.0, 2),
       DATE '2015-01-01' + CAST(g * 13 % 4000 AS int),
       CASE g % 5
         WHEN 0 THEN 'VIP, prefers "email"'
         WHEN 1 THEN E'住所変更あり\\n旧住所: 東京都港区'
         WHEN 2 THEN '=HYPERLINK("http://x.example")'
         WHEN 3 THEN NULL
         ELSE '東京都千代田区 1-2-3, 〜12/31 キャンペーン対象 ' || g END
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g,
     LATERAL (SELECT 1 + g % 10 AS f, 1 + g / 10 % 10 AS n) AS pick
ON CONFLICT ({key}) DO NOTHING"""


def spec() -> DatasetSpec:
    """The import spec the table comes from."""
    return spec_named(DATASET)


def create(conn) -> None:
    """Create the table if it is missing (``conn``: a SQLAlchemy connection)."""
    conn.execute(text(spec().create_table_sql()))


def fill(conn, count: int, first: int = 1) -> None:
    """Add ``count`` generated customers, numbered from ``first`` (code ``C0000001`` is 1)."""
    dataset = spec()
    conn.execute(text(dataset.create_table_sql()))
    statement = FILL.format(table=dataset.table, key=", ".join(dataset.key))
    conn.execute(text(statement), {"first": first, "last": first + count - 1,
                                   "genders": list(dataset.column("gender").choices)})


def code(number: int) -> str:
    """The customer code of generated customer ``number``."""
    return f"C{number:07d}"
