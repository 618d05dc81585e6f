"""Flower over SQS: a real worker, a real Flower process and the celery CLI,
with events and remote control crossing moto's SNS and SQS over HTTP."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from broker import monitor_queues, monitoring
from core import aws
from stack import services
from stack.services import wait_for
from tests.support.jobs import Sender, create, wait_finished
from tests.support.monitoring import footprint

ROOT = Path(__file__).resolve().parents[2]
AUTH = ("operator", "s3cret-flower")


@pytest.fixture
def sender(settings, queue_urls):
    return Sender(settings, queue_urls)


@pytest.fixture
def start_flower(settings, queue_urls, tmp_path):
    """Start Flower as ``make run`` does (basic auth; the SQS defaults come from
    worker/flower.py) on a free port."""
    started = []

    def start() -> tuple[str, services.Child]:
        port = services.free_port()
        child = services.spawn(
            "flower", [sys.executable, "-m", "celery", "--app", "worker.flower:app", "flower",
                       "--address=127.0.0.1", f"--port={port}", f"--basic-auth={':'.join(AUTH)}"],
            env=services.python_env(**settings.to_env()), log_dir=tmp_path / "logs",
            cwd=str(ROOT))
        started.append(child)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(child, f"{url}/healthcheck"), 60, "Flower to answer")
        return url, child

    yield start
    for child in started:
        child.stop(timeout=15)


def _answers(child: services.Child, url: str) -> bool:
    if not child.alive():
        raise services.ChildExited(f"{child.name} exited:\n{child.tail()}")
    return requests.get(url, timeout=2).ok


def _api(url: str, path: str):
    response = requests.get(f"{url}{path}", auth=AUTH, timeout=15)
    response.raise_for_status()
    return response.json()


def _celery_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "celery", "--app", "worker.flower:app", *args],
        env=services.python_env(**settings.to_env()), cwd=str(ROOT),
        capture_output=True, text=True, timeout=120)


def _run_jobs(app, engine, sender, cases) -> dict[str, str]:
    """Run each (kind, params, state) job to its end; returns task id -> expected state."""
    expected = {}
    for kind, params, state in cases:
        job_id = create(app, kind, params)
        expected[sender.celery.send_task(kind, args=[job_id], queue="default").id] = state
        wait_finished(engine, job_id, timeout=60)
    return expected


def test_flower_shows_the_worker_online_and_each_task_as_it_ended(
        app, engine, sender, start_worker, start_flower):
    worker = start_worker("w1")
    url, _ = start_flower()
    # Events sent before Flower subscribes are not for Flower.
    wait_for(lambda: _api(url, "/api/workers?status=1"), 30, "Flower to hear the worker")
    expected = _run_jobs(app, engine, sender, [("test.sleep", {"seconds": 0.2}, "SUCCESS"),
                                               ("test.flaky", {"failures": 1}, "SUCCESS"),
                                               ("test.broken", {}, "FAILURE")])

    def tasks_ended():
        tasks = _api(url, "/api/tasks")
        return all(tasks.get(t, {}).get("state") == s for t, s in expected.items()) and tasks

    tasks = wait_for(tasks_ended, 30, "Flower to show every task's end", interval=0.5)
    node = f"w1@{socket.gethostname()}"
    assert {tasks[t]["worker"] for t in expected} == {node}
    for task_id, state in expected.items():
        assert tasks[task_id]["received"] and tasks[task_id]["started"]
        if state == "SUCCESS":
            assert tasks[task_id]["runtime"] > 0
        else:
            assert tasks[task_id]["failed"] >= tasks[task_id]["started"]
    flaky = next(t for t in expected if tasks[t]["name"] == "test.flaky")
    assert tasks[flaky]["retries"] == 1
    broken = next(t for t in expected if tasks[t]["name"] == "test.broken")
    assert "not an email address" in tasks[broken]["exception"]

    assert _api(url, "/api/workers?status=1") == {node: True}
    workers = _api(url, "/api/workers?refresh=1")
    assert workers[node]["stats"]["pid"] == worker.pid
    assert requests.get(f"{url}/api/tasks", timeout=5).status_code == 401
    metrics = requests.get(f"{url}/metrics", timeout=5)
    assert metrics.ok, "Prometheus scrapes /metrics without the password"
    assert f'flower_worker_online{{worker="{node}"}} 1.0' in metrics.text
    assert 'flower_events_total{task="test.broken",type="task-failed"' in metrics.text


def test_celery_inspect_answers_over_sns_and_leaves_no_reply_queue(
        settings, sqs, start_worker):
    start_worker("w1")
    node = f"w1@{socket.gethostname()}"

    # With a destination the CLI stops at the first answer instead of its timeout.
    ping = _celery_cli(settings, "inspect", "ping", "-d", node, "--timeout", "10")
    stats = _celery_cli(settings, "inspect", "stats", "-d", node, "--timeout", "10", "--json")
    active = _celery_cli(settings, "inspect", "active", "-d", node, "--timeout", "10")

    assert ping.returncode == 0, ping.stderr
    assert f"{node}: OK" in ping.stdout and "pong" in ping.stdout
    assert stats.returncode == 0 and json.loads(stats.stdout)[node]["pool"]["max-concurrency"] == 1
    assert active.returncode == 0 and node in active.stdout
    roles = [role for _, role in monitor_queues.monitoring_queues(sqs, settings.queue_prefix)]
    assert roles == [monitoring.PIDBOX]


@pytest.mark.settings(monitoring_lease_seconds=3)
def test_workers_and_monitors_that_come_and_go_leave_no_queues_or_subscriptions(
        settings, sqs, start_worker, start_flower):
    sns = aws.client(settings, "sns")
    before = footprint(settings, sqs, sns)
    _, flower = start_flower()
    for n in range(3):
        worker = start_worker(f"cycle{n}")
        if n == 0:
            ping = _celery_cli(settings, "inspect", "ping", "--timeout", "5")
            assert ping.returncode == 0 and "pong" in ping.stdout
        assert worker.stop() == 0
    killed = start_worker("killed")
    killed.signal(signal.SIGKILL)
    killed.popen.wait(10)
    left = footprint(settings, sqs, sns)
    assert left[0] == ["events", "pidbox"] and len(left[1]) == 2

    # A sweep may take the killed worker's queue only once its lease has run out.
    time.sleep(settings.monitoring_lease_seconds + 1)
    start_worker("sweeper").stop()
    queues, subscriptions = footprint(settings, sqs, sns)
    assert queues == ["events"]
    assert len(subscriptions) == 1 and subscriptions[0].startswith(
        f"{settings.queue_prefix}celeryev-")
    flower.stop()

    assert footprint(settings, sqs, sns) == before == ([], [])
