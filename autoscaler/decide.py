"""The scaling decision: a pool's queue depths in, a worker count and a reason out.

Pure: the clock, AWS and the environment are someone else's business. Without
estimates the semantics follow KEDA's SQS scaler: backlog = visible + in flight
(+ delayed), desired = ceil(backlog / target) within [min, max], activation from
zero at the wake threshold, and scale-to-zero only after a cooldown.

With estimates (seconds a message keeps a worker slot busy, seconds a worker takes
to start) the sizing weighs what a worker costs: scale-out starts the fewest
workers that drain the backlog within the pool's drain objective, and never more
than would each be busy for at least their own start-up; scale-in stops a worker
once it has been idle for as long as a restart costs (the ski-rental rule).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Depths:
    """Messages on a pool's queues: ready, held by workers, and delayed."""

    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    def __add__(self, other: "Depths") -> "Depths":
        return Depths(self.visible + other.visible, self.in_flight + other.in_flight,
                      self.delayed + other.delayed)

    def backlog(self, count_delayed: bool = False) -> int:
        """The messages that call for a worker."""
        return self.visible + self.in_flight + (self.delayed if count_delayed else 0)


@dataclass(frozen=True)
class Policy:
    """How one pool scales; step limits of 0 mean no limit."""

    target: float = 2.0
    min: int = 0
    max: int = 4
    wake: int = 1
    cooldown: float = 60.0
    max_step_out: int = 0
    max_step_in: int = 0
    count_delayed: bool = False
    #: Tasks a worker runs at once (its WORKER_CONCURRENCY).
    concurrency: int = 2
    #: Seconds within which a backlog should be drained (0: no objective).
    drain: float = 0.0


@dataclass(frozen=True)
class Estimates:
    """What a pool has learned: seconds one message keeps a worker slot busy, and seconds
    from asking for a worker to its first task. 0 means not known yet."""

    service: float = 0.0
    startup: float = 0.0

    @property
    def known(self) -> bool:
        """Whether the sizing can weigh cost (both estimates are known)."""
        return self.service > 0 and self.startup > 0


