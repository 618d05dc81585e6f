"""The stack's Scheduler schedules fire the nightly-export handler with an event it accepts.

moto's CloudFormation cannot create an ``AWS::Scheduler::Schedule`` and moto's
Scheduler never fires one, so the target's Input is checked here against the
handler's own parsing of it.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from core.schedules import SCHEDULES
from lambdas.nightly_export import for_date_of
from tests.support.stack import of_type

SCHEDULED = of_type("AWS::Scheduler::Schedule")
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def event_of(resource: dict, fired_at: str) -> dict:
    """The event the Scheduler sends: the Input with its placeholder filled in."""
    text = resource["Properties"]["Target"]["Input"]
    return json.loads(text.replace("<aws.scheduler.scheduled-time>", fired_at))


def test_there_is_one_schedule_per_schedule_the_code_defines():
    assert sorted(json.loads(r["Properties"]["Target"]["Input"])["schedule"]
                  for r in SCHEDULED.values()) == sorted(SCHEDULES)


@pytest.mark.parametrize("name", sorted(SCHEDULED))
def test_the_input_is_json_naming_a_known_schedule_and_its_firing_time(name):
    event = json.loads(SCHEDULED[name]["Properties"]["Target"]["Input"])
    assert event == {"schedule": event["schedule"],
                     "scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert event["schedule"] in SCHEDULES


def test_the_nightly_export_fired_at_two_in_tokyo_is_for_that_tokyo_date():
    (resource,) = [r for r in SCHEDULED.values()
                   if json.loads(r["Properties"]["Target"]["Input"])["schedule"] ==
                   "customers-nightly"]
    # 02:00 on 21 November in Tokyo is 17:00 on the 20th in UTC, as the Scheduler writes it.
    assert for_date_of(event_of(resource, "2026-11-20T17:00:00Z"), NOW) == date(2026, 11, 21)


@pytest.mark.parametrize("name", sorted(SCHEDULED))
def test_each_schedule_fires_on_its_own_cron_line_and_zone(name):
    props = SCHEDULED[name]["Properties"]
    schedule = SCHEDULES[json.loads(props["Target"]["Input"])["schedule"]]
    minute, hour, *_ = schedule.cron.split()
    assert props["ScheduleExpression"].startswith(f"cron({minute} {hour} ")
    assert props["ScheduleExpressionTimezone"] == schedule.timezone
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["NightlyExportFunction", "Arn"]}
