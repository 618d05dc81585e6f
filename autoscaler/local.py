"""Worker processes on this machine, started and stopped by the autoscaler (local mode)."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from autoscaler.scalers import WorkerScaler


class LocalProcessScaler(WorkerScaler):
    """One pool's worker processes (``python -m worker``), tracked by the PIDs it started.

    Each worker starts in its own process group; a scale-in sends SIGTERM to the
    newest worker's main process, which stops taking messages and finishes its
    task (Celery's warm shutdown). A worker told to stop no longer counts. It
    only ever signals processes it started and has not yet reaped.
    """

    def __init__(self, pool: str, command: Sequence[str], env: Mapping[str, str],
                 cwd: str | None = None, log_dir: Path | None = None,
                 popen: Callable[..., subprocess.Popen] = subprocess.Popen):
        self.pool, self.command, self.env = pool, list(command), dict(env)
        self.cwd, self.log_dir, self.popen = cwd, log_dir, popen
        self.running: list[subprocess.Popen] = []  # oldest first
        self.stopping: list[subprocess.Popen] = []
        self._started = 0

    def current(self) -> int:
        self._reap()
        return len(self.running)

    def set_desired(self, desired: int) -> None:
        self._reap()
        while len(self.running) < desired:
            self.running.append(self._start())
        while len(self.running) > max(desired, 0):
            self._stop(self.running.pop())

    def pids(self) -> list[int]:
        """PIDs of the running workers, oldest first (stopping ones excluded)."""
        self._reap()
        return [p.pid for p in self.running]

    def close(self, timeout: float = 30.0) -> None:
        """Stop every worker it started: SIGTERM, then SIGKILL their groups after ``timeout``."""
        for process in reversed(self.running):
            self._stop(process)
        self.running.clear()
        deadline = time.monotonic() + timeout
        for process in self.stopping:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(process.pid, signal.SIGKILL)
                process.wait(10)
        self.stopping.clear()

    def _start(self) -> subprocess.Popen:
        self._started += 1
        name = f"{self.pool}-{os.getpid()}-{self._started}"
        env = dict(self.env, WORKER_NAME=name)
        out = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            env["WORKER_HEALTH_FILE"] = str(self.log_dir / f"{name}.health")
            out = open(self.log_dir / f"{name}.log", "ab")
        try:
            return self.popen(self.command, env=env, cwd=self.cwd, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              start_new_session=True)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def _stop(self, process: subprocess.Popen) -> None:
        # poll() first: a reaped PID may already belong to someone else's process.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            self.stopping.append(process)

    def _reap(self) -> None:
        self.running = [p for p in self.running if p.poll() is None]
        self.stopping = [p for p in self.stopping if p.poll() is None]


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
