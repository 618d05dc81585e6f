"""Workload traces for the simulation: parsing a JSON trace into immutable objects.

A trace names its pools (policy and worker model), how often decisions run, and
its arrivals: at a time, on a queue (or pool), a number of tasks of a duration.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from autoscaler.config import RUNTIMES, Config, PoolConfig
from autoscaler.decide import Policy
from autoscaler.errors import AutoscalerError

TRACE_KEYS = {"description", "duration", "decision_interval", "wake_latency", "idle_exit",
              "worker", "pools", "arrivals"}
POLICY_KEYS = {f.name for f in fields(Policy)} - {"concurrency"}
WORKER_KEYS = {"startup", "concurrency"}
#: How a pool is run: ``runtime`` (ecs or lambda), whether decide() weighs estimates
#: (``estimates``; off is the backlog rule alone), and a Lambda pool's model.
RUN_KEYS = {"runtime", "estimates", "lambda_concurrency", "lambda_memory", "cold_start",
            "init", "warm_for", "ramp_every"}


class TraceError(AutoscalerError):
    """A trace file is malformed; the message says where."""


@dataclass(frozen=True)
class SimPool:
    """A pool in the simulation: its policy and its worker model."""

    name: str
    queues: tuple[str, ...]
    policy: Policy
    startup: float = 40.0
    concurrency: int = 2
    runtime: str = "ecs"
    estimates: bool = True
    #: A Lambda pool: MaximumConcurrency, memory (MiB), the wait of a cold start, the
    #: part of it that is billed (the function's init), and how long an idle
    #: environment stays warm (AWS promises none; 5 minutes is a cautious reading).
    lambda_concurrency: int = 4
    lambda_memory: int = 1024
    cold_start: float = 4.0
    init: float = 2.0
    warm_for: float = 300.0
    #: Seconds between steps of the event source's scaling (lambdasim).
    ramp_every: float = 1.0


@dataclass(frozen=True)
class Arrival:
    """``count`` tasks of ``duration`` seconds reaching ``pool``, spread over ``spread`` s."""

    at: float
    pool: str
    count: int
    duration: float
    spread: float = 0.0


@dataclass(frozen=True)
class Trace:
    """Everything a simulation run needs."""

    pools: tuple[SimPool, ...]
    arrivals: tuple[Arrival, ...]
    duration: float = 86400.0
    interval: float = 60.0
    wake_latency: float | None = 5.0
    idle_exit: float | None = None
    description: str = ""


def seconds(value: Any, where: str) -> float:
    """Seconds from a number or an ``HH:MM[:SS]`` clock time."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parts = [float(p) for p in value.split(":")]
        except ValueError:
            parts = []
        if 2 <= len(parts) <= 3:
            return sum(p * 60 ** (2 - i) for i, p in enumerate(parts + [0] * (3 - len(parts))))
    raise TraceError(f"{where}: {value!r} is not a time (seconds or HH:MM[:SS])")


def parse(data: Mapping[str, Any], base: Config | None = None) -> Trace:
    """A trace from its JSON form; pools it does not describe come from ``base``."""
    if not isinstance(data, Mapping):
        raise TraceError("a trace is a JSON object with 'pools' and 'arrivals'")
    _known(data, TRACE_KEYS, "the trace")
    worker = _known(data.get("worker", {}), WORKER_KEYS, "worker")
    pools = _pools(data.get("pools", {}), base, worker)
    wake, idle_exit = data.get("wake_latency", 5.0), data.get("idle_exit")
    return Trace(
        pools=pools,
        arrivals=_arrivals(data.get("arrivals", []), pools),
        duration=seconds(data.get("duration", 86400), "duration"),
        interval=seconds(data.get("decision_interval", 60), "decision_interval"),
        wake_latency=None if wake is None else seconds(wake, "wake_latency"),
        idle_exit=None if idle_exit is None else seconds(idle_exit, "idle_exit"),
        description=str(data.get("description", "")),
    )


