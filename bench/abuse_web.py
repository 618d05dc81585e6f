"""What the web app takes from users: JSON bodies, export filters, sign-in.

Requests go through the Flask test client of ``webapp.create_app`` (a
``MemoryEnqueuer``, a scratch PostgreSQL), as tests/conftest.py builds it;
export filters are checked with the functions the API calls, and their query
is run on the (empty) tables of the scratch database.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from functools import partial

from flask import Flask
from sqlalchemy import select, text

from bench.abuse_measure import AFTER_FORK, Case
from core import exports
from core.datasets import spec_named
from core.enqueue import MemoryEnqueuer
from core.exportspecs import load_export_spec
from core.settings import Settings
from store import accounts
from store.db import connect
from store.models import User
from webapp import create_app
from webapp.extensions import db

USER, PASSWORD = "abuse", "the abuse bench's password"


@dataclass(frozen=True)
class Web:
    """The app under test and who may use it."""

    app: Flask
    database_url: str
    token: str


def start(database_url: str, token: str) -> Web:
    """The app on ``database_url``, its sign-in account, the customers table (empty)."""
    app = create_app({"TESTING": True}, settings=Settings(database_url=database_url,
                                                          relay_interval=0),
                     enqueuer=MemoryEnqueuer())
    with app.app_context():
        if db.session.scalar(select(User.id).where(User.username == USER)) is None:
            accounts.create_user(db.session, USER, f"{USER}@localhost", PASSWORD)
        db.session.execute(text(spec_named("customers").create_table_sql()))
        db.session.commit()
        AFTER_FORK.append(partial(_fresh_pools, app))
    return Web(app, database_url, token)


def _fresh_pools(app: Flask) -> None:
    """A forked child opens connections of its own, leaving the parent's alone."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


# -- JSON bodies: POST /api/jobs

def post_job(web: Web, body: bytes) -> dict:
    client = web.app.test_client()
    answer = client.post("/api/jobs", data=body, headers={
        "Authorization": f"Bearer {web.token}", "Content-Type": "application/json"})
    text = answer.get_data(as_text=True)
    return {"outcome": f"HTTP {answer.status_code}: {text[:100]}", "status": answer.status_code,
            "body_bytes": len(body), "response_bytes": len(text.encode())}


def _canary(params: str) -> bytes:
    return ('{"kind": "canary", "params": ' + params + "}").encode()


