"""What the chaos experiments run on and how they count what went wrong.

``Base`` is shared by every experiment: moto behind a TCP relay that can be cut,
a PostgreSQL that can be restarted, one migrated database. Each experiment gets
a ``Rig`` of its own: fresh queues and bucket (so one experiment's dead letters
never count in another's), its own workers, and canary jobs sent through it as
bystanders. An ``Outcome`` holds its figures; the must-be-zero ones decide the
bench's exit status.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import text

from bench import harness
from bench.faults import RestartablePostgres, TcpRelay
from core import aws, lifecycle
from core.provision import apply as provision
from core.settings import Settings, normalise_database_url
from service.submit import submit
from stack import services
from store import db, jobstore
from tests.support.jobs import Sender, row, wait_finished
from tests.support.tasks import EXECUTIONS_DDL

OWNER = "chaos"
TEST_TASKS = "tests.support.tasks"  # test.crash, test.sleep: tasks that misbehave on purpose


@dataclass
class Base:
    """What every experiment shares."""

    endpoint: str                  # moto itself, for the bench's own looks
    relay: TcpRelay | None         # what every process under test talks to
    database_url: str
    logs: Path
    postgres: RestartablePostgres | None = None
    overrides: dict = field(default_factory=dict)  # settings every rig starts from


def start_base(stack: contextlib.ExitStack, overrides: dict) -> Base:
    """moto behind a relay, an embedded PostgreSQL of our own, a migrated database."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-chaos-")))
    logs = scratch / "logs"
    port = services.free_port()
    moto, endpoint = services.start_moto(port, logs)
    stack.callback(moto.stop)
    relay = TcpRelay(("127.0.0.1", port))
    stack.callback(relay.close)
    # Always our own server, even with DATABASE_URL set: the bench stops and starts it.
    postgres = RestartablePostgres(scratch / "pgdata")
    admin = postgres.start()
    stack.callback(postgres.stop)
    name, url = services.scratch_database(admin, prefix="jobsys_chaos")
    stack.callback(services.drop_database, admin, name)
    url = normalise_database_url(url)
    services.migrate(url)
    with db.engine(url).begin() as conn:
        conn.execute(text(EXECUTIONS_DDL))
    return Base(endpoint, relay, url, logs, postgres, overrides)


class Rig:
    """One experiment's queues, bucket and workers; stopped when its stack closes.

    ``settings`` is what the processes under test use (through the relay);
    ``direct`` reaches moto itself, so the bench can look while the relay is cut.
    """

    _names = itertools.count(1)

    def __init__(self, stack: contextlib.ExitStack, settings: Settings, logs: Path,
                 direct: Settings | None = None):
        self.stack, self.settings, self.logs = stack, settings, logs
        self.direct = direct or settings
        self.sqs = aws.client(self.direct, "sqs")
        self.s3 = aws.client(self.direct, "s3")
        self.queue_urls = provision(self.direct, self.sqs, self.s3)
        self.engine = db.engine(settings.require_database())
        self.sessions = db.sessions(settings.require_database())
        self._enqueuer = None
        self._sender = None

    @classmethod
    def on(cls, stack: contextlib.ExitStack, base: Base, **overrides) -> "Rig":
        tag = uuid.uuid4().hex[:8]
        direct = Settings(database_url=base.database_url, aws_endpoint_url=base.endpoint,
                          queue_prefix=f"chaos{tag}-", bucket=f"chaos{tag}-files",
                          **{**base.overrides, **overrides})
        relayed = replace(direct, aws_endpoint_url=base.relay.url) if base.relay else direct
        return cls(stack, relayed, base.logs, direct)

    def url(self, workload: str, dead: bool = False) -> str:
        name = self.settings.dead_letter_name(workload) if dead else \
            self.settings.queue_name(workload)
        return self.queue_urls[name]

    def worker(self, queues: tuple[str, ...], wait: bool = True, **env) -> services.Child:
        """A fresh ``python -m worker`` on ``queues``, ready before this returns."""
        name = f"{queues[0]}{next(self._names)}"
        env = {**self.settings.to_env(), "WORKER_NAME": name, "WORKER_QUEUES": ",".join(queues),
               "WORKER_HEALTH_FILE": str(self.logs / f"{name}.health"), **env}
        child = harness.start_child(self.stack, name, [sys.executable, "-m", "worker"],
                                    services.python_env(**env), self.logs)
        if wait:
            services.wait_for(lambda: harness.worker_ready(child), 120, f"worker {name}")
        return child

    def submit(self, kind: str, params: dict) -> str:
        """A job submitted as the web app does (record, commit, send)."""
        if self._enqueuer is None:
            from broker.enqueue import CeleryEnqueuer
            self._enqueuer = CeleryEnqueuer(self.settings)
        with self.sessions() as session:
            return str(submit(session, self._enqueuer, kind, OWNER, params).job.id)

    def create(self, kind: str, params: dict | None = None) -> str:
        """A queued job whose message nobody sends (the caller sends it, or not)."""
        with db.unit_of_work(self.sessions) as session:
            return str(jobstore.create(session, kind=kind, owner=OWNER, params=params or {})[0].id)

    def send(self, task: str, job_id: str, queue: str = "default") -> None:
        if self._sender is None:
            self._sender = Sender(self.settings, self.queue_urls)
        self._sender.send(task, job_id, queue)

    def job(self, job_id: str) -> dict:
        return row(self.engine, job_id)

    def finished(self, job_id: str, timeout: float) -> dict | None:
        """The job once finished, or None after ``timeout`` (a lost job)."""
        try:
            return wait_finished(self.engine, job_id, timeout)
        except TimeoutError:
            return None


