"""Outages of what everything shares: PostgreSQL restarted mid-import and mid-batch,
the SQS/S3 endpoint unreachable while the API takes jobs, and a web process that
dies between committing a job and sending its message.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from bench import harness
from bench.chaos_kills import (at_fraction, drop_customers, judge_batch, judge_import,
                               statement_rows, strike_when, upload_csv)
from bench.chaos_rig import (OWNER, Bystanders, Outcome, Rig, Supervised, seconds_between,
                              wait_all)
from bench.faults import RestartablePostgres, TcpRelay
from core import lifecycle
from core.enqueue import Enqueuer
from service.submit import submit


# A job not finished this long after PostgreSQL is back counts as lost: every claim
# is stale and every message visible again long before.
SETTLE_SECONDS = 120


def import_under_restart(rig: Rig, postgres: RestartablePostgres, path: Path, rows: int,
                         down: float, timeout: float = 600) -> Outcome:
    """Experiment 7a: PostgreSQL stopped (fast shutdown) and started again mid-import."""
    out = Outcome("postgres_restart_import",
                  f"PostgreSQL down {down:g}s in the middle of a {rows:,}-row import",
                  gate_bystanders=False)
    drop_customers(rig)
    key = upload_csv(rig, path)
    rig.worker(("default",))  # the bystanders'
    with Bystanders(rig) as bystanders:
        rig.worker(("imports",))
        job_id = rig.submit("csv_import", {"dataset": "customers", "key": key})
        struck = strike_when(rig, job_id, 1, at_fraction(0.3, rows), timeout)
        stopped, started = postgres.outage(down) if struck else (None, None)
        final = rig.finished(job_id, SETTLE_SECONDS)
    out.add_bystanders(bystanders.count(outage=down))
    judge_import(out, rig, final, rows, started)
    out.raw.update(postgres_down_s=seconds_between(stopped, started),
                   rows_done_when_stopped=struck and struck["done"])
    if final is None:
        out.raw["status_after_wait"] = rig.job(job_id)["status"]
    return out


def batch_under_restart(rig: Rig, postgres: RestartablePostgres, documents: int,
                        down: float, timeout: float = 600) -> Outcome:
    """Experiment 7b: PostgreSQL stopped and started again mid-batch."""
    out = Outcome("postgres_restart_pdf",
                  f"PostgreSQL down {down:g}s in the middle of a {documents}-document batch",
                  gate_bystanders=False)
    rig.worker(("default",))  # the bystanders'
    with Bystanders(rig) as bystanders:
        rig.worker(("pdf",))
        job_id = rig.submit("pdf_batch", {"template": "statement",
                                          "rows": statement_rows(documents)})
        struck = strike_when(rig, job_id, 1, at_fraction(0.3, documents), timeout)
        stopped, started = postgres.outage(down) if struck else (None, None)
        final = rig.finished(job_id, SETTLE_SECONDS)
    out.add_bystanders(bystanders.count(outage=down))
    out.raw = {"postgres_down_s": seconds_between(stopped, started),
               "documents_done_when_stopped": struck and struck["done"]}
    judge_batch(out, rig, job_id, final, documents)
    if final is not None and started:
        out.recovery_seconds = seconds_between(started, final["finished_at"])
    return out


def sqs_outage(rig: Rig, relay: TcpRelay, seconds: float, every: float = 2.0,
               timeout: float = 240) -> Outcome:
    """Experiment 8: every process cut off from SQS and S3 while clients POST jobs."""
    out = Outcome("sqs_outage", f"SQS/S3 unreachable for {seconds:g}s while the API takes jobs",
                  gate_bystanders=False)
    worker = Supervised(rig, ("default",))
    web = harness.start_web(rig.stack, rig.settings, rig.logs)
    http = requests.Session()
    http.headers.update(harness.AUTH)
    warm = _post(http, web)  # the web app connects to SQS on its first job
    rig.finished(warm["id"], 60)
    with Bystanders(rig) as bystanders:
        relay.cut()
        answers = _post_for(http, web, seconds, every)
        relay.restore()
        restored = time.time()
        answers.append({**_post(http, web), "after": True})
    _judge_outage(out, rig, worker, answers, restored, timeout)
    out.add_bystanders(bystanders.count(outage=seconds))
    out.also_zero["workers_died"] = worker.deaths
    return out


def _post(http: requests.Session, web: str) -> dict:
    began = time.perf_counter()
    try:
        answer = http.post(f"{web}/api/jobs", json={"kind": "canary", "params": {}}, timeout=120)
        body = answer.json()
        status, job_id = answer.status_code, body.get("id") or body.get("error", {}).get("job_id")
    except (requests.RequestException, ValueError) as exc:
        status, job_id = type(exc).__name__, None
    return {"status": status, "id": job_id, "ms": round((time.perf_counter() - began) * 1000)}


def _post_for(http: requests.Session, web: str, seconds: float, every: float) -> list[dict]:
    """POST a canary every ``every`` seconds for ``seconds``; the answers."""
    answers, end, tick = [], time.monotonic() + seconds, threading.Event()
    while time.monotonic() < end:
        answers.append(_post(http, web))
        tick.wait(max(0.0, min(every, end - time.monotonic())))
    return answers


def _judge_outage(out: Outcome, rig: Rig, worker: Supervised, answers: list[dict],
                  restored: float, timeout: float) -> None:
    accepted = [a["id"] for a in answers if a["status"] == 202]
    finals = wait_all(rig, worker, accepted, timeout)
    out.jobs_lost += sum(f is None for f in finals.values())
    out.wrong_results += sum(f is not None and f["status"] != lifecycle.SUCCEEDED
                             for f in finals.values())
    refused = [a["id"] for a in answers if a["status"] != 202 and a["id"]]
    ran_anyway = [j for j in refused if rig.job(j)["status"] == lifecycle.SUCCEEDED]
    ends = [f["finished_at"].timestamp() for f in finals.values() if f is not None]
    out.recovery_seconds = round(max(ends) - restored, 2) if ends and max(ends) > restored \
        else 0.0
    codes: dict[str, list[int]] = {}
    for a in answers[:-1]:
        codes.setdefault(str(a["status"]), []).append(a["ms"])
    out.raw = {"answers_during_outage": {c: {"count": len(ms), "p50_ms": harness.percentile(
                   ms, 50, 0), "max_ms": max(ms)} for c, ms in codes.items()},
               "accepted": len(accepted), "refused_jobs_that_ran_anyway": len(ran_anyway),
               "first_post_after_restore": answers[-1]["status"]}


class _DiedAfterCommit(BaseException):
    """The web process dying after ``session.commit()``, before the message leaves."""


class _DyingEnqueuer(Enqueuer):
    def __init__(self):
        self.job_id: str | None = None

    def send(self, kind, job_id: str) -> None:
        self.job_id = job_id
        raise _DiedAfterCommit()


def stranded_job(rig: Rig, wait: float) -> Outcome:
    """Experiment 9: a committed job whose message was never sent; does anything send it?"""
    out = Outcome("stranded_job", "the web process dies between commit and send")
    rig.worker(("default",))
    harness.start_web(rig.stack, rig.settings, rig.logs)  # whatever the web app runs, runs
    with Bystanders(rig) as bystanders:
        dying = _DyingEnqueuer()
        with rig.sessions() as session:
            try:
                submit(session, dying, "canary", OWNER, {})
            except _DiedAfterCommit:
                pass
        committed = time.time()
        final = rig.finished(dying.job_id, wait)
    out.add_bystanders(bystanders.count())
    after = rig.job(dying.job_id)
    out.raw = {"waited_s": wait, "status_after_wait": after["status"],
               "attempts": after["attempts"]}
    if final is None or final["status"] != lifecycle.SUCCEEDED:
        out.jobs_lost += 1
    else:
        out.recovery_seconds = seconds_between(committed, final["finished_at"])
    return out
