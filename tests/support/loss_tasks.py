"""Job tasks for the worker-loss tests: a long SQL statement, and progress on chosen attempts."""
from __future__ import annotations

import time

from sqlalchemy import text

from tasks.runtime import JobContext, job_task
from tests.support.tasks import _finished, _started


@job_task("test.pg_sleep")
def pg_sleep(ctx: JobContext) -> dict:
    # The job id in the statement lets a test find this statement in pg_stat_activity.
    ctx.session.execute(text(f"SELECT pg_sleep(:seconds) /* job {ctx.job.id} */"),
                        {"seconds": float(ctx.params.get("seconds", 60))})
    return {}


@job_task("test.progress")
def progress(ctx: JobContext) -> dict:
    row = _started(ctx)
    if ctx.attempt in ctx.params.get("report_on_attempts", [1]):
        ctx.progress(total=int(ctx.params.get("total", 10)), done=int(ctx.params.get("done", 4)))
    time.sleep(float(ctx.params.get("seconds", 3)))
    _finished(ctx, row)
    return {}
