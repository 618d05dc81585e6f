"""Job tasks that misbehave on purpose, for the failure-semantics tests.

Each records every execution in ``test_executions`` (a table the tests
create), so a test can count how many times a job's body really ran.
"""
from __future__ import annotations

import os
import signal
import time

from sqlalchemy import text

from core.errors import JobFailed, TransientJobError
from tasks.runtime import JobContext, job_task

EXECUTIONS_DDL = """
CREATE TABLE IF NOT EXISTS test_executions (
    id serial PRIMARY KEY,
    job_id uuid NOT NULL,
    attempt int NOT NULL,
    pid int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
)"""


def _started(ctx: JobContext) -> int:
    row = ctx.session.execute(text(
        "INSERT INTO test_executions (job_id, attempt, pid) VALUES (:j, :a, :p) RETURNING id"),
        {"j": ctx.job.id, "a": ctx.attempt, "p": os.getpid()}).scalar()
    ctx.session.commit()
    return row


def _finished(ctx: JobContext, row: int) -> None:
    ctx.session.execute(text("UPDATE test_executions SET finished_at = clock_timestamp() "
                             "WHERE id = :id"), {"id": row})
    ctx.session.commit()


@job_task("test.sleep")
def sleep(ctx: JobContext) -> dict:
    row = _started(ctx)
    time.sleep(float(ctx.params.get("seconds", 1)))
    _finished(ctx, row)
    return {"slept": ctx.params.get("seconds", 1)}


@job_task("test.crash")
def crash(ctx: JobContext) -> dict:
    _started(ctx)
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


@job_task("test.flaky")
def flaky(ctx: JobContext) -> dict:
    row = _started(ctx)
    runs = ctx.session.execute(text("SELECT count(*) FROM test_executions WHERE job_id = :j"),
                              {"j": ctx.job.id}).scalar()
    if runs <= int(ctx.params.get("failures", 2)):
        raise TransientJobError(f"the service is busy (run {runs})")
    _finished(ctx, row)
    return {"runs": runs}


@job_task("test.broken")
def broken(ctx: JobContext) -> dict:
    _started(ctx)
    if ctx.params.get("unexpected"):
        raise ValueError("unexpected value in row 3")
    raise JobFailed("row 3, column email: 'x@' is not an email address")
