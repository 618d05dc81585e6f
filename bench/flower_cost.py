"""What monitoring costs in SNS and SQS requests: per task, per idle worker, per idle Flower.

Every process talks to moto through a counting proxy of its own (worker,
Flower, the producer), so each request is attributed to who made it and
classified by service, action and queue (task queue or monitoring queue).
For each scenario a fresh worker (and Flower) is started; the benchmark counts
an idle minute, then a burst of canary jobs sent at once, then jobs sent one
at a time, and reports requests per task (idle traffic subtracted) and per
day at rest, with their price at AWS list prices.

    .venv/bin/python -m bench.flower_cost [--jobs 200] [--out bench/results/flower_cost.json]
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import text

from bench.harness import start_child, start_database, worker_ready
from bench.request_counter import Tally, start_proxy
from broker import monitoring
from core import aws, lifecycle
from core.provision import apply as provision
from core.settings import Settings
from stack import services
from broker import monitoring
from broker.app import create_celery
from store import db, jobstore

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results" / "flower_cost.json"
PRICE_PER_MILLION = {"sqs": 0.40, "sns": 0.50}  # AWS list prices; SNS -> SQS delivery is free
IDLE_SECONDS = 60
FLOWER_AUTH = ("bench", "bench")
SCENARIOS = {
    "monitoring off": ({"WORKER_EVENTS": "off", "WORKER_HEARTBEAT_INTERVAL": "0",
                        "WORKER_REMOTE_CONTROL": "off"}, False),
    "events on, Flower watching": ({}, True),
    "events on, nobody watching": ({}, False),
    "events off, heartbeats only, Flower watching": ({"WORKER_EVENTS": "off"}, True),
}


class Scenario:
    """One worker (and perhaps Flower) with given settings, each process behind its proxy."""

    def __init__(self, stack, endpoint: str, database_url: str, logs: Path, overrides: dict):
        self.settings = Settings(database_url=database_url, aws_endpoint_url=endpoint,
                                 queue_prefix=f"b{uuid.uuid4().hex[:8]}-", worker_concurrency=2)
        self.tally, self.stack, self.logs = Tally(self.settings.queue_prefix), stack, logs
        self.urls = provision(self.settings, aws.client(self.settings, "sqs"),
                              aws.client(self.settings, "s3"))
        self.env = {**self.settings.to_env(), **overrides}
        self.sessions = db.sessions(self.settings.require_database())

    def spawn(self, who: str, argv: list[str]) -> services.Child:
        proxy = start_proxy(self.stack, self.settings.aws_endpoint_url, who, self.tally)
        env = services.python_env(**{**self.env, "AWS_ENDPOINT_URL": proxy,
                                     "WORKER_NAME": "bench"})
        return start_child(self.stack, f"{self.settings.queue_prefix}{who}", argv, env,
                           self.logs)

    def start(self, with_flower: bool) -> None:
        worker = self.spawn("worker", [sys.executable, "-m", "worker"])
        services.wait_for(lambda: worker_ready(worker), 60, "the worker to be ready")
        if with_flower:
            port = services.free_port()
            self.spawn("flower", [sys.executable, "-m", "celery", "--app", "worker.flower:app",
                                  "flower", "--address=127.0.0.1", f"--port={port}",
                                  "--basic-auth=" + ":".join(FLOWER_AUTH)])
            services.wait_for(lambda: requests.get(
                f"http://127.0.0.1:{port}/api/workers?status=1", auth=FLOWER_AUTH,
                timeout=2).json(), 60, "Flower to hear the worker")
            # Flower's start-up inspect calls collect replies for their whole timeout.
            time.sleep(float(monitoring.FLOWER_ENV["FLOWER_INSPECT_TIMEOUT"]) / 1000 + 2)
        proxy = start_proxy(self.stack, self.settings.aws_endpoint_url, "producer", self.tally)
        producer = Settings.from_env({**self.env, "AWS_ENDPOINT_URL": proxy})
        task_urls = {k: v for k, v in self.urls.items() if not k.endswith(("-dlq", ".fifo"))}
        self.celery = create_celery(producer, task_urls, include=())

    def send(self, count: int) -> list[str]:
        with db.unit_of_work(self.sessions) as session:
            ids = [str(jobstore.create(session, kind="canary", owner="bench", params={})[0].id)
                   for _ in range(count)]
        for job_id in ids:
            self.celery.send_task("canary.run", args=[job_id], queue="default")
        return ids

    def wait_finished(self, ids: list[str]) -> None:
        def done():
            with self.sessions() as session:
                rows = session.execute(text(
                    "SELECT count(*) FROM jobs WHERE id::text = ANY(:ids) AND status = ANY(:done)"),
                    {"ids": ids, "done": list(lifecycle.FINISHED)}).scalar()
            return rows == len(ids)
        services.wait_for(done, 300, f"{len(ids)} jobs to finish", interval=0.1)


def measure(scenario: Scenario, jobs: int, trickle: int, idle_seconds: float) -> dict:
    """Idle time, then a burst of ``jobs``, then ``trickle`` jobs one at a time."""
    scenario.tally.take()
    time.sleep(idle_seconds)
    idle = scenario.tally.take()
    phases = {}
    for phase, count, batch in (("burst", jobs, jobs), ("one at a time", trickle, 1)):
        began = time.monotonic()
        for _ in range(0, count, batch):
            scenario.wait_finished(scenario.send(batch))
        time.sleep(3)  # the last events reach Flower
        phases[phase] = per_task(scenario.tally.take(), idle, idle_seconds,
                                 time.monotonic() - began, count)
    return {"idle_per_day": per_day(idle, idle_seconds), **phases}


def per_task(run: collections.Counter, idle: collections.Counter, idle_seconds: float,
             seconds: float, tasks: int) -> dict:
    """Requests per task by who/service/action/kind, with the idle rate taken out."""
    out = {}
    for key in set(run) | set(idle):
        extra = run[key] - idle[key] * seconds / idle_seconds
        if abs(extra / tasks) >= 0.005:
            out[" ".join(key)] = round(extra / tasks, 3)
    return dict(sorted(out.items()))


def per_day(idle: collections.Counter, idle_seconds: float) -> dict:
    return dict(sorted((" ".join(k), round(v * 86400 / idle_seconds)) for k, v in idle.items()))


def monitoring_requests(figures: dict) -> tuple[float, float]:
    """(SNS publishes, SQS requests on monitoring queues) in a set of figures."""
    sns = sum(v for k, v in figures.items() if " sns Publish " in f" {k} ")
    sqs = sum(v for k, v in figures.items()
              if " sqs " in f" {k} " and k.split()[-1] in (monitoring.EVENTS, monitoring.PIDBOX,
                                                            monitoring.REPLY))
    return sns, sqs


def price(sns: float, sqs: float) -> float:
    """US dollars for that many million SNS publishes and SQS requests."""
    return sns * PRICE_PER_MILLION["sns"] + sqs * PRICE_PER_MILLION["sqs"]


def per_task_cost(figures: dict) -> dict:
    sns, sqs = monitoring_requests(figures)
    return {"sns_publishes": round(sns, 3), "sqs_monitoring_requests": round(sqs, 3),
            "usd_per_million_tasks": round(price(sns, sqs), 3)}


def per_day_cost(figures: dict) -> dict:
    sns, sqs = monitoring_requests(figures)
    return {"sns_publishes": round(sns), "sqs_monitoring_requests": round(sqs),
            "usd_per_day": round(price(sns, sqs) / 1e6, 5),
            "usd_per_30_days": round(price(sns, sqs) * 30 / 1e6, 3)}


def run(jobs: int, trickle: int, idle_seconds: float) -> dict:
    results = {}
    with contextlib.ExitStack() as outer:
        scratch = Path(outer.enter_context(tempfile.TemporaryDirectory(prefix="bench-flower-")))
        moto, endpoint = services.start_moto(services.free_port(), scratch / "logs")
        outer.callback(moto.stop)
        database_url, _ = start_database(outer, scratch)
        for name, (overrides, with_flower) in SCENARIOS.items():
            print(f"{name}: measuring…", flush=True)
            with contextlib.ExitStack() as stack:
                scenario = Scenario(stack, endpoint, database_url, scratch / "logs", overrides)
                scenario.start(with_flower)
                results[name] = {"settings": overrides, "flower": with_flower,
                                 **measure(scenario, jobs, trickle, idle_seconds)}
    return summarise(results, jobs, trickle, idle_seconds)


def summarise(results: dict, jobs: int, trickle: int, idle_seconds: float) -> dict:
    for figures in results.values():
        figures["per_task_monitoring"] = {
            phase: per_task_cost(figures[phase]) for phase in ("burst", "one at a time")}
        figures["per_day_at_rest_monitoring"] = per_day_cost(figures["idle_per_day"])
    return {
        "benchmark": "bench/flower_cost.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "jobs_burst": jobs, "jobs_one_at_a_time": trickle, "idle_seconds": idle_seconds,
        "prices_usd_per_million": PRICE_PER_MILLION,
        "defaults": {k: v for k, v in Settings().to_env().items() if k in (
            "WORKER_HEARTBEAT_INTERVAL", "SQS_WAIT_TIME_SECONDS", "MONITORING_LEASE_SECONDS")},
        "flower": monitoring.FLOWER_ENV, "worker_concurrency": 2, "moto": "5.2.5",
        "scenarios": results,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs sent at once")
    parser.add_argument("--trickle", type=int, default=40, help="jobs sent one at a time")
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS,
                        help="seconds of rest to measure per scenario")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    result = run(args.jobs, args.trickle, args.idle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, figures in result["scenarios"].items():
        print(f"{name}: per task {figures['per_task_monitoring']}, "
              f"per day at rest {figures['per_day_at_rest_monitoring']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
