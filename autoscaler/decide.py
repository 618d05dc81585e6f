"""The scaling decision: a pool's queue depths in, a worker count and a reason out.

Pure: the clock, AWS and the environment are someone else's business. The
semantics follow KEDA's SQS scaler: backlog = visible + in flight (+ delayed),
desired = ceil(backlog / target) within [min, max], activation from zero at the
wake threshold, and scale-to-zero only after a cooldown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace


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


@dataclass(frozen=True)
class PoolState:
    """What the autoscaler remembers about a pool between decisions (epoch seconds)."""

    last_busy: float | None = None
    last_scale_out: float | None = None

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return {"last_busy": self.last_busy, "last_scale_out": self.last_scale_out}

    @classmethod
    def from_dict(cls, data: dict) -> "PoolState":
        """The state saved by ``to_dict``; unknown keys are ignored."""
        return cls(last_busy=data.get("last_busy"), last_scale_out=data.get("last_scale_out"))


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
           state: PoolState = PoolState()) -> Decision:
    """The worker count a pool should have at ``now``, with its reason and new state."""
    backlog = depths.backlog(policy.count_delayed)
    state = _observe(state, backlog, current, now)
    if current == 0 and policy.min == 0 and backlog < policy.wake:
        why = f"idle: {_n(backlog, 'message')}, wake at {policy.wake}"
        return Decision(0, why, current, backlog, state)
    raw = math.ceil(backlog / policy.target)
    need = min(max(raw, policy.min), policy.max)
    if need > current:
        return _scale_out(need, raw, current, backlog, policy, now, state)
    if need < current:
        return _scale_in(need, raw, current, depths, backlog, policy, now, state)
    why = f"steady: {_n(current, 'worker')} for {_n(backlog, 'message')}"
    return Decision(current, why, current, backlog, state)


def _observe(state: PoolState, backlog: int, current: int, now: float) -> PoolState:
    # Workers found running with no memory of the pool get a full cooldown, not a kill.
    if backlog > 0 or (state.last_busy is None and current > 0):
        return replace(state, last_busy=now)
    return state


def _scale_out(need, raw, current, backlog, policy, now, state) -> Decision:
    desired = min(need, current + policy.max_step_out) if policy.max_step_out else need
    if current == 0 and backlog > 0:
        why = f"wake: {_n(backlog, 'message')} on an idle pool"
    else:
        why = f"scale out: {_need(backlog, raw, need, policy)}"
    if desired < need:
        why += f", step limit +{policy.max_step_out}"
    return Decision(desired, why, current, backlog, replace(state, last_scale_out=now))


def _scale_in(need, raw, current, depths, backlog, policy, now, state) -> Decision:
    floor = min(current, depths.in_flight)
    keep = max(need, floor)
    if keep >= current:
        why = f"hold: {_n(depths.in_flight, 'message')} in flight on {_n(current, 'worker')}"
        return Decision(current, why, current, backlog, state)
    left = _cooldown_left(keep, policy, now, state)
    if left > 0:
        why = f"hold: cooldown {left:.0f}s left before scaling in to {keep}"
        return Decision(current, why, current, backlog, state)
    desired = max(keep, current - policy.max_step_in) if policy.max_step_in else keep
    if keep == 0:
        why = f"scale to zero: idle for {now - state.last_busy:.0f}s"
    else:
        why = f"scale in: {_need(backlog, raw, need, policy)}"
        if floor > need:
            why += f", {depths.in_flight} in flight"
    if desired > keep:
        why += f", step limit -{policy.max_step_in}"
    return Decision(desired, why, current, backlog, state)


def _cooldown_left(keep: int, policy: Policy, now: float, state: PoolState) -> float:
    """Seconds until a scale-in to ``keep`` workers is allowed."""
    marks = [state.last_scale_out]
    if keep == 0:
        marks.append(state.last_busy)
    since = max((m for m in marks if m is not None), default=None)
    return 0.0 if since is None else since + policy.cooldown - now


def _need(backlog: int, raw: int, need: int, policy: Policy) -> str:
    verb = "needs" if backlog == 1 else "need"
    text = f"{_n(backlog, 'message')} {verb} {_n(raw, 'worker')}"
    if raw > need:
        return f"{text}, capped at max {policy.max}"
    if raw < need:
        return f"{text}, kept at min {policy.min}"
    return text


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
