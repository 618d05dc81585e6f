"""A worker's life in ECS: scale-in protection while busy, graceful SIGTERM,
exit when idle (RunTask mode), a health check ECS can call."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import lifecycle
from stack.services import python_env, wait_for
from tests.support.jobs import Sender, create, executions, row, wait_status


@pytest.fixture
def sender(settings, queue_urls):
    return Sender(settings, queue_urls)


@pytest.fixture
def ecs_agent():
    """A stand-in for the ECS agent's task-protection endpoint that records each call."""
    calls = []

    class Agent(BaseHTTPRequestHandler):
        def do_PUT(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((self.path, body))
            reply = json.dumps({"protection": {"ProtectionEnabled": body["ProtectionEnabled"]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Agent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", calls
    server.shutdown()


def test_a_busy_worker_protects_its_task_from_scale_in_and_drops_it_when_idle(
        app, engine, sender, start_worker, ecs_agent):
    agent_uri, calls = ecs_agent
    start_worker(ECS_AGENT_URI=agent_uri, WORKER_PROTECTION_MINUTES="30")
    job_id = create(app, "test.sleep", {"seconds": 1})
    sender.send("test.sleep", job_id)

    wait_status(engine, job_id, lifecycle.SUCCEEDED)
    wait_for(lambda: calls and calls[-1][1] == {"ProtectionEnabled": False}, 10,
             "protection to be dropped")

    assert calls[0] == ("/task-protection/v1/state",
                        {"ProtectionEnabled": True, "ExpiresInMinutes": 30})


def test_sigterm_lets_the_running_task_finish_and_leaves_queued_work_for_others(
        app, engine, sender, start_worker):
    busy = start_worker("busy")
    first = create(app, "test.sleep", {"seconds": 3})
    second = create(app, "test.sleep", {"seconds": 0})
    sender.send("test.sleep", first)
    wait_status(engine, first, lifecycle.RUNNING)
    sender.send("test.sleep", second)

    busy.popen.send_signal(signal.SIGTERM)  # as ECS does: to the main process only
    assert busy.popen.wait(60) == 0
    assert row(engine, first)["status"] == lifecycle.SUCCEEDED

    start_worker("next")
    wait_status(engine, second, lifecycle.SUCCEEDED, timeout=60)
    assert len(executions(engine, first)) == 1
    assert len(executions(engine, second)) == 1


def test_a_worker_in_run_task_mode_exits_after_its_idle_time(start_worker):
    worker = start_worker(WORKER_IDLE_EXIT_SECONDS="2")
    assert worker.popen.wait(60) == 0
    assert "idle for" in worker.tail()


def test_the_health_check_passes_while_the_worker_runs_and_fails_after(
        start_worker, tmp_path):
    worker = start_worker("healthy")
    env = python_env(WORKER_HEALTH_FILE=str(tmp_path / "healthy.health"))
    check = [sys.executable, "-m", "worker.health"]

    alive = subprocess.run(check, env=env, capture_output=True, text=True)
    assert alive.returncode == 0, alive.stdout

    worker.stop()
    gone = subprocess.run(check, env=env, capture_output=True, text=True)
    assert gone.returncode == 1 and "is gone" in gone.stdout


def test_a_worker_reports_to_the_autoscaler_only_where_there_is_a_wake_queue(
        settings, sqs, caplog):
    from core import reports
    from worker.main import _reporter

    with caplog.at_level(logging.WARNING, logger="core.wake"):
        none = _reporter(settings, sqs)
    assert type(none) is reports.Reporter, "no wake queue: a reporter that sends nothing"
    assert "sends the autoscaler no reports" in caplog.text
    sqs.create_queue(QueueName=f"{settings.queue_prefix}wake.fifo",
                     Attributes={"FifoQueue": "true"})
    assert isinstance(_reporter(settings, sqs), reports.SqsReporter)


LOADED = """
import json, sys
from core.settings import Settings
from worker.main import build
celery, _ = build(Settings.from_env())
celery.loader.import_default_modules()
print(json.dumps({"modules": sorted(m for m in sys.modules if m in (
    "weasyprint", "tasks.canary", "tasks.pdf.batch", "tasks.imports.job", "tasks.export")),
    "tasks": sorted(t for t in celery.tasks if not t.startswith("celery."))}))
"""


@pytest.mark.parametrize("queues, modules", [
    ("imports", ["tasks.imports.job"]),
    ("exports", ["tasks.export"]),
    ("default,pdf", ["tasks.canary", "tasks.pdf.batch", "weasyprint"]),
])
def test_a_worker_loads_only_the_task_code_of_its_queues(settings, queue_urls, queues, modules):
    env = python_env(**{**settings.to_env(), "WORKER_QUEUES": queues, "WORKER_EXTRA_IMPORTS": ""})
    out = subprocess.run([sys.executable, "-c", LOADED], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.splitlines()[-1])
    assert loaded["modules"] == modules
    assert all(t.split(".")[0] in {"canary", "pdf", "imports", "export"} for t in loaded["tasks"])
