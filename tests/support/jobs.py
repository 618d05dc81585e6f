"""Helpers for tests that create jobs, send their messages and watch them."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from core import lifecycle
from broker.app import create_celery
from stack.services import wait_for
from store import db, jobstore


def create(app, kind: str, params: dict | None = None) -> str:
    """A queued job of ``kind`` (committed; no message sent), by the app's settings."""
    settings = app.extensions["jobsys.settings"]
    with db.unit_of_work(db.sessions(settings.require_database())) as session:
        job, _ = jobstore.create(session, kind=kind, owner="tester", params=params or {})
        return str(job.id)


class Sender:
    """Sends task messages the way the web app does (by name, over SQS)."""

    def __init__(self, settings, queue_urls):
        urls = {k: v for k, v in queue_urls.items() if not k.endswith("-dlq")}
        self.celery = create_celery(settings, urls, include=())

    def send(self, task_name: str, job_id: str, queue: str = "default") -> None:
        self.celery.send_task(task_name, args=[job_id], queue=queue)


def row(engine, job_id: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM jobs WHERE id = :id"),
                                 {"id": job_id}).mappings().one())


def executions(engine, job_id: str) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT * FROM test_executions WHERE job_id = :id ORDER BY id"),
            {"id": job_id}).mappings()]


def wait_status(engine, job_id: str, statuses, timeout: float = 60) -> dict:
    wanted = {statuses} if isinstance(statuses, str) else set(statuses)
    return wait_for(lambda: (r := row(engine, job_id))["status"] in wanted and r,
                    timeout, f"job {job_id} to be {' or '.join(sorted(wanted))}")


def wait_finished(engine, job_id: str, timeout: float = 60) -> dict:
    return wait_status(engine, job_id, lifecycle.FINISHED, timeout)


def queue_depth(sqs, url: str) -> tuple[int, int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            int(attrs["ApproximateNumberOfMessagesDelayed"]))


def wait_drained(sqs, url: str, timeout: float = 30) -> None:
    wait_for(lambda: queue_depth(sqs, url) == (0, 0, 0), timeout, f"{url} to be empty")


def finished_job(engine, kind: str, status: str, finished: datetime, wait: float | None,
                 run: float = 1.0, owner: str = "tester") -> str:
    """A job row that waited ``wait`` seconds (None: never started) and ended at ``finished``."""
    started = None if wait is None else finished - timedelta(seconds=run)
    created = (started or finished) - timedelta(seconds=wait or 5)
    job_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO jobs (id, kind, owner, status, created_at, started_at, finished_at) "
            "VALUES (:id, :k, :o, :s, :c, :st, :f)"),
            {"id": job_id, "k": kind, "o": owner, "s": status, "c": created, "st": started,
             "f": finished})
    return job_id
