"""A sample ``customers`` table for tests, benchmarks and the local run.

The real table comes with the imports' migration; until then this creates one
of the same shape and fills it with realistic rows in one SQL statement
(Japanese names, negative balances, notes with commas, quotes, newlines and
the odd formula).
"""
from __future__ import annotations

from sqlalchemy import text

DDL = """
CREATE TABLE IF NOT EXISTS customers (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL,
    birth_date date,
    balance numeric(12, 2) NOT NULL DEFAULT 0,
    status text NOT NULL,
    notes text,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""

FILL = """
INSERT INTO customers (id, name, email, birth_date, balance, status, notes, updated_at)
SELECT g,
       (ARRAY['佐藤','鈴木','高橋','田中','伊藤','渡辺','山本','中村','小林','髙橋'])[1 + g % 10]
         || ' ' || (ARRAY['太郎','花子','一郎','美咲','健太','さくら','翔','陽菜','蓮','結衣'])[1 + (g / 10) % 10],
       'customer' || g || '@example.jp',
       DATE '1950-01-01' + CAST(g * 37 % 20000 AS int),
       round(((g * 7919) % 2000000 - 500000) / 100.0, 2),
       (ARRAY['active','dormant','closed'])[1 + g % 3],
       CASE g % 5
         WHEN 0 THEN 'VIP, prefers "email"'
         WHEN 1 THEN E'line one\\nline two'
         WHEN 2 THEN '=HYPERLINK("http://x.example")'
         WHEN 3 THEN NULL
         ELSE '東京都千代田区 1-2-3, 〜 note ' || g END,
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 minute'
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
ON CONFLICT (id) DO NOTHING"""


def create(conn) -> None:
    """Create the table if it is missing (``conn``: a SQLAlchemy connection)."""
    conn.execute(text(DDL))


def fill(conn, count: int, first: int = 1) -> None:
    """Add ``count`` generated customers with ids from ``first``."""
    create(conn)
    conn.execute(text(FILL), {"first": first, "last": first + count - 1})
