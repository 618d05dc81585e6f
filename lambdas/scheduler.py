"""The local stand-in for EventBridge Scheduler: fire each schedule at its time.

    python -m lambdas.scheduler [--interval 15]

Every few seconds it fires the schedules whose times passed since it last
looked, through the same ``trigger`` as the AWS handler (so a firing it
repeats, or one that AWS also fired, still makes one job).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Callable

from core import logs, schedules
from core.settings import Settings

log = logging.getLogger("lambdas.scheduler")
Trigger = Callable[[str, object], object]


def tick(last: datetime, now: datetime, fire: Trigger,
         table: dict[str, schedules.Schedule] | None = None) -> list[tuple[str, str]]:
    """Fire every schedule due in (last, now]; returns (schedule, date) of each firing."""
    fired = []
    for schedule in (table or schedules.SCHEDULES).values():
        for at in schedules.fires_between(schedule, last, now):
            for_date = schedules.fire_date(schedule, at)
            try:
                fire(schedule.name, for_date)
            except Exception:
                log.exception("schedule %s for %s failed to fire", schedule.name, for_date)
                continue
            fired.append((schedule.name, for_date.isoformat()))
    return fired


def run(interval: float, fire: Trigger, stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
    """Look every ``interval`` seconds until ``stop`` is set."""
    last = clock()
    for schedule in schedules.SCHEDULES.values():
        log.info("schedule %s (%s %s): next at %s", schedule.name, schedule.cron,
                 schedule.timezone, schedules.next_fire(schedule, last).isoformat())
    while not stop.wait(interval):
        now = clock()
        for name, day in tick(last, now, fire):
            log.info("fired %s for %s", name, day)
        last = now


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between looks")
    args = parser.parse_args(argv)
    logs.configure(Settings.from_env(), "scheduler")
    from lambdas.nightly_export import trigger
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(args.interval, trigger, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
