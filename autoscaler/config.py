"""The autoscaler's settings, parsed once from an environment mapping.

Every variable has a default (docs/autoscaler.md lists them); a malformed value
raises ``ConfigurationError`` naming the variable.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Mapping

from autoscaler.decide import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.state import DEFAULT_KEY

# The same workloads as core.settings.WORKLOADS (a unit test keeps them equal):
# the Lambda package cannot import core.
WORKLOADS = ("default", "pdf", "imports", "exports")
MODES = ("local", "ecs-service", "ecs-task")
LAUNCH_TYPES = ("FARGATE", "EC2", "EXTERNAL")
_POOL_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class PoolConfig:
    """One worker pool: the queues it serves, how it scales, what runs its workers."""

    name: str
    queues: tuple[str, ...]
    policy: Policy
    service: str
    task_family: str
    command: tuple[str, ...] | None = None

    @property
    def env_name(self) -> str:
        """The pool's name as it appears in variable names (``POOL_<NAME>_…``)."""
        return self.name.upper().replace("-", "_")


@dataclass(frozen=True)
class Config:
    """Everything the Lambda handler and the local loop need to know."""

    pools: tuple[PoolConfig, ...]
    mode: str = "local"
    dry_run: bool = False
    region: str = "us-east-1"
    endpoint_url: str | None = None
    queue_prefix: str = "jobsys-"
    interval: float = 10.0
    cluster: str = "jobsys"
    launch_type: str = "FARGATE"
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    state_bucket: str | None = None
    state_key: str = DEFAULT_KEY

    def queue_name(self, workload: str) -> str:
        """The SQS name of a workload's queue, prefix included."""
        return f"{self.queue_prefix}{workload}"

    def pool(self, name: str) -> PoolConfig:
        """The pool called ``name``."""
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise KeyError(name)


def load(environ: Mapping[str, str]) -> Config:
    """Parse the autoscaler's settings from ``environ`` (pass ``os.environ`` at the edge)."""
    read = _Reader(environ)
    config = Config(
        pools=_pools(read),
        mode=read.choice("AUTOSCALER_MODE", "local", MODES),
        dry_run=read.flag("AUTOSCALER_DRY_RUN", False),
        region=read.text("AWS_REGION", None) or read.text("AWS_DEFAULT_REGION", "us-east-1"),
        endpoint_url=read.text("AWS_ENDPOINT_URL", None),
        queue_prefix=environ.get("QUEUE_PREFIX", "jobsys-"),
        interval=read.number("AUTOSCALER_INTERVAL", 10.0, low=0.1),
        cluster=read.text("AUTOSCALER_CLUSTER", "jobsys"),
        launch_type=read.choice("AUTOSCALER_LAUNCH_TYPE", "FARGATE", LAUNCH_TYPES),
        subnets=read.names("AUTOSCALER_SUBNETS", ()),
        security_groups=read.names("AUTOSCALER_SECURITY_GROUPS", ()),
        assign_public_ip=read.flag("AUTOSCALER_ASSIGN_PUBLIC_IP", False),
        state_bucket=read.text("AUTOSCALER_STATE_BUCKET", None),
        state_key=read.text("AUTOSCALER_STATE_KEY", DEFAULT_KEY),
    )
    _check_network(config)
    return config


def _pools(read: "_Reader") -> tuple[PoolConfig, ...]:
    names = read.names("AUTOSCALER_POOLS", WORKLOADS)
    if not names:
        raise ConfigurationError("AUTOSCALER_POOLS is empty; name at least one pool")
    for name in names:
        if not _POOL_NAME.match(name):
            raise ConfigurationError(
                f"AUTOSCALER_POOLS names {name!r}; a pool name is lower-case letters, "
                "digits, '-' or '_', starting with a letter")
    if len(set(names)) < len(names):
        raise ConfigurationError(f"AUTOSCALER_POOLS={','.join(names)} repeats a pool")
    pools = tuple(_pool(read, name) for name in names)
    _check_shared_queues(pools)
    return pools


def _pool(read: "_Reader", name: str) -> PoolConfig:
    key = f"POOL_{name.upper().replace('-', '_')}_"
    queues = read.names(key + "QUEUES", (name,) if name in WORKLOADS else ())
    unknown = [q for q in queues if q not in WORKLOADS]
    if not queues or unknown:
        raise ConfigurationError(
            f"{key}QUEUES={','.join(queues)!r} must name workloads among "
            f"{', '.join(WORKLOADS)}")
    command = read.text(key + "COMMAND", None)
    return PoolConfig(name=name, queues=queues, policy=_policy(read, key),
                      service=read.text(key + "SERVICE", f"jobsys-worker-{name}"),
                      task_family=read.text(key + "TASK_FAMILY", f"jobsys-worker-{name}"),
                      command=tuple(shlex.split(command)) if command else None)


def _policy(read: "_Reader", key: str) -> Policy:
    d = Policy()
    policy = Policy(
        target=read.number(key + "TARGET", d.target, low=0.001),
        min=read.integer(key + "MIN", d.min, low=0),
        max=read.integer(key + "MAX", d.max, low=0),
        wake=read.integer(key + "WAKE", d.wake, low=1),
        cooldown=read.number(key + "COOLDOWN", d.cooldown, low=0),
        max_step_out=read.integer(key + "STEP_OUT", d.max_step_out, low=0),
        max_step_in=read.integer(key + "STEP_IN", d.max_step_in, low=0),
        count_delayed=read.flag(key + "COUNT_DELAYED", d.count_delayed),
    )
    if policy.min > policy.max:
        raise ConfigurationError(
            f"{key}MIN={policy.min} is above {key}MAX={policy.max}")
    return policy


def _check_shared_queues(pools: tuple[PoolConfig, ...]) -> None:
    owner: dict[str, str] = {}
    for pool in pools:
        for queue in pool.queues:
            if queue in owner:
                raise ConfigurationError(
                    f"queue {queue!r} is in POOL_{owner[queue].upper()}_QUEUES and "
                    f"POOL_{pool.env_name}_QUEUES; a queue belongs to one pool")
            owner[queue] = pool.name


def _check_network(config: Config) -> None:
    if config.mode == "ecs-task" and config.launch_type == "FARGATE" and not config.subnets:
        raise ConfigurationError(
            "AUTOSCALER_SUBNETS is not set; AUTOSCALER_MODE=ecs-task with "
            "AUTOSCALER_LAUNCH_TYPE=FARGATE needs the subnets to run workers in")


class _Reader:
    """Typed reads of environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, name: str, default: str | None) -> str | None:
        value = self.env.get(name)
        return default if value is None or not value.strip() else value.strip()

    def names(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self.text(name, None)
        if raw is None:
            return tuple(default)
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise ConfigurationError(f"{name}={value!r} is not one of {', '.join(choices)}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name, None)
        if raw is None:
            return default
        if raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise ConfigurationError(f"{name}={raw!r} is not a yes/no value (true or false)")

    def integer(self, name: str, default: int, low: int | None = None) -> int:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None
        return self._at_least(name, value, low)

    def number(self, name: str, default: float, low: float | None = None) -> float:
        raw = self.text(name, None)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a number") from None
        return self._at_least(name, value, low)

    @staticmethod
    def _at_least(name, value, low):
        if low is not None and value < low:
            raise ConfigurationError(f"{name}={value:g} is below the minimum of {low:g}")
        return value