def fit(make, n: int) -> bytes:
    """``make(count)`` with the largest count that keeps it within n bytes."""
    count = max(1, n // 16)
    for _ in range(3):  # a body's size is nearly proportional to its count
        count = max(1, int(count * n / len(make(count))))
    while count > 1 and len(make(count)) > n:
        count -= max(1, count // 1000)
    return make(count)


BODIES = {
    "arrays nested n/2 deep": lambda k: _canary("[" * k + "]" * k),
    "objects nested 900 deep, keys of n/900 chars (the NUL scan's paths)":
        lambda k: _canary(f'{{"{"k" * k}": ' * 900 + "1" + "}" * 900),
    "n/12 keys": lambda k: json.dumps({"kind": "canary", "params": {
        f"k{i}": 0 for i in range(k)}}).encode(),
    "one string of n chars ending in NUL": lambda k: json.dumps({"kind": "canary", "params": {
        "s": "x" * k + "\0"}}).encode(),
    "n/5 one-char strings in a list": lambda k: json.dumps({"kind": "canary", "params": {
        "s": ["x"] * k}}).encode(),
    "n/5 strings, NUL in the last": lambda k: json.dumps({"kind": "canary", "params": {
        "s": ["x"] * k + ["\0"]}}).encode(),
}


def pdf_rows(count: int) -> bytes:
    rows = [{"name": f"山田 太郎{i}", "address": "東京都港区芝公園1-1-1", "amount": i}
            for i in range(count)]
    return json.dumps({"kind": "pdf_batch", "params": {"template": "letter", "rows": rows}},
                      ensure_ascii=False).encode()


def pdf_rows_body(n: int) -> bytes:
    """An ordinary request of n bytes: a PDF batch with inline recipients."""
    return fit(pdf_rows, n)


def json_cases(web: Web, quick: bool) -> list[Case]:
    def build(make):
        return lambda n: partial(post_job, web, fit(make, n))

    top = web.app.config["MAX_CONTENT_LENGTH"]
    sizes = (top // 8, top // 4) if quick else (top // 2, top)
    ordinary = build(pdf_rows)
    return [Case("JSON bodies", name, build(make), ordinary, sizes)
            for name, make in BODIES.items()]


# -- export filters: core/exports.py validate, then select_sql on an empty table

def export(database_url: str, params: dict) -> dict:
    """Validate as POST /api/jobs does, build the query as the worker does, run it."""
    began = time.perf_counter()
    checked = exports.validate(params)
    spec = load_export_spec(checked["dataset"])
    query, values = exports.select_sql(spec, checked["columns"],
                                       exports.parse_filters(spec, checked["filters"]), True)
    validated = time.perf_counter() - began
    with connect(database_url) as conn:
        rows = len(conn.execute(query, values).fetchall())
    return {"outcome": f"query ran: {rows} rows", "validate_seconds": round(validated, 6)}


def _filters(dataset: str, filters: list[dict]) -> dict:
    return {"dataset": dataset, "filters": filters}


EXPORTS = {
    "20 'in' filters of 1,000 owners of n/20,000 chars":
        lambda n: _filters("jobs", [{"column": "owner", "op": "in", "value": [
            "o" * max(1, n // 20_000 - 3)] * exports.MAX_IN_VALUES}] * exports.MAX_FILTERS),
    "20 'like' filters '%a%a…' of n/20 chars":
        lambda n: _filters("jobs", [{"column": "owner", "op": "like",
                                     "value": "%a" * (n // 40)}] * exports.MAX_FILTERS),
    "a numeric 'gte' of n digits":
        lambda n: _filters("customers", [{"column": "balance", "op": "gte", "value": "1" * n}]),
    "a date 'eq' of n characters":
        lambda n: _filters("customers", [{"column": "birth_date", "op": "eq",
                                          "value": "2020-01-01" + "0" * (n - 10)}]),
}


def ordinary_filters(n: int) -> dict:
    """20 'in' filters of job ids adding up to n bytes."""
    per = max(1, min(exports.MAX_IN_VALUES, n // 20 // 40))
    return _filters("jobs", [{"column": "id", "op": "in",
                              "value": [str(uuid.uuid4()) for _ in range(per)]}] * 20)


def export_cases(web: Web, quick: bool) -> list[Case]:
    def build(make):
        return lambda n: partial(export, web.database_url, make(n))

    sizes = (64 << 10, 128 << 10) if quick else (256 << 10, 512 << 10)
    ordinary = build(ordinary_filters)
    return [Case("export filters", name, build(make), ordinary, sizes)
            for name, make in EXPORTS.items()]


# -- sign-in: POST /login

def csrf_token(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def sign_in(web: Web, form: dict) -> dict:
    client = web.app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={**form, "csrf_token": token})
    return {"outcome": f"HTTP {answer.status_code}", "status": answer.status_code}


def _padded(form: dict, n: int) -> dict:
    """``form`` with a field no one reads making the body n bytes."""
    return {**form, "pad": "p" * max(0, n - sum(len(k) + len(v) + 2 for k, v in form.items()))}


SIGN_INS = {
    "a wrong password of n chars": lambda n: {"username": USER, "password": "p" * n},
    "an unknown user name of n chars": lambda n: {"username": "u" * n, "password": "wrong one"},
}


def signin_cases(web: Web, quick: bool) -> list[Case]:
    def build(make):
        return lambda n: partial(sign_in, web, make(n))

    ordinary = build(lambda n: _padded({"username": USER, "password": "a wrong password"}, n))
    sizes = (100_000, 200_000)
    return [Case("sign-in", name, build(make), ordinary, sizes, "chars",
                 note="ordinary: a 16-character wrong password, the body padded to the same size")
            for name, make in SIGN_INS.items()]


def rapid_attempts(web: Web, attempts: int = 50) -> dict:
    """``attempts`` wrong passwords for one account, back to back: how many were
    refused with 429, and what each cost."""
    client = web.app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    times, statuses = [], []
    for n in range(attempts):
        began = time.perf_counter()
        answer = client.post("/login", data={"username": USER, "password": f"wrong {n}",
                                             "csrf_token": token})
        times.append(time.perf_counter() - began)
        statuses.append(answer.status_code)
    ordered = sorted(times)
    return {"outcome": f"{statuses.count(429)} of {attempts} answered 429",
            "attempts": attempts, "answered_429": statuses.count(429),
            "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "median_seconds_per_attempt": round(ordered[len(ordered) // 2], 4),
            "total_seconds": round(sum(times), 3)}
