"""Two paths in one run: the default pool on Lambda (``python -m worker.lambda_pool``, the
local stand-in of its event source mapping) and the exports pool on ECS (worker processes
started by ``python -m autoscaler`` in local mode), real jobs through the API."""
from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import text

from autoscaler.rounds import decisions_in
from core import lifecycle
from stack import customers, services
from stack.services import wait_for
from tests.support.accounts import signed_in
from tests.support.jobs import queue_depth, row, wait_finished
from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]


def decisions(log: Path) -> list[dict]:
    return [record for _, record in decisions_in(log.read_text(errors="replace").splitlines())]


def test_a_canary_runs_on_the_lambda_pool_and_an_export_on_a_worker_the_autoscaler_starts(
        settings, queue_urls, engine, clean_imports, sqs, tmp_path):
    with engine.begin() as conn:
        customers.fill(conn, 50)
    env = services.python_env(**{
        **settings.to_env(), "AUTOSCALER_POOLS": "default,exports", "AUTOSCALER_INTERVAL": "1",
        "POOL_DEFAULT_RUNTIME": "lambda", "POOL_EXPORTS_RUNTIME": "ecs",
        "POOL_EXPORTS_MAX": "1", "POOL_EXPORTS_COOLDOWN": "4"})
    logs = tmp_path / "logs"
    autoscaler = services.spawn("autoscaler", [sys.executable, "-m", "autoscaler", "--log-dir",
                                               str(logs / "workers")], env=env, log_dir=logs,
                                cwd=str(ROOT))
    lambda_loop = services.spawn(
        "lambda-default", [sys.executable, "-m", "worker.lambda_pool"],
        env=dict(env, WORKER_QUEUES="default", LAMBDA_CONCURRENCY="2"), log_dir=logs,
        cwd=str(ROOT))
    try:
        wait_for(lambda: decisions(autoscaler.log_path), 60, "the autoscaler's first round")
        wait_for(lambda: "polling" in lambda_loop.tail(), 60, "the Lambda pool's loop")
        client = signed_in(create_app({"TESTING": True}, settings=settings).test_client())
        canary = client.post("/api/jobs", json={"kind": "canary", "params": {}})
        export = client.post("/api/jobs", json={"kind": "export",
                                                "params": {"dataset": "customers"}})
        assert canary.status_code == export.status_code == 202

        ran = {kind: wait_finished(engine, answer.get_json()["id"], timeout=90)
               for kind, answer in (("canary", canary), ("export", export))}
        assert {kind: job["status"] for kind, job in ran.items()} == {
            "canary": lifecycle.SUCCEEDED, "export": lifecycle.SUCCEEDED}
        assert [job["attempts"] for job in ran.values()] == [1, 1], "each ran once"
        assert ran["canary"]["worker"].startswith("lambda:local:")
        assert ran["export"]["worker"].startswith("exports-")  # <pool>-…@<host>:<pid>
        assert ran["export"]["result"]["rows"] == 50

        made = decisions(autoscaler.log_path)
        assert {d["pool"] for d in made} == {"exports"}, "the Lambda pool is not autoscaled"
        assert any(d.get("applied") and d["desired"] == 1 for d in made)
        assert list((logs / "workers").glob("exports-*.log")), "it started an exports worker"
        wait_for(lambda: queue_depth(sqs, queue_urls[settings.queue_name("default")])
                 == (0, 0, 0), 30, "the canary's message to be deleted")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 2
    finally:
        assert lambda_loop.stop(timeout=30) == 0
        assert autoscaler.stop(timeout=60) == 0
    assert "stopped" in lambda_loop.tail()
    assert row(engine, canary.get_json()["id"])["status"] == lifecycle.SUCCEEDED
