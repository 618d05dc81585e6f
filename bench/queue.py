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
import math
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from core import aws, lifecycle
from core.provision import apply as provision
from core.settings import Settings, normalise_database_url
from stack import services

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "queue.json"
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


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def summary(values: list[float], *pcts: int) -> dict:
    out = {f"p{p}": percentile(values, p) for p in pcts}
    out["max"] = round(max(values), 1)
    return out


def child_env(settings: Settings, **extra) -> dict:
    """Environment that reproduces ``settings`` in a child process."""
    return services.python_env(**settings.to_env(), **extra)


def start_database(stack: contextlib.ExitStack, scratch: Path) -> tuple[str, str]:
    """A scratch database; returns (URL for the app, where it lives)."""
    admin_url = os.environ.get("DATABASE_URL")
    where = "DATABASE_URL"
    if not admin_url:
        server = services.EmbeddedPostgres(scratch / "pgdata")
        admin_url = server.start()
        stack.callback(server.stop)
        where = "embedded PostgreSQL"
    name, url = services.scratch_database(admin_url, prefix="jobsys_bench")
    stack.callback(services.drop_database, admin_url, name)
    url = normalise_database_url(url)
    services.migrate(url)
    return url, where


def start_child(stack: contextlib.ExitStack, name: str, argv: list[str], env: dict,
                logs: Path) -> services.Child:
    child = services.spawn(name, argv, env=env, log_dir=logs, cwd=str(ROOT))
    stack.callback(child.stop)
    return child


def worker_ready(child: services.Child) -> bool:
    if not child.alive():
        raise services.ChildExited(f"the worker exited:\n{child.tail()}")
    return " ready." in child.log_path.read_text(errors="replace")


def web_ready(child: services.Child, web: str) -> bool:
    if not child.alive():
        raise services.ChildExited(f"the web app exited:\n{child.tail()}")
    return requests.get(f"{web}/healthz", timeout=2).status_code == 200


def start_processes(stack: contextlib.ExitStack, settings: Settings, logs: Path):
    """One warm worker and the web app under gunicorn; returns (worker, web URL)."""
    env = child_env(settings, WORKER_NAME="bench")
    worker = start_child(stack, "worker", [sys.executable, "-m", "worker"], env, logs)
    services.wait_for(lambda: worker_ready(worker), 60, "the worker to be ready")
    port = services.free_port()
    web = f"http://127.0.0.1:{port}"
    gunicorn = start_child(stack, "web", [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", "4", "webapp:create_app()"], env, logs)
    services.wait_for(lambda: web_ready(gunicorn, web), 60, f"the web app on {web}")
    return worker, web


def start_stack(stack: contextlib.ExitStack) -> Stack:
    """Start everything; each piece is stopped when ``stack`` closes."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-queue-")))
    logs = scratch / "logs"
    moto, endpoint = services.start_moto(services.free_port(), logs)
    stack.callback(moto.stop)
    database_url, where = start_database(stack, scratch)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        database_url=database_url, aws_endpoint_url=endpoint,
        queue_prefix=f"bench{tag}-", bucket=f"bench{tag}-files",
        sqs_wait_time_seconds=WAIT_TIME_SECONDS, sqs_polling_interval=POLLING_INTERVAL,
        worker_concurrency=CONCURRENCY)
    provision(settings, aws.client(settings, "sqs"), aws.client(settings, "s3"))
    worker, web = start_processes(stack, settings, logs)
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
