"""Realistic customers CSV files: for the tests, the benchmark and trying it out.

Japanese names and headers, emails, dates, numbers, and notes with commas,
quotes and line breaks, as a spreadsheet exports them (CRLF line ends).
"""
from __future__ import annotations

import csv
import random
from typing import IO, Iterator

HEADER = ["顧客コード", "氏名", "フリガナ", "メールアドレス", "生年月日", "性別", "都道府県",
          "電話番号", "ポイント", "残高", "登録日", "備考"]
_FAMILY = [("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"),
           ("田中", "タナカ"), ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("中村", "ナカムラ"),
           ("小林", "コバヤシ"), ("髙木", "タカギ")]
_GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("美咲", "ミサキ"),
          ("健太", "ケンタ"), ("陽菜", "ヒナ"), ("翔", "ショウ"), ("結衣", "ユイ")]
_PREFS = ["東京都", "大阪府", "神奈川県", "愛知県", "北海道", "福岡県", "京都府", "沖縄県"]
_GENDERS = ["男性", "女性", "その他", "回答しない", ""]
_NOTES = ["", "", "", "電話連絡は平日のみ", "請求書は郵送, 担当: 経理部",
          '「至急」と書かれた"重要"書類あり', "住所変更あり\r\n旧住所: 東京都港区",
          "ポイント還元キャンペーン対象（～12/31）"]


def customer_row(n: int, rnd: random.Random) -> list[str]:
    """Customer number ``n`` as the file's fields."""
    (family, fkana), (given, gkana) = rnd.choice(_FAMILY), rnd.choice(_GIVEN)
    return [f"C{n:08d}", f"{family} {given}", f"{fkana} {gkana}", f"user{n}@example.co.jp",
            f"{rnd.randint(1940, 2005)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
            rnd.choice(_GENDERS), rnd.choice(_PREFS),
            f"0{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}-{rnd.randint(1000, 9999)}",
            str(rnd.randint(0, 50000)), f"{rnd.randint(-10000, 1000000)}.{rnd.randint(0, 99):02d}",
            f"20{rnd.randint(10, 25)}/{rnd.randint(1, 12)}/{rnd.randint(1, 28)}",
            rnd.choice(_NOTES)]


def customer_rows(count: int, seed: int = 1, start: int = 1) -> Iterator[list[str]]:
    rnd = random.Random(seed)
    return (customer_row(n, rnd) for n in range(start, start + count))


def write_customers(out: IO[str], count: int, seed: int = 1) -> None:
    """Write a header and ``count`` customers to a text file opened with newline=''."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    rows = customer_rows(count, seed)
    while chunk := [row for _, row in zip(range(10_000), rows)]:
        writer.writerows(chunk)


def customers_csv(count: int, seed: int = 1, encoding: str = "utf-8") -> bytes:
    """A whole customers file in memory (small files, for tests)."""
    import io
    out = io.StringIO(newline="")
    write_customers(out, count, seed)
    return out.getvalue().encode(encoding)


FLIGHTS_HEADER = ["year", "month", "day", "dep_time", "dep_delay", "carrier", "flight",
                  "tailnum", "origin", "dest", "time_hour", "sched_dep"]
_CARRIERS = ["UA", "AA", "B6", "DL", "EV", "MQ", "US", "WN"]
_AIRPORTS = ["EWR", "LGA", "JFK"]
_DESTS = ["IAH", "MIA", "BQN", "ATL", "ORD", "FLL", "IAD", "MCO", "LAX", "SFO"]


def flight_row(n: int, rnd: random.Random) -> list[str]:
    """Flight ``n`` as R writes it: NA where a flight was cancelled or the tail is unknown,
    the scheduled hour as a New York wall-clock time."""
    day = 1 + n // 2000 % 365
    month, mday = _month_day(day)
    hour, minute = 5 + n % 18, rnd.choice((0, 15, 30, 45))
    cancelled = rnd.random() < 0.03
    dep = hour * 100 + minute + rnd.randint(-5, 40)
    return ["2013", str(month), str(mday), "NA" if cancelled else str(max(dep, 0)),
            "NA" if cancelled else f"{rnd.randint(-10, 120)}", rnd.choice(_CARRIERS), str(n),
            "NA" if rnd.random() < 0.02 else f"N{rnd.randint(100, 999)}UA",
            rnd.choice(_AIRPORTS), rnd.choice(_DESTS),
            f"2013-{month:02d}-{mday:02d} {hour:02d}:00:00", f"{hour:02d}:{minute:02d}:00"]


def _month_day(day_of_year: int) -> tuple[int, int]:
    lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    month = 0
    while day_of_year > lengths[month]:
        day_of_year -= lengths[month]
        month += 1
    return month + 1, day_of_year


def write_flights(out: IO[str], count: int, seed: int = 1) -> None:
    """Write a header and ``count`` flights (LF line ends, as R and pandas write them)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FLIGHTS_HEADER)
    rnd = random.Random(seed)
    rows = (flight_row(n, rnd) for n in range(1, count + 1))
    while chunk := [row for _, row in zip(range(10_000), rows)]:
        writer.writerows(chunk)
