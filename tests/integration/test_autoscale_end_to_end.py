"""From zero and back: real jobs through the API, real `python -m worker` processes
started and stopped by `python -m autoscaler` in local mode."""
from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import text

from autoscaler.rounds import decisions_in
from core import lifecycle
from stack import services
from stack.services import wait_for
from tests.support.accounts import signed_in
from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]
COOLDOWN = 4


def decisions(log: Path) -> list[dict]:
    """The autoscaler's decision lines for the default pool, in order."""
    return [record for _, record in decisions_in(log.read_text(errors="replace").splitlines())
            if record["pool"] == "default"]


def jobs(engine, ids: list[str]) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            text("SELECT id, status, attempts, result FROM jobs WHERE id = ANY(:ids)"),
            {"ids": ids}).mappings()]


def test_jobs_wake_workers_from_zero_drain_and_the_pool_returns_to_zero(
        settings, queue_urls, engine, tmp_path):
    env = services.python_env(**{
        **settings.to_env(), "AUTOSCALER_POOLS": "default", "AUTOSCALER_INTERVAL": "1",
        "POOL_DEFAULT_MAX": "2", "POOL_DEFAULT_TARGET": "2",
        "POOL_DEFAULT_COOLDOWN": str(COOLDOWN)})
    logs = tmp_path / "logs"
    loop = services.spawn("autoscaler", [sys.executable, "-m", "autoscaler", "--log-dir",
                                         str(logs / "workers")], env=env, log_dir=logs,
                          cwd=str(ROOT))
    try:
        wait_for(lambda: decisions(loop.log_path), 60, "the autoscaler's first round")
        assert decisions(loop.log_path)[-1]["current"] == 0, "the pool starts at zero"

        client = signed_in(create_app({"TESTING": True}, settings=settings).test_client())
        ids = []
        for _ in range(6):
            answer = client.post("/api/jobs", json={"kind": "canary",
                                                    "params": {"sleep_seconds": 1}})
            assert answer.status_code == 202
            ids.append(answer.get_json()["id"])

        wait_for(lambda: all(j["status"] in lifecycle.FINISHED for j in jobs(engine, ids)),
                 120, "the six jobs to finish")
        finished = jobs(engine, ids)
        assert {j["status"] for j in finished} == {lifecycle.SUCCEEDED}
        assert [j["attempts"] for j in finished] == [1] * 6, "no job ran twice"
        assert max(d["desired"] for d in decisions(loop.log_path)) == 2, \
            "six jobs on two-per-worker call for the pool's maximum of two workers"

        def back_to_zero():
            made = decisions(loop.log_path)
            return made[-1]["current"] == 0 and made[-1]["desired"] == 0 and made
        made = wait_for(back_to_zero, 60, "the pool to return to zero")
        assert any(d["reason"].startswith("scale to zero") for d in made)
        worker_logs = list((logs / "workers").glob("default-*.log"))
        assert worker_logs, "the autoscaler started the workers"
        wait_for(lambda: all("Warm shutdown" in p.read_text(errors="replace")
                             for p in worker_logs), 60, "every worker to shut down warmly")
    finally:
        assert loop.stop(timeout=60) == 0