@dataclass(frozen=True)
class PoolState:
    """What the autoscaler remembers about a pool between decisions (epoch seconds)."""

    last_busy: float | None = None
    last_scale_out: float | None = None
    #: Learned estimates (autoscaler.estimates): seconds per message and its sample count,
    #: seconds per start-up, and when workers were last asked for and not yet ready.
    service: float = 0.0
    service_count: int = 0
    startup: float = 0.0
    asked_at: float | None = None

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "PoolState":
        """The state saved by ``to_dict``; unknown keys are ignored, missing ones default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Decision:
    """The worker count a pool should have, why, and the state to remember."""

    desired: int
    reason: str
    current: int
    backlog: int
    state: PoolState

    @property
    def changes(self) -> bool:
        """Whether applying the decision changes the worker count."""
        return self.desired != self.current


def decide(depths: Depths, current: int, policy: Policy, now: float,
           state: PoolState = PoolState(), estimates: Estimates = Estimates()) -> Decision:
    """The worker count a pool should have at ``now``, with its reason and new state."""
    backlog = depths.backlog(policy.count_delayed)
    state = _observe(state, backlog, current, now)
    if current == 0 and policy.min == 0 and backlog < policy.wake:
        why = f"idle: {_n(backlog, 'message')}, wake at {policy.wake}"
        return Decision(0, why, current, backlog, state)
    sizing = size(backlog, current, policy, estimates)
    need = min(max(sizing.workers, policy.min), policy.max)
    if need > current:
        return _scale_out(need, sizing, current, backlog, policy, now, state)
    if need < current:
        hold = estimates.startup if estimates.known else policy.cooldown
        return _scale_in(need, sizing, current, depths, backlog, policy, now, state, hold)
    why = f"steady: {_n(current, 'worker')} for {_n(backlog, 'message')}"
    return Decision(current, why, current, backlog, state)


@dataclass(frozen=True)
class Sizing:
    """The workers a backlog calls for, before [min, max], and why in words."""

    workers: int
    why: str


def size(backlog: int, current: int, policy: Policy, estimates: Estimates) -> Sizing:
    """The workers ``backlog`` calls for: by the target alone, or weighing cost."""
    by_target = math.ceil(backlog / policy.target)
    verb = "needs" if backlog == 1 else "need"
    if not estimates.known or backlog == 0:
        return Sizing(by_target, f"{_n(backlog, 'message')} {verb} {_n(by_target, 'worker')}")
    work = backlog * estimates.service / policy.concurrency  # worker-seconds
    worth = max(1, math.floor(work / estimates.startup))
    objective, reachable = _for_objective(work, current, estimates, policy, by_target)
    # A message runs on one slot: more workers than slots for every message help no one.
    workers = min(max(objective, min(by_target, worth)),
                  max(current, math.ceil(backlog / policy.concurrency)))
    why = f"{_n(backlog, 'message')} ({work:.0f} worker-s) {verb} {_n(workers, 'worker')}: "
    if policy.drain and objective >= min(by_target, worth):
        why += (f"drained within {policy.drain:.0f}s" if reachable else
                f"a {policy.drain:.0f}s drain is out of reach, target {policy.target:g} a worker")
    elif worth < by_target:
        why += f"each busy at least its {estimates.startup:.0f}s start-up"
    else:
        why += f"target {policy.target:g} a worker"
    return Sizing(workers, why)


def _for_objective(work: float, current: int, estimates: Estimates, policy: Policy,
                   fallback: int) -> tuple[int, bool]:
    """The fewest workers that do ``work`` within the drain objective (0: none), and whether
    it can be met; the ``current`` ones work from now, new ones after their start-up."""
    drain = policy.drain
    if not drain:
        return 0, True
    if work <= current * drain:
        return math.ceil(work / drain), True
    if drain - estimates.startup < estimates.service:
        return fallback, False  # a new worker cannot finish a message in time
    return current + math.ceil((work - current * drain) / (drain - estimates.startup)), True


def _observe(state: PoolState, backlog: int, current: int, now: float) -> PoolState:
    # Workers found running with no memory of the pool get a full cooldown, not a kill.
    if backlog > 0 or (state.last_busy is None and current > 0):
        return replace(state, last_busy=now)
    return state


def _scale_out(need, sizing, current, backlog, policy, now, state) -> Decision:
    desired = min(need, current + policy.max_step_out) if policy.max_step_out else need
    if current == 0 and backlog > 0:
        why = f"wake: {_n(backlog, 'message')} on an idle pool"
    else:
        why = f"scale out: {_need(sizing, need, policy)}"
    if desired < need:
        why += f", step limit +{policy.max_step_out}"
    asked = state.asked_at if state.asked_at is not None else now
    return Decision(desired, why, current, backlog,
                    replace(state, last_scale_out=now, asked_at=asked))


def _scale_in(need, sizing, current, depths, backlog, policy, now, state,
              hold: float) -> Decision:
    floor = min(current, depths.in_flight)
    keep = max(need, floor)
    if keep >= current:
        why = f"hold: {_n(depths.in_flight, 'message')} in flight on {_n(current, 'worker')}"
        return Decision(current, why, current, backlog, state)
    left = _cooldown_left(keep, hold, now, state)
    if left > 0:
        why = f"hold: cooldown {left:.0f}s left before scaling in to {keep}"
        return Decision(current, why, current, backlog, state)
    desired = max(keep, current - policy.max_step_in) if policy.max_step_in else keep
    if keep == 0:
        why = f"scale to zero: idle for {now - state.last_busy:.0f}s"
    else:
        why = f"scale in: {_need(sizing, need, policy)}"
        if floor > need:
            why += f", {depths.in_flight} in flight"
    if desired > keep:
        why += f", step limit -{policy.max_step_in}"
    return Decision(desired, why, current, backlog, state)


def _cooldown_left(keep: int, hold: float, now: float, state: PoolState) -> float:
    """Seconds until a scale-in to ``keep`` workers is allowed (``hold`` after the marks)."""
    marks = [state.last_scale_out]
    if keep == 0:
        marks.append(state.last_busy)
    since = max((m for m in marks if m is not None), default=None)
    return 0.0 if since is None else since + hold - now


def _need(sizing: Sizing, need: int, policy: Policy) -> str:
    if sizing.workers > need:
        return f"{sizing.why}, capped at max {policy.max}"
    if sizing.workers < need:
        return f"{sizing.why}, kept at min {policy.min}"
    return sizing.why


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
