"""What every benchmark starts from: moto, a scratch database, provisioned
queues and bucket, and helpers to start workers and the web app as children.

Every piece is registered on a ``contextlib.ExitStack`` and stopped when it
closes. ``DATABASE_URL``, if set, names a PostgreSQL server to create the
scratch database on; otherwise an embedded one is started.
"""
from __future__ import annotations

import contextlib
import math
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import requests

from core import aws
from core.provision import apply as provision
from core.settings import Settings, normalise_database_url
from stack import services

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], pct: float, digits: int = 1) -> float:
    """Nearest-rank percentile, rounded to ``digits``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], digits)


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


def start_base(stack: contextlib.ExitStack, name: str, **overrides) -> tuple[Settings, Path, str]:
    """moto, a migrated scratch database and provisioned queues and bucket.

    Returns (settings with ``overrides`` applied, the log folder, where the
    database lives).
    """
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{name}-")))
    logs = scratch / "logs"
    moto, endpoint = services.start_moto(services.free_port(), logs)
    stack.callback(moto.stop)
    database_url, where = start_database(stack, scratch)
    tag = uuid.uuid4().hex[:8]
    settings = Settings(database_url=database_url, aws_endpoint_url=endpoint,
                        queue_prefix=f"bench{tag}-", bucket=f"bench{tag}-files", **overrides)
    provision(settings, aws.client(settings, "sqs"), aws.client(settings, "s3"))
    return settings, logs, where


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


def start_workers(stack: contextlib.ExitStack, settings: Settings, logs: Path,
                  count: int = 1, deadline: float = 90) -> list[services.Child]:
    """``count`` warm workers (``python -m worker``), each ready before this returns."""
    workers = [start_child(stack, f"worker{n}", [sys.executable, "-m", "worker"],
                           child_env(settings, WORKER_NAME=f"bench{n}"), logs)
               for n in range(count)]
    for child in workers:
        services.wait_for(lambda: worker_ready(child), deadline, "a worker to be ready")
    return workers


# The header that makes a benchmark's API calls as the user ``bench`` (set by start_web).
AUTH: dict[str, str] = {}


def start_web(stack: contextlib.ExitStack, settings: Settings, logs: Path) -> str:
    """The web app under gunicorn (2 workers, 4 threads); returns its URL.

    Also creates the user ``bench`` and puts its API token in ``AUTH``.
    """
    port = services.free_port()
    web = f"http://127.0.0.1:{port}"
    gunicorn = start_child(stack, "web", [
        sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", "4", "webapp:create_app()"], child_env(settings), logs)
    services.wait_for(lambda: web_ready(gunicorn, web), 60, f"the web app on {web}")
    AUTH["Authorization"] = f"Bearer {bench_token(settings.database_url)}"
    return web


def bench_token(database_url: str) -> str:
    """An API token of the user ``bench``, created with the account if need be."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from store import accounts
    from store.models import User
    engine = create_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            user = session.scalar(select(User).where(User.username == "bench"))
            if user is None:
                user = accounts.create_user(session, "bench", "bench@localhost",
                                            secrets.token_urlsafe(16))
            token = accounts.create_token(session, user, "benchmark")[1]
            session.commit()
            return token
    finally:
        engine.dispose()


def peak_memory_mb(workers: list) -> list[dict]:
    """VmHWM of each worker's main process and pool processes."""
    out = []
    for child in workers:
        pids = [child.pid] + [int(p) for p in subprocess.run(
            ["pgrep", "-P", str(child.pid)], capture_output=True, text=True).stdout.split()]
        for pid in pids:
            status = Path(f"/proc/{pid}/status").read_text()
            kb = next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmHWM"))
            out.append({"pid": pid, "role": "main" if pid == child.pid else "pool",
                        "peak_mb": round(kb / 1024, 1)})
    return out
