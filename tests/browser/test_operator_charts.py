"""An operator in a real browser opens the operator page and sees the last hour drawn:
queue wait and jobs per minute by outcome, per kind, under the page's policy (no inline
script or style), kept as a screenshot."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect

from tests.support.accounts import PASSWORD
from tests.support.jobs import finished_job


def test_the_operator_page_charts_the_last_hour_of_finished_jobs(page, engine, clean_db,
                                                                artifacts):
    now = datetime.now(timezone.utc)
    for minute in range(0, 40, 4):
        finished_job(engine, "export", "succeeded", now - timedelta(minutes=minute),
                     wait=1.0 + minute / 10)
        finished_job(engine, "pdf_batch", "succeeded", now - timedelta(minutes=minute),
                     wait=0.5)
    finished_job(engine, "pdf_batch", "partially_failed", now - timedelta(minutes=3), wait=6.0)
    finished_job(engine, "pdf_batch", "failed", now - timedelta(minutes=12), wait=2.0)
    finished_job(engine, "canary", "cancelled", now - timedelta(minutes=7), wait=None)

    page.goto("/login?next=/operator/")
    page.fill("input[name=username]", "ops")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Operations")

    charts = page.locator("#job-charts")
    for kind in ("export", "pdf_batch", "canary"):
        expect(charts.locator(f"svg.wait-chart[data-kind={kind}]")).to_be_visible()
        expect(charts.locator(f"svg.outcome-chart[data-kind={kind}]")).to_be_visible()
    expect(charts.locator("svg.outcome-chart[data-kind=pdf_batch] rect.outcome-failed")) \
        .to_have_count(1)
    expect(charts.locator("svg.wait-chart[data-kind=export] circle.wait-p95")).to_have_count(10)
    box = charts.locator("svg.wait-chart[data-kind=export]").bounding_box()
    assert box["width"] > 200 and box["height"] > 50, "the stylesheet sized the chart"
    charts.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "operator-charts.png"), full_page=True)