class Supervised:
    """One worker on ``queues``, replaced whenever it dies (as an ECS service replaces a
    stopped task); counts the deaths."""

    def __init__(self, rig: Rig, queues: tuple[str, ...]):
        self.rig, self.queues = rig, queues
        self.current = rig.worker(queues)
        self.deaths = 0

    def check(self) -> None:
        if not self.current.alive():
            self.deaths += 1
            self.current = self.rig.worker(self.queues, wait=False)


def wait_all(rig: Rig, worker: Supervised, job_ids: list[str], timeout: float) -> dict:
    """The jobs once finished (None: not within ``timeout``), keeping a worker alive."""
    def finished():
        worker.check()
        jobs = {j: rig.job(j) for j in job_ids}
        return all(j["status"] in lifecycle.FINISHED for j in jobs.values()) and jobs
    try:
        return services.wait_for(finished, timeout, "the good jobs", interval=0.2)
    except TimeoutError:
        jobs = {j: rig.job(j) for j in job_ids}
        return {k: (v if v["status"] in lifecycle.FINISHED else None) for k, v in jobs.items()}


def seconds_between(start, end) -> float | None:
    if start is None or end is None:
        return None
    start = start.timestamp() if hasattr(start, "timestamp") else start
    end = end.timestamp() if hasattr(end, "timestamp") else end
    return round(end - start, 2)


class Bystanders:
    """Canary jobs sent every ``every`` seconds through an experiment.

    A canary is affected when it fails, is never finished, or waits in the queue
    longer than ``slow_after`` seconds plus the outage the experiment caused.
    """

    def __init__(self, rig: Rig, every: float = 2.0, slow_after: float = 10.0):
        self.rig, self.every, self.slow_after = rig, every, slow_after
        self.sent: list[str] = []
        self.refused: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bystanders", daemon=True)

    def __enter__(self) -> "Bystanders":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while True:
            try:
                self.sent.append(self.rig.submit("canary", {}))
            except Exception as exc:  # a fault may refuse it: not accepted, not a bystander
                self.refused.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            if self._stop.wait(self.every):
                return

    def count(self, outage: float = 0.0, timeout: float = 60) -> dict:
        """Wait for every accepted canary; how many were affected, lost, and their waits."""
        deadline = time.monotonic() + timeout
        waits, affected, lost = [], 0, 0
        for job_id in self.sent:
            job = self.rig.finished(job_id, max(1.0, deadline - time.monotonic()))
            if job is None:
                lost += 1
                continue
            wait = seconds_between(job["created_at"], job["started_at"])
            if wait is not None:
                waits.append(wait)
            if job["status"] != lifecycle.SUCCEEDED or (wait or 0) > self.slow_after + outage:
                affected += 1
        return {"sent": len(self.sent), "refused_at_submit": len(self.refused),
                "affected": affected + lost, "lost": lost,
                "queue_wait_p50_s": harness.percentile(waits, 50, 2) if waits else None,
                "queue_wait_max_s": round(max(waits), 2) if waits else None,
                "refusals": sorted(set(self.refused))[:3]}


MUST_BE_ZERO = ("jobs_lost", "jobs_run_twice", "wrong_results")


@dataclass
class Outcome:
    """One experiment's figures. ``holes()`` names the must-be-zero ones that are not."""

    name: str
    title: str
    jobs_lost: int = 0
    jobs_run_twice: int = 0
    wrong_results: int = 0
    recovery_seconds: float | None = None
    bystanders: dict = field(default_factory=dict)
    gate_bystanders: bool = True  # False where the fault hits every job by design
    also_zero: dict = field(default_factory=dict)  # the experiment's own must-be-zero figures
    raw: dict = field(default_factory=dict)
    crashed: str | None = None  # the experiment itself could not run to its end

    def add_bystanders(self, counted: dict) -> None:
        self.bystanders = counted
        self.jobs_lost += counted["lost"]

    def holes(self) -> dict:
        figures = {k: getattr(self, k) for k in MUST_BE_ZERO}
        figures.update(self.also_zero)
        if self.gate_bystanders:
            figures["bystanders_affected"] = self.bystanders.get("affected", 0)
        if self.crashed:
            figures["experiment_crashed"] = 1
        return {k: v for k, v in figures.items() if v}
