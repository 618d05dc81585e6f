"""The operator page's chart geometry: bars stack within the plot, lines follow minutes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from webapp import charts

SINCE = datetime(2026, 12, 3, 6, 30, 20, tzinfo=timezone.utc)


def minute(n: int) -> str:
    return (SINCE.replace(second=0) + timedelta(minutes=n)).isoformat()


def kind(*rows) -> dict:
    return {"kind": "export", "jobs": 0, "wait_p50": None, "wait_p95": None, "outcomes": {},
            "per_minute": [{"minute": m, "jobs": sum(o.values()), "wait_p50": w,
                            "wait_p95": w, "outcomes": o} for m, w, o in rows]}


def test_tops_are_round_numbers_at_or_above_the_largest_value():
    assert [charts.nice_top(v) for v in (0, 0.3, 1, 3, 7, 12, 4000)] == \
        [1, 0.5, 1, 5, 10, 20, 5000]


def test_outcomes_of_a_minute_stack_and_the_tallest_minute_reaches_the_top():
    drawn = charts.kind_charts(kind((minute(10), 1.0, {"succeeded": 3, "failed": 2}),
                                    (minute(60), 2.0, {"cancelled": 1})), SINCE, 60)
    assert drawn.jobs_top == 5
    ok, bad, gone = drawn.bars
    assert (ok.outcome, bad.outcome, gone.outcome) == ("succeeded", "failed", "cancelled")
    assert bad.y + bad.height == ok.y, "failed sits on succeeded"
    assert round(bad.y, 0) == charts.TOP and ok.y + ok.height == charts.HEIGHT - charts.BOTTOM
    assert gone.x > bad.x and gone.x + gone.width <= charts.WIDTH - charts.RIGHT


def test_a_minute_without_a_wait_has_no_point_on_the_line():
    drawn = charts.kind_charts(kind((minute(1), None, {"cancelled": 1}),
                                    (minute(2), 4.0, {"succeeded": 1})), SINCE, 60)
    assert len(drawn.dots["p95"]) == 1 and drawn.wait_top == 5
    assert drawn.lines["p95"] == "{},{}".format(*drawn.dots["p95"][0])
