"""A Lambda pool in the simulation: an SQS event source feeding function invocations.

The event source mapping takes one message per invocation (BatchSize 1). It scales
as AWS documents for SQS: five concurrent invocations at first, then up to 300 more
a minute while messages wait, never above the pool's MaximumConcurrency. How the
minute's 300 arrive AWS does not say: ``ramp_every`` 1 spreads them over it (five a
second), 60 adds them all once the minute has passed (the cautious reading). A message
goes to a warm idle environment if there is one, else a new environment starts cold:
the message waits ``cold_start`` seconds, of which ``init`` are billed. An
environment idle for ``warm_for`` seconds is gone. Billing is per invocation:
duration (plus init when cold) times memory, and a request fee; no idle second
costs anything. The ideal is the same work with no init: the durations alone.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from autoscaler.costs import DEFAULT, Prices
from autoscaler.simseries import Series, waits as wait_figures
from autoscaler.trace import SimPool

#: SQS event source scaling: concurrent invocations at first, and added per minute.
FIRST_CONCURRENCY = 5
ADDED_PER_MINUTE = 300


@dataclass
class _Environment:
    busy_until: float
    idle_since: float


class LambdaRun:
    """One Lambda pool's queue, environments and bill during a run."""

    def __init__(self, pool: SimPool, arrivals: list[tuple[float, float]],
                 prices: Prices = DEFAULT):
        self.pool, self.prices = pool, prices
        self.pending = deque(arrivals)
        self.queue: deque[tuple[float, float]] = deque()
        self.envs: list[_Environment] = []
        self.scaling_since: float | None = None
        self.billed = self.init_billed = self.durations = 0.0
        self.requests = self.cold_starts = self.peak = 0
        self.waits: list[float] = []
        self.series = Series()
        self.now = 0.0

    def idle(self) -> bool:
        return not (self.pending or self.queue or self.busy(self.now))

    def busy(self, t: float) -> int:
        return sum(env.busy_until > t for env in self.envs)

    def step(self, t: float, dt: float, decision_due: bool, wake_latency: float | None) -> None:
        self.now = t
        while self.pending and self.pending[0][0] <= t:
            self.queue.append(self.pending.popleft())
        for env in self.envs:
            if env.idle_since < env.busy_until <= t:
                env.idle_since = env.busy_until
        self.envs = [e for e in self.envs if e.busy_until > t or t - e.idle_since < self.pool.warm_for]
        self._invoke(t)
        self.peak = max(self.peak, self.busy(t))

    def _limit(self, t: float) -> int:
        if not self.queue and not self.busy(t):
            self.scaling_since = None
            return 0
        if self.scaling_since is None:
            self.scaling_since = t
        every = self.pool.ramp_every  # 1: the minute's 300 spread over it; 60: all at its end
        steps = int((t - self.scaling_since) // every)
        grown = FIRST_CONCURRENCY + int(ADDED_PER_MINUTE * steps * every / 60)
        return min(self.pool.lambda_concurrency, grown)

    def _invoke(self, t: float) -> None:
        limit = self._limit(t)
        while self.queue and self.busy(t) < limit:
            enqueued, duration = self.queue.popleft()
            warm = [e for e in self.envs if e.busy_until <= t]
            if warm:
                env, start = max(warm, key=lambda e: e.idle_since), t
            else:
                env, start = _Environment(t, t), t + self.pool.cold_start
                self.envs.append(env)
                self.cold_starts += 1
                self.init_billed += self.pool.init
            env.busy_until = start + duration
            self.durations += duration
            self.requests += 1
            self.waits.append(start - enqueued)

    def sample(self, t: float) -> None:
        s = self.series
        s.t.append(t)
        busy = self.busy(t)
        s.backlog.append(len(self.queue) + busy)
        s.desired.append(busy)
        s.running.append(len(self.envs))
        s.ready.append(busy)

    def figures(self) -> dict:
        memory = self.pool.lambda_memory
        used = self.prices.lambda_seconds(self.durations + self.init_billed, memory, self.requests)
        ideal = self.prices.lambda_seconds(self.durations, memory, self.requests)
        return {"runtime": "lambda", "tasks": len(self.waits),
                "task_seconds": round(self.durations), "used": round(used),
                "ideal": round(ideal),
                "starting": round(self.prices.lambda_seconds(self.init_billed, memory)),
                "idle": 0, **wait_figures(self.waits), "peak_workers": self.peak,
                "cold_starts": self.cold_starts, "decisions": 0, "scale_changes": 0}
