"""The last hour from the job rows (PostgreSQL): queue wait p50/p95 and jobs per minute by
outcome, per kind, for operators only, as JSON and as charts on the operator page."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from store import jobstats
from tests.support.accounts import bearer, sign_in_session
from tests.support.jobs import finished_job

NOW = datetime(2026, 12, 3, 7, 30, 0, tzinfo=timezone.utc)


def at(minutes_ago: float, seconds: float = 0) -> datetime:
    return NOW - timedelta(minutes=minutes_ago) + timedelta(seconds=seconds)


@pytest.fixture
def hour(engine, clean_db):
    """Exports that waited 1..10 s, finished 5 minutes ago; two failed canaries a minute
    ago, one of which never started; and jobs outside the hour or not finished."""
    for n in range(1, 11):
        finished_job(engine, "export", "succeeded", at(5, n), wait=float(n))
    finished_job(engine, "canary", "failed", at(1, 10), wait=2.0)
    finished_job(engine, "canary", "cancelled", at(1, 20), wait=None)
    finished_job(engine, "export", "succeeded", at(61), wait=100.0)   # before the hour
    finished_job(engine, "export", "succeeded", at(-1), wait=100.0)   # after "now"
    with engine.begin() as conn:  # still running: no finish, no count
        conn.execute(text("INSERT INTO jobs (id, kind, owner, status, started_at) "
                          "VALUES (:id, 'export', 'tester', 'running', :s)"),
                     {"id": str(uuid.uuid4()), "s": at(2)})


def test_one_statement_gives_percentiles_and_outcomes_per_kind_and_minute(engine, hour):
    with Session(engine) as session:
        found = jobstats.recent(session, NOW, 60)
    kinds = {k["kind"]: k for k in found["kinds"]}
    assert set(kinds) == {"canary", "export"}
    export = kinds["export"]
    assert export["jobs"] == 10 and export["outcomes"] == {"succeeded": 10}
    # percentile_cont over 1..10: p50 = 5.5, p95 = 9.55
    assert (export["wait_p50"], export["wait_p95"]) == (5.5, 9.55)
    assert [m["minute"] for m in export["per_minute"]] == [at(5).isoformat()]
    canary = kinds["canary"]
    assert canary["outcomes"] == {"cancelled": 1, "failed": 1}
    assert canary["wait_p50"] == 2.0, "a job that never ran has no queue wait"
    (minute,) = canary["per_minute"]
    assert minute["jobs"] == 2 and minute["outcomes"] == {"cancelled": 1, "failed": 1}


def test_a_shorter_window_leaves_out_what_finished_before_it(engine, hour):
    with Session(engine) as session:
        found = jobstats.recent(session, NOW, 2)
    assert [k["kind"] for k in found["kinds"]] == ["canary"]
    assert found["since"] == at(2).isoformat()


@pytest.fixture
def ops(app):
    browser = app.test_client()
    browser.csrf = sign_in_session(browser, "ops")
    return browser


def test_users_may_not_read_the_operator_metrics(app, anonymous):
    assert app.test_client().get("/api/operator/metrics",
                                 headers=bearer("alice")).status_code == 403
    assert anonymous.get("/api/operator/metrics").status_code == 401


def test_operators_read_the_last_hour_as_json(app, engine, clean_db):
    finished_job(engine, "export", "succeeded", datetime.now(timezone.utc), wait=3.0)
    answer = app.test_client().get("/api/operator/metrics", headers=bearer("ops"))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["minutes"] == 60
    (export,) = body["kinds"]
    assert (export["kind"], export["jobs"], export["wait_p95"]) == ("export", 1, 3.0)


@pytest.mark.parametrize("minutes", ["0", "1441", "an hour", "1e3"])
def test_a_window_outside_a_day_is_refused_naming_its_bounds(app, minutes):
    answer = app.test_client().get(f"/api/operator/metrics?minutes={minutes}",
                                   headers=bearer("ops"))
    assert answer.status_code == 400
    assert "1 and 1440" in answer.get_json()["error"]["message"]


def test_the_operator_page_draws_wait_and_outcome_charts_per_kind(ops, engine, clean_db,
                                                                   queue_urls):
    now = datetime.now(timezone.utc)
    for n in range(3):
        finished_job(engine, "export", "succeeded", now - timedelta(minutes=n), wait=1.0 + n)
    finished_job(engine, "export", "failed", now, wait=4.0)
    html = ops.get("/operator/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<section id="job-charts">' in html
    assert '<svg class="chart wait-chart" data-kind="export"' in html
    assert '<svg class="chart outcome-chart" data-kind="export"' in html
    assert html.count('class="bar outcome-succeeded"') == 3
    assert html.count('class="bar outcome-failed"') == 1
    assert 'class="line wait-p95"' in html and "style=" not in html.split("job-charts")[1]
