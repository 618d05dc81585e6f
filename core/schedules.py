"""Scheduled jobs, defined once: what runs, on which cron line, in which time zone.

Pure: the local scheduler loop and the AWS handler both fire through
``lambdas.nightly_export.trigger``; this module only says when a schedule
fires, which date a firing is for, and how EventBridge Scheduler spells it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Mapping
from zoneinfo import ZoneInfo

from croniter import croniter

from core.errors import ConfigurationError

OWNER = "scheduler"


@dataclass(frozen=True)
class Schedule:
    """A job started on a cron line (minute hour day month weekday) in a time zone."""

    name: str
    cron: str
    timezone: str
    kind: str
    params: Mapping = field(default_factory=dict)
    owner: str = OWNER

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


SCHEDULES: dict[str, Schedule] = {s.name: s for s in (
    Schedule(name="customers-nightly", cron="0 2 * * *", timezone="Asia/Tokyo", kind="export",
             params={"dataset": "customers", "encoding": "utf-8-sig", "gzip": True}),
)}


def get(name: str) -> Schedule:
    """The schedule called ``name``, or an error that lists those there are."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ConfigurationError(f"no schedule {name!r}; schedules: "
                                 f"{', '.join(sorted(SCHEDULES))}") from None


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first firing strictly after ``after`` (an aware datetime), in the schedule's zone."""
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    return croniter(schedule.cron, after.astimezone(schedule.zone)).get_next(datetime)


def fires_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Firings in (start, end]: what a loop that last looked at ``start`` has missed."""
    fires, at = [], next_fire(schedule, start)
    while at <= end:
        fires.append(at)
        at = next_fire(schedule, at)
    return fires


def fire_date(schedule: Schedule, at: datetime) -> date:
    """The date a firing is for: its calendar date in the schedule's time zone."""
    return at.astimezone(schedule.zone).date()


def idempotency_key(schedule: Schedule, for_date: date) -> str:
    """One job per schedule and date, however often it is triggered."""
    return f"schedule:{schedule.name}:{for_date.isoformat()}"


def eventbridge_expression(schedule: Schedule) -> str:
    """The cron line as EventBridge Scheduler writes it (``cron(0 2 * * ? *)``)."""
    minute, hour, dom, month, dow = schedule.cron.split()
    if dow == "*":
        return f"cron({minute} {hour} {dom} {month} ? *)"
    if dom != "*" or any(c.isdigit() for c in dow):
        raise ConfigurationError(f"schedule {schedule.name}: give weekdays by name (MON-FRI) "
                                 "and day of month *, as EventBridge needs")
    return f"cron({minute} {hour} ? {month} {dow} *)"


def eventbridge_input(schedule: Schedule) -> str:
    """The event the schedule's target gets: its name and, filled in by the Scheduler,
    the time it fired for (``lambdas.nightly_export.handler`` reads both)."""
    return json.dumps({"schedule": schedule.name,
                       "scheduled_time": "<aws.scheduler.scheduled-time>"})


def eventbridge_schedule(schedule: Schedule, target_arn: str, role_arn: str,
                         prefix: str = "") -> dict:
    """Arguments of EventBridge Scheduler's CreateSchedule that invoke the handler."""
    return {
        "Name": f"{prefix}{schedule.name}",
        "ScheduleExpression": eventbridge_expression(schedule),
        "ScheduleExpressionTimezone": schedule.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": target_arn, "RoleArn": role_arn,
                   "Input": eventbridge_input(schedule)},
    }
