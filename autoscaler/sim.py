"""Replays a trace through ``decide`` in simulated time, with a simple worker model.

An ECS pool's worker needs ``startup`` seconds before it takes tasks, runs up to
``concurrency`` tasks at once, and counts as used from the moment it is asked
for until it stops. A decision runs every ``interval`` seconds, and
``wake_latency`` seconds after work arrives (the wake signal). Scale-in removes
idle workers first (newest first, like ECS with scale-in protection on busy
tasks); a busy worker asked to stop finishes its tasks and then leaves. With
``idle_exit`` set (ECS RunTask mode) decisions only start workers, and a worker
leaves once it has been idle that long. The pool learns its estimates as the
autoscaler does (``autoscaler.estimates``): a start-up when a worker it asked
for is ready, a service time when a task ends.

A Lambda pool (``autoscaler.lambdasim``) is fed by its event source instead.
Figures are in worker-seconds (``autoscaler.costs``).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from autoscaler import estimates
from autoscaler.decide import Depths, Estimates, PoolState, decide
from autoscaler.lambdasim import LambdaRun
from autoscaler.simseries import Series, waits as wait_figures
from autoscaler.trace import Arrival, SimPool, Trace


@dataclass(frozen=True)
class Result:
    """What a run produced: per-pool series and figures, and totals."""

    span: float
    series: dict[str, Series]
    pools: dict[str, dict]
    totals: dict


@dataclass
class _Worker:
    ready_at: float
    tasks: list[tuple[float, float]] = field(default_factory=list)  # (end, duration)
    stopping: bool = False
    free_since: float = 0.0
    reported: bool = False  # its "ready" has been folded into the estimates


class _PoolRun:
    """One pool's queue, workers and accounting during a run."""

    def __init__(self, pool: SimPool, arrivals: list[Arrival], idle_exit: float | None = None):
        self.pool, self.idle_exit = pool, idle_exit
        self.pending = deque(_expand(arrivals))
        self.queue: deque[tuple[float, float]] = deque()  # (enqueued at, duration)
        self.workers: list[_Worker] = []
        self.state, self.desired, self.wake_at = PoolState(), 0, None
        self.used = self.ideal = self.task_seconds = self.starting = self.idle_time = 0.0
        self.waits: list[float] = []
        self.peak = self.decisions = self.changes = 0
        self.series = Series()

    def idle(self) -> bool:
        return not (self.pending or self.queue or self.workers)

    def running(self) -> int:
        return sum(len(w.tasks) for w in self.workers)

    def step(self, t: float, dt: float, decision_due: bool, wake_latency: float | None) -> None:
        self._arrive(t, wake_latency)
        self._finish(t)
        self._assign(t)
        if decision_due or (self.wake_at is not None and t >= self.wake_at):
            self.wake_at = None
            self._decide(t)
        self.used += len(self.workers) * dt
        self.starting += sum(w.ready_at > t for w in self.workers) * dt
        self.idle_time += sum(w.ready_at <= t and not w.tasks for w in self.workers) * dt
        self.ideal += math.ceil(self.running() / self.pool.concurrency) * dt
        self.peak = max(self.peak, len(self.workers))

    def sample(self, t: float) -> None:
        s = self.series
        s.t.append(t)
        s.backlog.append(len(self.queue) + self.running())
        s.desired.append(self.desired)
        s.running.append(len(self.workers))
        s.ready.append(sum(w.ready_at <= t for w in self.workers))

    def _arrive(self, t, wake_latency) -> None:
        while self.pending and self.pending[0][0] <= t:
            at, duration = self.pending.popleft()
            self.queue.append((at, duration))
            self.task_seconds += duration
            if wake_latency is not None and self.wake_at is None:
                self.wake_at = t + wake_latency

    def _finish(self, t) -> None:
        for worker in self.workers:
            if not worker.reported and worker.ready_at <= t:
                worker.reported = True
                self.state = estimates.ready(self.state, t)
            if worker.tasks:
                for _, duration in (task for task in worker.tasks if task[0] <= t):
                    self.state = estimates.served(self.state, duration, 1)
                worker.tasks = [task for task in worker.tasks if task[0] > t]
                worker.free_since = t
        self.workers = [w for w in self.workers if not (w.stopping and not w.tasks)
                        and not self._idle_out(w, t)]

    def _idle_out(self, worker: _Worker, t: float) -> bool:
        return (self.idle_exit is not None and not worker.tasks and worker.ready_at <= t
                and t - max(worker.free_since, worker.ready_at) >= self.idle_exit)

    def _assign(self, t) -> None:
        free = [w for w in self.workers if not w.stopping and w.ready_at <= t
                and len(w.tasks) < self.pool.concurrency]
        while self.queue and free:
            worker = min(free, key=lambda w: len(w.tasks))  # consumers share the queue
            enqueued, duration = self.queue.popleft()
            worker.tasks.append((t + duration, duration))
            self.waits.append(t - enqueued)
            if len(worker.tasks) >= self.pool.concurrency:
                free.remove(worker)

    def _decide(self, t) -> None:
        active = [w for w in self.workers if not w.stopping]
        depths = Depths(visible=len(self.queue), in_flight=self.running())
        learned = (estimates.current(self.state, 0.0, self.pool.startup)
                   if self.pool.estimates else Estimates())
        decision = decide(depths, len(active), self.pool.policy, t, self.state, learned)
        self.state, self.desired = decision.state, decision.desired
        self.decisions += 1
        self.changes += decision.changes
        for _ in range(decision.desired - len(active)):
            self.workers.append(_Worker(ready_at=t + self.pool.startup))
        # RunTask workers are never stopped by a decision; they leave when idle.
        extra = 0 if self.idle_exit is not None else len(active) - decision.desired
        # Idle (or still starting) workers go first, newest first; busy ones drain.
        for worker in sorted(reversed(active), key=lambda w: bool(w.tasks))[:max(extra, 0)]:
            if worker.tasks:
                worker.stopping = True
            else:
                self.workers.remove(worker)

    def figures(self) -> dict:
        return {"runtime": "ecs", "tasks": len(self.waits), "task_seconds": round(self.task_seconds),
                "used": round(self.used), "ideal": round(self.ideal),
                "starting": round(self.starting), "idle": round(self.idle_time),
                **wait_figures(self.waits), "peak_workers": self.peak,
                "decisions": self.decisions, "scale_changes": self.changes,
                "service_estimate": self.state.service, "startup_estimate": self.state.startup}


