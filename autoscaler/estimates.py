"""What a pool learns about its workers, as pure functions of its remembered state.

* **Service time**: seconds one message keeps a worker slot busy. Workers report
  the mean run time of the jobs they ended (``{"report": workload, ...}`` on the
  wake queue, ``core.wake``); each report moves a moving average.
* **Start-up**: seconds from asking for workers to the first of them being ready.
  ``decide`` notes when workers were asked for (``PoolState.asked_at``); a worker's
  ``ready`` report closes the measurement.

A setting (``POOL_<NAME>_SERVICE_SECONDS``, ``POOL_<NAME>_STARTUP_SECONDS``)
seeds an estimate until the pool has learned its own.
"""
from __future__ import annotations

from dataclasses import replace

from autoscaler.decide import Estimates, PoolState

#: Weight of one new sample in a moving estimate.
WEIGHT = 0.2
#: A start-up measured later than this after the ask is not one (the worker was
#: asked for before a restart of the autoscaler, say): it is ignored.
LONGEST_STARTUP = 900.0


def moved(old: float, sample: float, count: int = 1, weight: float = WEIGHT) -> float:
    """``old`` moved towards ``sample`` as ``count`` samples of it would move it."""
    if old <= 0:
        return sample
    share = 1 - (1 - weight) ** max(count, 1)
    return old + share * (sample - old)


def served(state: PoolState, seconds: float, count: int) -> PoolState:
    """The state once a report of ``count`` jobs averaging ``seconds`` is folded in."""
    if count < 1 or seconds <= 0:
        return state
    return replace(state, service=round(moved(state.service, seconds, count), 3),
                   service_count=state.service_count + count)


def ready(state: PoolState, now: float) -> PoolState:
    """The state once a worker reports ready at ``now``: the ask's start-up is measured."""
    if state.asked_at is None:
        return state
    took = now - state.asked_at
    if took < 0:  # a worker of an earlier ask: the one being timed is still to come
        return state
    if took > LONGEST_STARTUP:
        return replace(state, asked_at=None)
    return replace(state, startup=round(moved(state.startup, took), 3), asked_at=None)


def current(state: PoolState, service_seed: float = 0.0, startup_seed: float = 0.0) -> Estimates:
    """The estimates ``decide`` weighs: what was learned, else the seeds."""
    return Estimates(service=state.service or service_seed,
                     startup=state.startup or startup_seed)
