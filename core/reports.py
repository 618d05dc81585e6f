"""Workers' reports to the autoscaler: when a worker is ready, and how long its jobs ran.

They travel on the wake queue beside the producers' wake signals (``core.wake``), and the
autoscaler learns start-up and service times from them (``autoscaler.estimates``):

* ``{"ready": workload}``, once for each queue a worker consumes, when it starts taking tasks;
* ``{"report": workload, "service_seconds": mean, "jobs": n}``: the mean run time of the jobs
  a process ended since its last report, at most once per workload per ``REPORT_SLOT_SECONDS``
  per process, and once more when the process stops holding jobs not yet reported.

Best-effort: a process's messages go out from a thread of its own, and a failed send is
logged and dropped, so a report never fails or delays a job.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from core import wake

log = logging.getLogger(__name__)

REPORT_SLOT_SECONDS = 60.0


@dataclass(frozen=True)
class Report:
    """The mean run time of ``jobs`` jobs of a workload, let out in time slot ``slot``."""

    workload: str
    service_seconds: float
    jobs: int
    slot: int
    last: bool = False

    def body(self) -> dict:
        """The message body."""
        return {"report": self.workload, "service_seconds": round(self.service_seconds, 3),
                "jobs": self.jobs}

    def dedup_id(self, process: str) -> str:
        """Unique per process and slot (the last report of a process has its own)."""
        return f"report-{self.workload}-{process}-{self.slot}{'-last' if self.last else ''}"


class Tally:
    """Run times of ended jobs per workload, let out at most once per workload per slot."""

    def __init__(self, slot: float = REPORT_SLOT_SECONDS):
        self.slot = slot
        self._held: dict[str, tuple[float, int]] = {}
        self._sent: dict[str, int] = {}

    @property
    def holding(self) -> bool:
        """Whether any run time waits to be reported."""
        return bool(self._held)

    def add(self, workload: str, seconds: float) -> None:
        """Hold one job's run time."""
        total, count = self._held.get(workload, (0.0, 0))
        self._held[workload] = (total + seconds, count + 1)

    def due(self, now: float, last: bool = False) -> list[Report]:
        """The reports that may go out at ``now``: of each workload not yet reported in
        ``now``'s slot, or with ``last`` of every workload held."""
        slot = int(now // self.slot)
        out = [w for w in self._held if last or self._sent.get(w) != slot]
        reports = []
        for workload in out:
            total, count = self._held.pop(workload)
            reports.append(Report(workload, total / count, count, slot,
                                  last=self._sent.get(workload) == slot))
            self._sent[workload] = slot
        return reports


class Reporter:
    """Tells the autoscaler about this worker. This base tells nothing: a worker without a
    wake queue, or a runtime the autoscaler does not scale (a Lambda pool)."""

    def ready(self, workloads: Iterable[str]) -> None:
        """The worker takes tasks from the queues of ``workloads`` from now on."""

    def ended(self, workload: str, seconds: float) -> None:
        """A job from ``workload``'s queue ran for ``seconds`` and ended."""

    def close(self) -> None:
        """Send what this process still holds; called as the process stops."""


class MemoryReporter(Reporter):
    """Records what it is told."""

    def __init__(self):
        self.readies: list[str] = []
        self.jobs: list[tuple[str, float]] = []

    def ready(self, workloads: Iterable[str]) -> None:
        self.readies.extend(workloads)

    def ended(self, workload: str, seconds: float) -> None:
        self.jobs.append((workload, seconds))


class SqsReporter(Reporter):
    """Sends reports to the wake queue from a daemon thread in each process that has any
    (Celery's prefork children run the tasks: each sends its own, on its own client)."""

    def __init__(self, make_sqs: Callable[[], object], queue_url: str,
                 clock: Callable[[], float] = time.time, slot: float = REPORT_SLOT_SECONDS,
                 interval: float = 1.0):
        self.make_sqs, self.queue_url, self.clock = make_sqs, queue_url, clock
        self.slot, self.interval = slot, interval
        self._forget()
        # A forked child starts with no outbox: the parent's thread does not live in it.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._outbox: _Outbox | None = None

    def ready(self, workloads: Iterable[str]) -> None:
        self._hand(lambda outbox: outbox.ready(workloads))

    def ended(self, workload: str, seconds: float) -> None:
        self._hand(lambda outbox: outbox.ended(workload, seconds))

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            outbox, self._outbox = self._outbox, None
        if outbox is not None:
            outbox.stop(timeout)

    def _hand(self, give: Callable[["_Outbox"], None]) -> None:
        try:
            with self._lock:
                if self._outbox is None:
                    self._outbox = _Outbox(self)
                outbox = self._outbox
            give(outbox)
        except Exception as exc:  # a report must never fail the job that made it
            log.warning("could not hand a report over for the autoscaler: %s", exc)


class _Outbox:
    """One process's reports: handed over by its tasks, sent by its own thread."""

    def __init__(self, reporter: SqsReporter):
        self.reporter = reporter
        self.process = uuid.uuid4().hex[:12]
        self.tally = Tally(reporter.slot)
        self.pending: list[tuple[str, str, dict]] = []
        self.sqs = None
        self.lock, self.poke, self.stopping = threading.Lock(), threading.Event(), False
        self.thread = threading.Thread(target=self._run, name="reports", daemon=True)
        self.thread.start()

    def ready(self, workloads: Iterable[str]) -> None:
        with self.lock:
            self.pending += [(w, f"ready-{w}-{self.process}", {"ready": w}) for w in workloads]
        self.poke.set()

    def ended(self, workload: str, seconds: float) -> None:
        with self.lock:
            self.tally.add(workload, seconds)
        self.poke.set()

    def stop(self, timeout: float) -> None:
        """Send what is held, whatever the slot, and end the thread."""
        self.stopping = True
        self.poke.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            self.poke.wait(self.reporter.interval if self.tally.holding else None)
            self.poke.clear()
            last = self.stopping
            with self.lock:
                out, self.pending = self.pending, []
                out += [(r.workload, r.dedup_id(self.process), r.body())
                        for r in self.tally.due(self.reporter.clock(), last=last)]
            for message in out:
                self._send(*message)
            if last:
                return

    def _send(self, workload: str, dedup: str, body: dict) -> None:
        try:
            if self.sqs is None:
                self.sqs = self.reporter.make_sqs()
            wake.send(self.sqs, self.reporter.queue_url, workload, dedup, body)
        except Exception as exc:  # best-effort: the thread goes on
            log.warning("could not send %s to the autoscaler's wake queue: %s", body, exc)