def simulate(trace: Trace, step: float = 1.0, sample_every: float = 10.0) -> Result:
    """Run ``trace`` until its duration has passed and every pool is back to idle."""
    runs = [LambdaRun(p, _expand([a for a in trace.arrivals if a.pool == p.name]))
            if p.runtime == "lambda" else
            _PoolRun(p, [a for a in trace.arrivals if a.pool == p.name], trace.idle_exit)
            for p in trace.pools]
    every, samples = max(1, round(trace.interval / step)), max(1, round(sample_every / step))
    limit = trace.duration + 86400  # a trace that never drains still ends
    tick = 0
    while tick * step < limit and (tick * step < trace.duration
                                   or not all(r.idle() for r in runs)):
        t = tick * step
        for run in runs:
            run.step(t, step, tick % every == 0, trace.wake_latency)
            if tick % samples == 0:
                run.sample(t)
        tick += 1
    span = tick * step
    pools = {r.pool.name: r.figures() for r in runs}
    return Result(span=span, series={r.pool.name: r.series for r in runs}, pools=pools,
                  totals=totals(trace, pools, span))


def totals(trace: Trace, pools: dict[str, dict], span: float) -> dict:
    """Worker-seconds used against the ideal and two always-on baselines."""
    used = sum(p["used"] for p in pools.values())
    ideal = sum(p["ideal"] for p in pools.values())
    one_each = len(trace.pools) * span
    at_max = sum(p.policy.max for p in trace.pools) * span
    return {"span": span, "used": used, "ideal": ideal,
            "starting": sum(p["starting"] for p in pools.values()),
            "idle": sum(p["idle"] for p in pools.values()),
            "always_on_one_per_pool": round(one_each), "always_on_at_max": round(at_max),
            "used_over_ideal": round(used / ideal, 3) if ideal else None,
            "used_over_always_on_one_per_pool": round(used / one_each, 4) if one_each else None,
            "used_over_always_on_at_max": round(used / at_max, 4) if at_max else None}


def _expand(arrivals: list[Arrival]) -> list[tuple[float, float]]:
    return sorted((a.at + a.spread * i / a.count, a.duration)
                  for a in arrivals for i in range(a.count))