def override(data: dict, assignment: str) -> dict:
    """Apply ``path.to.key=value`` to a trace's JSON; ``*`` matches every key at its level."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise TraceError(f"--set {assignment!r}: expected PATH=VALUE, e.g. pools.*.cooldown=0")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    _assign([data], path.split("."), value)
    return data


def _assign(nodes: list, keys: list[str], value) -> None:
    key, rest = keys[0], keys[1:]
    for node in nodes:
        names = list(node) if key == "*" else [key]
        if not rest:
            node.update({name: value for name in names})
        else:
            _assign([node.setdefault(name, {}) for name in names], rest, value)


def _pools(described, base: Config | None, worker: Mapping) -> tuple[SimPool, ...]:
    found = {p.name: _from_config(p) for p in (base.pools if base else ())}
    for name, spec in _known(described, None, "pools").items():
        spec = _known(spec, POLICY_KEYS | WORKER_KEYS | RUN_KEYS | {"queues"}, f"pools.{name}")
        pool = found.get(name, SimPool(name, (name,), Policy()))
        changes = {k: v for k, v in spec.items() if k in POLICY_KEYS}
        if not all(isinstance(v, (int, float)) for v in changes.values()):
            raise TraceError(f"pools.{name}: policy values must be numbers (or true/false)")
        policy = replace(pool.policy, **changes)
        if not (policy.target > 0 and 0 <= policy.min <= policy.max):
            raise TraceError(f"pools.{name}: need target > 0 and 0 <= min <= max")
        if spec.get("runtime", pool.runtime) not in RUNTIMES:
            raise TraceError(f"pools.{name}: runtime must be one of {', '.join(RUNTIMES)}")
        run = {k: v for k, v in spec.items() if k in RUN_KEYS}
        found[name] = replace(pool, queues=tuple(spec.get("queues", pool.queues)), policy=policy,
                              **run)
    if not found:
        raise TraceError("the trace names no pools")
    pools = []
    for p in found.values():
        concurrency = int(_pick("concurrency", p.name, described, worker, 2))
        pools.append(replace(p, startup=float(_pick("startup", p.name, described, worker, 40.0)),
                             concurrency=concurrency,
                             policy=replace(p.policy, concurrency=concurrency)))
    return tuple(pools)


def _from_config(pool: PoolConfig) -> SimPool:
    return SimPool(pool.name, pool.queues, pool.policy, runtime=pool.runtime,
                   lambda_concurrency=pool.lambda_concurrency, lambda_memory=pool.lambda_memory)


def _pick(key: str, pool: str, described: Mapping, worker: Mapping, default):
    return described.get(pool, {}).get(key, worker.get(key, default))


def _arrivals(items, pools: tuple[SimPool, ...]) -> tuple[Arrival, ...]:
    by_queue = {q: p.name for p in pools for q in p.queues}
    names = {p.name for p in pools}
    arrivals = []
    for n, item in enumerate(items, 1):
        item = _known(item, {"at", "queue", "pool", "count", "duration", "spread", "note"},
                      f"arrival {n}")
        pool = item.get("pool") or by_queue.get(item.get("queue"))
        if pool not in names:
            raise TraceError(f"arrival {n}: no pool serves queue {item.get('queue')!r} "
                             f"(pool {item.get('pool')!r}); pools: {', '.join(sorted(names))}")
        count, duration = int(item.get("count", 1)), seconds(item.get("duration"), f"arrival {n}")
        if count < 1 or duration <= 0:
            raise TraceError(f"arrival {n}: count and duration must be above zero")
        arrivals.append(Arrival(at=seconds(item.get("at"), f"arrival {n}"), pool=pool,
                                count=count, duration=duration,
                                spread=seconds(item.get("spread", 0), f"arrival {n}")))
    return tuple(sorted(arrivals, key=lambda a: a.at))


def _known(value, keys: set | None, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise TraceError(f"{where}: expected a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - keys) if keys is not None else []
    if unknown:
        raise TraceError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(keys))}")
    return dict(value)
