"""What happens when a whole worker is lost (its main process, pool and keeper killed
at once): the job runs again soon, the loss does not spend the message's receives,
the row says what happened, and the dead worker's SQL stops."""
from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from core import lifecycle, losses
from stack.services import wait_for
from store import db, jobstore
from store.models import Job
from tests.support.jobs import (Sender, create, executions, queue_depth, row, wait_finished,
                                wait_status)

TASKS = ("tests.support.tasks", "tests.support.loss_tasks")
RECOVERY_SECONDS = 35  # the queue's visibility timeout (30 s) and a receive or two


@pytest.fixture
def sender(settings, queue_urls):
    return Sender(settings, queue_urls)


def _kill(worker) -> None:
    worker.signal(signal.SIGKILL)  # the whole process group: main process, pool, keeper
    worker.popen.wait(10)


def _started_or_ended(engine, job_id: str, runs: int):
    """The row once the job's ``runs``-th execution began or the job ended."""
    current = row(engine, job_id)
    if len(executions(engine, job_id)) >= runs or current["status"] in lifecycle.FINISHED:
        return current
    return None


# The keeper first extends a message up to a third of its timeout after the task starts: at
# 6 s, a worker slowed by a busy machine lost its own running job to the message's return.
@pytest.mark.settings(visibility=10, max_receive_count=2, worker_extra_imports=TASKS)
def test_a_job_outlives_more_worker_losses_than_its_message_has_receives(
        app, engine, sender, start_worker, sqs, settings, queue_urls):
    job_id = create(app, "test.sleep", {"seconds": 4})
    sender.send("test.sleep", job_id)
    losses_wanted = settings.max_receive_count + 1

    for attempt in range(1, losses_wanted + 1):
        doomed = start_worker(f"doomed{attempt}")
        now = wait_for(lambda: _started_or_ended(engine, job_id, attempt), 60,
                       f"attempt {attempt} to start")
        assert now["status"] == lifecycle.RUNNING, now["error"]
        _kill(doomed)
    start_worker("survivor")
    done = wait_finished(engine, job_id, timeout=60)

    assert done["status"] == lifecycle.SUCCEEDED, done["error"]
    assert done["lost_attempts"] == losses_wanted
    assert len(executions(engine, job_id)) == losses_wanted + 1
    assert sum(queue_depth(sqs, queue_urls[settings.dead_letter_name("default")])) == 0


@pytest.mark.settings(worker_extra_imports=TASKS)
def test_a_lost_workers_job_runs_again_within_half_a_minute(
        app, engine, sender, start_worker):
    job_id = create(app, "test.sleep", {"seconds": 12})  # outlasts the survivor's start
    doomed = start_worker("doomed")
    sender.send("test.sleep", job_id, queue="imports")
    wait_for(lambda: executions(engine, job_id), 30, "the task body to start")
    start_worker("survivor")  # ready before the loss: its start-up is not recovery time

    killed = time.monotonic()
    _kill(doomed)
    wait_for(lambda: len(executions(engine, job_id)) == 2, RECOVERY_SECONDS,
             f"the job to run again within {RECOVERY_SECONDS}s of the loss")

    assert time.monotonic() - killed < RECOVERY_SECONDS
    assert wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)["attempts"] == 2


def _statements(engine, job_id: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND state = 'active' AND query LIKE :pattern"),
            {"pattern": f"%pg_sleep%job {job_id}%"}).scalars().all()


@pytest.mark.settings(worker_extra_imports=TASKS)
def test_a_killed_workers_statement_stops_within_seconds(app, engine, sender, start_worker):
    job_id = create(app, "test.pg_sleep", {"seconds": 60})
    doomed = start_worker("doomed")
    sender.send("test.pg_sleep", job_id)
    wait_for(lambda: _statements(engine, job_id), 30, "the worker's statement to start")

    _kill(doomed)

    wait_for(lambda: not _statements(engine, job_id), 5,
             "the dead worker's statement to leave pg_stat_activity")


@pytest.mark.parametrize("connect", ["engine", "psycopg", "webapp"])
def test_every_session_checks_its_client_and_ends_idle_transactions(
        app, database_url, connect):
    if connect == "engine":
        with db.engine(database_url).connect() as conn:
            shown = conn.execute(text("SHOW client_connection_check_interval")).scalar(), \
                conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
    elif connect == "psycopg":
        with db.connect(database_url) as conn:
            shown = conn.execute("SHOW client_connection_check_interval").fetchone()[0], \
                conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0]
    else:
        from webapp.extensions import db as web_db
        with app.app_context():
            shown = web_db.session.execute(text("SHOW client_connection_check_interval")
                                           ).scalar(), \
                web_db.session.execute(text("SHOW idle_in_transaction_session_timeout")
                                       ).scalar()
    assert shown == ("2s", "5min")


@pytest.mark.settings(visibility=6, worker_extra_imports=TASKS)
def test_after_a_loss_the_row_names_the_lost_attempt_and_progress_starts_again(
        app, engine, sender, start_worker):
    job_id = create(app, "test.progress", {"total": 10, "done": 4, "seconds": 4,
                                           "report_on_attempts": [1]})
    doomed = start_worker("doomed")
    sender.send("test.progress", job_id)
    wait_for(lambda: row(engine, job_id)["done"] == 4, 30, "attempt 1 to report progress")

    _kill(doomed)
    start_worker("survivor")
    second = wait_for(lambda: (r := row(engine, job_id))["attempts"] == 2
                      and r["status"] == lifecycle.RUNNING and r, 30, "attempt 2 to start")

    assert (second["total"], second["done"], second["failed"]) == (0, 0, 0)
    assert "attempt 1 was lost with its worker doomed@" in (second["error"] or "")
    assert "no heartbeat since" in second["error"]
    assert second.get("lost_attempts") == 1
    done = wait_status(engine, job_id, lifecycle.SUCCEEDED, timeout=30)
    assert done["lost_attempts"] == 1


def _lost_job(session, kind: str, lost_before: int = 0) -> Job:
    job, _ = jobstore.create(session, kind=kind, owner="tester", params={})
    job.status, job.attempts, job.worker = lifecycle.RUNNING, 3, "gone@host:1"
    job.total, job.done, job.failed, job.lost_attempts = 10, 6, 1, lost_before
    job.heartbeat_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    session.commit()
    return job


@pytest.mark.parametrize("kind, lost_before, expected", [
    ("csv_import", 0, (lifecycle.QUEUED, 0, 0, 0, 1)),
    ("pdf_batch", 0, (lifecycle.QUEUED, 10, 6, 1, 1)),  # its counts are its documents
    ("csv_import", 2, (lifecycle.FAILED, 10, 6, 1, 3)),  # past a budget of 2
])
def test_a_lost_attempt_is_recorded_once_with_its_progress_reset(
        app, database_url, kind, lost_before, expected):
    with db.sessions(database_url)() as session:
        job = _lost_job(session, kind, lost_before)
        claim = jobstore.claim(session, job.id, "new@host:2", stale_after=20)
        assert not claim.claimed and claim.lost
        after = losses.after_loss(job.kind, job.attempts, job.lost_attempts, 2, job.worker,
                                  job.heartbeat_at)

        moved = jobstore.lose(session, claim.job, after)
        again = jobstore.lose(session, claim.job, after)
        session.commit()

    assert again is None
    assert (moved.status, moved.total, moved.done, moved.failed, moved.lost_attempts) == expected
    assert moved.heartbeat_at is None
    assert moved.error == after.error
