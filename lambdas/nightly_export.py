"""Fire a schedule: create its job for a date (once) and queue it.

In AWS an EventBridge Scheduler schedule invokes ``handler`` with
``{"schedule": "customers-nightly", "scheduled_time": "<aws.scheduler.scheduled-time>"}``;
locally ``python -m lambdas.scheduler`` calls ``trigger`` at the same times.
A missed night is run by hand (``--again`` also re-runs a night whose export
failed or was cancelled):

    python -m lambdas.nightly_export --schedule customers-nightly --date 2026-11-20 [--again]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, datetime, timezone

from broker.enqueue import CeleryEnqueuer
from core import logs, schedules
from core.enqueue import Enqueuer
from core.settings import Settings
from service.submit import Submitted, submit
from store import db

log = logging.getLogger("lambdas.nightly_export")
_enqueuers: dict[tuple, Enqueuer] = {}


def trigger(schedule_name: str, for_date: date, *, settings: Settings | None = None,
            enqueuer: Enqueuer | None = None, again: bool = False) -> tuple[str, bool]:
    """Create the schedule's job for ``for_date`` and queue it; a repeat queues nothing.

    A job for that date that failed before it ever ran (its queue did not exist)
    is queued again; with ``again``, one that failed or was cancelled after it
    ran is too. A task the queue refused now is sent by the web app's relay.
    Returns (job id, whether this call queued it).
    """
    settings = settings or Settings.from_env()
    schedule = schedules.get(schedule_name)
    with db.sessions(settings.require_database())() as session:
        done = submit(session, enqueuer or _enqueuer(settings), schedule.kind, schedule.owner,
                      dict(schedule.params), requeue_unsent=True, again=again,
                      idempotency_key=schedules.idempotency_key(schedule, for_date))
        job_id, queue = str(done.job.id), done.queued
        with logs.bound(job_id=job_id, kind=schedule.kind):
            log.info("schedule %s for %s: job %s %s", schedule_name, for_date, job_id,
                     _outcome(done))
    return job_id, queue


def _outcome(done: Submitted) -> str:
    if not done.queued:
        return f"exists ({done.job.status}); nothing queued"
    return "queued" if done.sent else f"queued; the relay sends it ({done.send_error})"


def _enqueuer(settings: Settings) -> Enqueuer:
    # One per process: it looks the queue URLs up once (a warm Lambda keeps it).
    key = (settings.aws_endpoint_url, settings.aws_region, settings.queue_prefix)
    if key not in _enqueuers:
        _enqueuers[key] = CeleryEnqueuer(settings)
    return _enqueuers[key]


def for_date_of(event: dict, now: datetime) -> date:
    """The date an EventBridge event fires for: its scheduled time in the schedule's zone."""
    schedule = schedules.get(event["schedule"])
    raw = event.get("scheduled_time") or event.get("time")
    at = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else now
    return schedules.fire_date(schedule, at)


def handler(event, context=None) -> dict:
    """EventBridge Scheduler target: trigger the event's schedule for its date."""
    if not isinstance(event, dict) or "schedule" not in event:
        raise ValueError('the event must name a schedule: {"schedule": "customers-nightly", '
                         '"scheduled_time": "<aws.scheduler.scheduled-time>"}')
    settings = Settings.from_env()
    logs.configure(settings, "nightly-export")
    if event.get("date"):
        for_date = date.fromisoformat(event["date"])
    else:
        for_date = for_date_of(event, datetime.now(timezone.utc))
    with logs.bound(aws_request_id=getattr(context, "aws_request_id", None)):
        job_id, queued = trigger(event["schedule"], for_date, settings=settings)
    return {"schedule": event["schedule"], "date": for_date.isoformat(), "job_id": job_id,
            "queued": queued}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fire a schedule for a date (once).")
    parser.add_argument("--schedule", required=True, choices=sorted(schedules.SCHEDULES))
    parser.add_argument("--date", required=True, type=date.fromisoformat,
                        help="the date to run it for (YYYY-MM-DD, in the schedule's time zone)")
    parser.add_argument("--again", action="store_true",
                        help="run it again if that date's job failed or was cancelled")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    logs.configure(settings, "nightly-export")
    job_id, queued = trigger(args.schedule, args.date, settings=settings, again=args.again)
    print(json.dumps({"job_id": job_id, "queued": queued}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
