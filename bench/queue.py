"""Queue wait and API latency: how long a canary job waits in SQS for one warm worker.

Measures, against the local stack (moto's SQS, PostgreSQL, one Celery worker,
the web app under gunicorn), all started here and stopped at the end:

* ``post_latency_ms``: client-side latency of ``POST /api/jobs`` (record + enqueue);
* ``queue_wait_ms``: the canary's own ``started_at - created_at``, one job at a
  time, so the queue is shallow and the worker has nothing else to do (it has
  just finished the previous job; docs/benchmarks.md explains what that costs);
* ``baseline_sqs_round_trip_ms``: send_message then a receive_message long poll
  on a plain queue of the same moto server, i.e. what the emulator alone costs.

Run from the repository root (DATABASE_URL, if set, names a PostgreSQL server
to create a scratch database on; otherwise an embedded one is started)::

    .venv/bin/python -m bench.queue [--jobs 200] [--out bench/results/queue.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench.harness import AUTH, RESULTS, start_base, start_web, start_workers, summary
from core import aws, lifecycle
from core.settings import Settings
from stack import services

DEFAULT_OUT = RESULTS / "queue.json"
WAIT_TIME_SECONDS = 10
POLLING_INTERVAL = Settings().sqs_polling_interval
CONCURRENCY = 1
WARMUP_JOBS = 5
ROUND_TRIPS = 200
POLL_EVERY = 0.01
JOB_DEADLINE = 30.0
CANARY = {"kind": "canary", "params": {}}


@dataclass
class Stack:
    """What the benchmark runs against."""

    settings: Settings
    web: str
    worker: services.Child
    database: str


def start_stack(stack: contextlib.ExitStack) -> Stack:
    """Start everything; each piece is stopped when ``stack`` closes."""
    settings, logs, where = start_base(
        stack, "queue", sqs_wait_time_seconds=WAIT_TIME_SECONDS,
        sqs_polling_interval=POLLING_INTERVAL, worker_concurrency=CONCURRENCY)
    worker, = start_workers(stack, settings, logs, deadline=60)
    web = start_web(stack, settings, logs)
    return Stack(settings, web, worker, where)


def finished_job(session: requests.Session, stack: Stack, job_id: str) -> dict:
    """Poll the job until it finishes; raise if it takes longer than the deadline."""
    deadline = time.monotonic() + JOB_DEADLINE
    while time.monotonic() < deadline:
        response = session.get(f"{stack.web}/api/jobs/{job_id}", timeout=5)
        response.raise_for_status()
        job = response.json()
        if job["status"] in lifecycle.FINISHED:
            return job
        time.sleep(POLL_EVERY)
    raise RuntimeError(f"job {job_id} still {job['status']} after {JOB_DEADLINE:g}s; "
                       f"worker log:\n{stack.worker.tail()}")


def run_canary(session: requests.Session, stack: Stack) -> tuple[float, float]:
    """Submit one canary and wait for it; returns (POST latency ms, queue wait ms)."""
    start = time.perf_counter()
    response = session.post(f"{stack.web}/api/jobs", json=CANARY, timeout=10)
    latency = (time.perf_counter() - start) * 1000
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/jobs answered {response.status_code}: {response.text}")
    job = finished_job(session, stack, response.json()["id"])
    if job["status"] != lifecycle.SUCCEEDED:
        raise RuntimeError(f"canary {job['id']} {job['status']}: {job['error']}")
    return latency, float(job["result"]["queue_wait_ms"])


def measure_jobs(stack: Stack, jobs: int) -> tuple[list[float], list[float]]:
    """Warm up, then run ``jobs`` canaries one after another."""
    with requests.Session() as session:
        session.headers.update(AUTH)
        for _ in range(WARMUP_JOBS):
            run_canary(session, stack)
        results = []
        for n in range(jobs):
            results.append(run_canary(session, stack))
            if (n + 1) % 50 == 0:
                print(f"  {n + 1}/{jobs} jobs", flush=True)
    latencies, waits = zip(*results)
    return list(latencies), list(waits)


def measure_baseline(settings: Settings, round_trips: int) -> list[float]:
    """send_message then a long-poll receive_message on a plain queue, in ms."""
    sqs = aws.client(settings, "sqs")
    url = sqs.create_queue(QueueName=f"{settings.queue_prefix}baseline")["QueueUrl"]
    times = []
    for n in range(round_trips):
        start = time.perf_counter()
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1,
                                  MaxNumberOfMessages=1).get("Messages", [])
        times.append((time.perf_counter() - start) * 1000)
        if not got:
            raise RuntimeError(f"baseline round trip {n}: no message within 1 s")
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    sqs.delete_queue(QueueUrl=url)
    return times


def report(stack: Stack, latencies, waits, baseline) -> dict:
    import moto
    return {
        "benchmark": "bench/queue.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "jobs": len(waits),
        "warmup_jobs": WARMUP_JOBS,
        "post_latency_ms": summary(latencies, 50, 99),
        "queue_wait_ms": summary(waits, 50, 95),
        "baseline_sqs_round_trip_ms": {"round_trips": len(baseline),
                                       **summary(baseline, 50, 95)},
        "settings": {
            "SQS_WAIT_TIME_SECONDS": stack.settings.sqs_wait_time_seconds,
            "SQS_POLLING_INTERVAL": stack.settings.sqs_polling_interval,
            "WORKER_CONCURRENCY": stack.settings.worker_concurrency,
            "workers": 1,
            "gunicorn": "--workers 2 --threads 4",
        },
        "database": stack.database,
        "moto": moto.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def show(result: dict) -> None:
    post, wait = result["post_latency_ms"], result["queue_wait_ms"]
    base = result["baseline_sqs_round_trip_ms"]
    print(f"\n{result['jobs']} canary jobs, one at a time, one warm worker:")
    print(f"  POST /api/jobs   p50 {post['p50']} ms  p99 {post['p99']} ms  max {post['max']} ms")
    print(f"  queue wait       p50 {wait['p50']} ms  p95 {wait['p95']} ms  max {wait['max']} ms")
    print(f"  raw SQS (moto)   p50 {base['p50']} ms  p95 {base['p95']} ms  "
          f"over {base['round_trips']} send+receive round trips")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="canary jobs to measure")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write JSON")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = run(args.jobs)
    except KeyboardInterrupt:
        print("\nInterrupted; everything started here has been stopped.", file=sys.stderr)
        return 130
    show(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nWrote {args.out}")
    return 0


def run(jobs: int) -> dict:
    """Start the stack, measure, stop the stack; returns the report."""
    with contextlib.ExitStack() as stack:
        print("Starting moto, PostgreSQL, a worker and the web app...", flush=True)
        target = start_stack(stack)
        print(f"Measuring {jobs} canary jobs (after {WARMUP_JOBS} warm-up jobs)...", flush=True)
        latencies, waits = measure_jobs(target, jobs)
        print(f"Measuring {ROUND_TRIPS} raw SQS round trips...", flush=True)
        baseline = measure_baseline(target.settings, ROUND_TRIPS)
        result = report(target, latencies, waits, baseline)
        print("Stopping everything...", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
