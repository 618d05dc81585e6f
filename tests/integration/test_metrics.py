"""A real worker with METRICS=emf writes one EMF line per job it ends, on its standard
output, where CloudWatch Logs (awslogs) would read it."""
from __future__ import annotations

import json

from core import lifecycle
from stack.services import wait_for
from tests.support.jobs import Sender, create, wait_status
from tests.unit.test_metrics import assert_valid_emf


def emf_lines(path) -> list[dict]:
    """The lines of a log that are EMF documents (whole lines, nothing before them)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith('{"_aws"'):
            found.append(json.loads(line))
    return found


def test_a_job_end_is_one_emf_line_naming_its_kind_outcome_wait_and_run_time(
        app, settings, queue_urls, start_worker, engine):
    worker = start_worker("emf-worker", METRICS="emf", METRICS_NAMESPACE="jobsys-test")
    job_id = create(app, "canary", {"sleep_seconds": 0.2})
    Sender(settings, queue_urls).send("canary.run", job_id)
    done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=60)

    (line,) = wait_for(lambda: [d for d in emf_lines(worker.log_path)
                                if d.get("JobId") == job_id], 30, "the job's EMF line")
    assert_valid_emf(line)
    assert {d["Namespace"] for d in line["_aws"]["CloudWatchMetrics"]} == {"jobsys-test"}
    assert (line["Kind"], line["Outcome"], line["Queue"], line["Jobs"]) == \
        ("canary", "succeeded", "default", 1)
    wait = (done["started_at"] - done["created_at"]).total_seconds()
    ran = (done["finished_at"] - done["started_at"]).total_seconds()
    assert abs(line["QueueWait"] - wait) < 0.002 and abs(line["RunTime"] - ran) < 0.002
    assert line["RunTime"] >= 0.2, "the canary slept that long"


def test_a_worker_with_metrics_off_writes_no_emf_line(app, settings, queue_urls,
                                                     start_worker, engine):
    worker = start_worker("quiet-worker")
    job_id = create(app, "canary")
    Sender(settings, queue_urls).send("canary.run", job_id)
    wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=60)
    # Celery logs the task's end once the task returned, after any line it would write.
    wait_for(lambda: "Task canary.run[" in worker.log_path.read_text(errors="replace")
             and " succeeded in " in worker.log_path.read_text(errors="replace"),
             30, "the task's end in the worker's log")
    assert emf_lines(worker.log_path) == []
