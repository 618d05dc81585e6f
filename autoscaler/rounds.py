"""One autoscaling round: fold in the workers' reports, read every pool's numbers, decide,
apply, log one line each.

The Lambda handler and the local loop both run this; only how they are
triggered differs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable

from autoscaler import estimates
from autoscaler.decide import Decision, Depths, Estimates, Policy, PoolState, decide
from autoscaler.queues import QueueDepth
from autoscaler.scalers import WorkerScaler
from autoscaler.state import StateStore, remember
from autoscaler.wake import READY, REPORT, Signal
from core.metrics import pool_decided, write as write_emf

log = logging.getLogger("autoscaler")


def log_line(line: str) -> None:
    """The default sink of decision lines: the ``autoscaler`` logger at INFO."""
    log.info("%s", line)


def decisions_in(lines) -> list[tuple[str, dict]]:
    """The decision records in log lines, each with the text before it (the log
    prefix, which holds its time; a JSON line's ``timestamp``), in order; a pool's error
    record is left out."""
    found = []
    for line in map(_unwrapped, lines):
        start = line.find('{"pool"')
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if "desired" in record:
            found.append((line[:start], record))
    return found


def _unwrapped(line: str) -> str:
    """A JSON log line (``LOG_FORMAT=json``) as its time and message; others as they are."""
    if not line.startswith('{"level"'):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    return f"{record.get('timestamp', '')} {record.get('message', '')}"


@dataclass(frozen=True)
class Pool:
    """A pool as a round sees it: its policy, its SQS queue names, its scaler."""

    name: str
    policy: Policy
    queues: tuple[str, ...]
    scaler: WorkerScaler
    #: Estimates to weigh until the pool has learned its own (autoscaler.estimates).
    seeds: Estimates = Estimates()
    #: The workloads whose signals (wakes, workers' reports) are the pool's; () means the
    #: one named like the pool.
    workloads: tuple[str, ...] = ()

    def serves(self, workload: str) -> bool:
        """Whether ``workload``'s queue is one of the pool's."""
        return workload in (self.workloads or (self.name,))


@dataclass(frozen=True)
class Autoscaler:
    """Everything a round needs, wired once (see ``autoscaler.bootstrap``)."""

    pools: tuple[Pool, ...]
    depth: QueueDepth
    store: StateStore
    dry_run: bool = False
    emit: Callable[[str], None] = field(default=log_line)
    #: The CloudWatch namespace of an EMF line per decision; None: no metrics.
    metrics_namespace: str | None = None
    write_metrics: Callable[[dict], None] = field(default=write_emf)


def run_round(autoscaler: Autoscaler, now: float, signals: Iterable[Signal] = ()) -> list[dict]:
    """Fold ``signals`` (workers' readies and reports) into their pools' states, decide for
    every pool at ``now`` and apply unless dry-run; returns the log records."""
    states, recent = autoscaler.store.load_all()
    signals = list(signals)
    records = []
    for pool in autoscaler.pools:
        state = learned(states.get(pool.name, PoolState()), pool, signals, now)
        states[pool.name] = state
        try:
            decision, depths, used = _decide_pool(pool, autoscaler.depth, state, now)
            applied = _apply(pool, decision, autoscaler.dry_run)
            states[pool.name] = decision.state
            record = decision_record(pool.name, depths, decision, autoscaler.dry_run, applied,
                                     used)
            _measure(autoscaler, record, decision.backlog, now)
        except Exception as exc:  # one broken pool must not stop the others
            log.debug("pool %s failed", pool.name, exc_info=True)
            record = {"pool": pool.name, "error": f"{type(exc).__name__}: {exc}",
                      "dry_run": autoscaler.dry_run}
        autoscaler.emit(json.dumps(record))
        records.append(record)
    autoscaler.store.save(states, remember(recent, records, now))
    return records


def _measure(autoscaler: Autoscaler, record: dict, backlog: int, now: float) -> None:
    if autoscaler.metrics_namespace is not None:
        autoscaler.write_metrics(pool_decided(autoscaler.metrics_namespace, record, backlog,
                                              now))


def learned(state: PoolState, pool: Pool, signals: Iterable[Signal], now: float) -> PoolState:
    """``state`` once the pool's workers' reports and readies are folded in, oldest first
    (a signal of unknown time counts as sent at ``now``)."""
    mine = sorted((s for s in signals if pool.serves(s.workload)),
                  key=lambda s: now if s.at is None else s.at)
    for signal in mine:
        if signal.kind == REPORT:
            state = estimates.served(state, signal.service_seconds, signal.jobs)
        elif signal.kind == READY:
            state = estimates.ready(state, now if signal.at is None else signal.at)
    return state


def _decide_pool(pool: Pool, depth: QueueDepth, state: PoolState,
                 now: float) -> tuple[Decision, Depths, Estimates]:
    depths = sum((depth.depths(queue) for queue in pool.queues), Depths())
    used = estimates.current(state, pool.seeds.service, pool.seeds.startup)
    return decide(depths, pool.scaler.current(), pool.policy, now, state, used), depths, used


def _apply(pool: Pool, decision: Decision, dry_run: bool) -> bool:
    if dry_run or not decision.changes:
        return False
    pool.scaler.set_desired(decision.desired)
    return True


def decision_record(pool: str, depths: Depths, decision: Decision, dry_run: bool,
                    applied: bool, used: Estimates = Estimates()) -> dict:
    """The structured log record of one decision, with the estimates it weighed
    (``service_s``, ``startup_s``) where there were any."""
    record = {"pool": pool, "visible": depths.visible, "in_flight": depths.in_flight,
              "delayed": depths.delayed, "current": decision.current,
              "desired": decision.desired, "reason": decision.reason, "dry_run": dry_run,
              "applied": applied}
    for key, seconds in (("service_s", used.service), ("startup_s", used.startup)):
        if seconds > 0:
            record[key] = seconds
    return record
