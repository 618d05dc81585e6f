"""When schedules fire, for which date, and how the local loop fires them (clock driven)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from core import schedules
from core.errors import ConfigurationError
from core.schedules import Schedule
from lambdas.scheduler import tick

UTC = timezone.utc
NIGHTLY = schedules.get("customers-nightly")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_nightly_export_fires_at_two_in_tokyo_which_is_five_pm_utc_the_day_before():
    at = schedules.next_fire(NIGHTLY, utc(2026, 11, 19, 12, 0))
    assert at.astimezone(UTC) == utc(2026, 11, 19, 17, 0)
    assert schedules.fire_date(NIGHTLY, at) == date(2026, 11, 20)
    assert schedules.idempotency_key(NIGHTLY, date(2026, 11, 20)) == \
        "schedule:customers-nightly:2026-11-20"


def test_the_next_firing_is_strictly_after_now():
    assert schedules.next_fire(NIGHTLY, utc(2026, 11, 19, 17, 0)).astimezone(UTC) == \
        utc(2026, 11, 20, 17, 0)


@pytest.mark.parametrize("zone, start, end, expected_utc", [
    # New York changes its offset: 02:30 local is 07:30 UTC in winter, 06:30 in summer;
    # on the night 02:30 does not exist (8 March) it fires once, at 03:00.
    ("America/New_York", utc(2026, 3, 7, 12), utc(2026, 3, 9, 12),
     [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]),
    ("Asia/Tokyo", utc(2026, 3, 7, 12), utc(2026, 3, 9, 12),
     [utc(2026, 3, 7, 17, 30), utc(2026, 3, 8, 17, 30)]),
])
def test_firings_follow_the_schedules_time_zone_across_clock_changes(zone, start, end,
                                                                      expected_utc):
    schedule = Schedule("s", "30 2 * * *", zone, "export")
    fires = [f.astimezone(UTC) for f in schedules.fires_between(schedule, start, end)]
    assert fires == expected_utc


def test_an_hour_that_happens_twice_fires_twice_for_one_date_so_one_job():
    schedule = Schedule("s", "30 1 * * *", "America/New_York", "export")
    fires = schedules.fires_between(schedule, utc(2026, 10, 31, 12), utc(2026, 11, 1, 12))
    assert len(fires) == 2
    assert {schedules.idempotency_key(schedule, schedules.fire_date(schedule, f))
            for f in fires} == {"schedule:s:2026-11-01"}


def test_an_unknown_schedule_lists_the_ones_there_are():
    with pytest.raises(ConfigurationError, match="schedules: customers-nightly"):
        schedules.get("weekly")


def test_the_eventbridge_schedule_says_the_same_thing():
    spec = schedules.eventbridge_schedule(NIGHTLY, "arn:lambda", "arn:role", prefix="prod-")
    assert spec["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert spec["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert '"schedule": "customers-nightly"' in spec["Target"]["Input"]
    weekdays = Schedule("w", "0 6 * * MON-FRI", "UTC", "export")
    assert schedules.eventbridge_expression(weekdays) == "cron(0 6 ? * MON-FRI *)"


def test_the_loop_fires_once_when_its_clock_passes_two_am_tokyo():
    fired = []
    fire = lambda name, day: fired.append((name, day))  # noqa: E731
    assert tick(utc(2026, 11, 19, 16, 59, 50), utc(2026, 11, 19, 16, 59, 59), fire) == []
    assert tick(utc(2026, 11, 19, 16, 59, 59), utc(2026, 11, 19, 17, 0, 9), fire) == [
        ("customers-nightly", "2026-11-20")]
    assert fired == [("customers-nightly", date(2026, 11, 20))]


def test_the_loop_fires_each_night_it_slept_through():
    fired = []
    tick(utc(2026, 11, 18, 12), utc(2026, 11, 20, 18), lambda n, d: fired.append(d))
    assert fired == [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)]


def test_a_firing_that_fails_does_not_stop_the_others():
    def fire(name, day):
        if day == date(2026, 11, 19):
            raise ConnectionError("database restarting")
    assert tick(utc(2026, 11, 18, 12), utc(2026, 11, 19, 18), fire) == [
        ("customers-nightly", "2026-11-20")]
