"""The canary: a job that proves the whole path works and measures its queue wait."""
from __future__ import annotations

import time

from tasks.runtime import JobContext, job_task


@job_task("canary.run")
def run(ctx: JobContext) -> dict:
    """Optionally sleep (checking for cancellation), then report the queue wait."""
    ctx.progress(total=1)
    deadline = time.monotonic() + float(ctx.params.get("sleep_seconds", 0))
    while (left := deadline - time.monotonic()) > 0:
        ctx.check_cancelled()
        time.sleep(min(0.5, left))
    ctx.progress(done=1)
    wait = (ctx.job.started_at - ctx.job.created_at).total_seconds()
    return {"queue_wait_ms": round(wait * 1000, 1), "worker": ctx.worker}
