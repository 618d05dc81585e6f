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
from core.env import FLAG, INTEGER, NAMES, NUMBER, TEXT, Reader, choice
from core.metrics import MODES as METRICS_MODES, NAMESPACE

# The same workloads as core.settings.WORKLOADS (a unit test keeps them equal):
# the Lambda package carries core.env only, not core.settings.
WORKLOADS = ("default", "pdf", "imports", "exports")
MODES = ("local", "ecs-service", "ecs-task")
LAUNCH_TYPES = ("FARGATE", "EC2", "EXTERNAL")
# The same formats as core.settings.LOG_FORMATS.
LOG_FORMATS = ("text", "json")
#: What runs a pool's workers: ECS tasks (worker processes locally), or AWS Lambda fed by
#: an SQS event source mapping (a polling loop through the same handler locally).
RUNTIMES = ("ecs", "lambda")
#: Lambda's limits: the longest an invocation may run, and MaximumConcurrency's range.
LAMBDA_MAX_SECONDS = 900
LAMBDA_CONCURRENCY = (2, 1000)
_POOL_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class PoolConfig:
    """One worker pool: the queues it serves, how it scales, what runs its workers."""

    name: str
    queues: tuple[str, ...]
    policy: Policy
    service: str
    task_family: str
    command: tuple[str, ...] | None = None
    runtime: str = "ecs"
    #: Seeds of the pool's estimates (0: not known until learned).
    startup_seconds: float = 0.0
    service_seconds: float = 0.0
    #: A Lambda pool: MaximumConcurrency of its event source mapping, memory in MiB.
    lambda_concurrency: int = 4
    lambda_memory: int = 1024

    @property
    def on_lambda(self) -> bool:
        """Whether the pool runs on AWS Lambda (the autoscaler leaves it to its event source)."""
        return self.runtime == "lambda"

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
    log_format: str = "text"
    metrics: str = "off"
    metrics_namespace: str = NAMESPACE

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
    env = Reader(environ, ConfigurationError)
    config = Config(
        pools=_pools(env),
        mode=env.get("AUTOSCALER_MODE", choice(*MODES), "local"),
        dry_run=env.get("AUTOSCALER_DRY_RUN", FLAG, False),
        region=env.get(("AWS_REGION", "AWS_DEFAULT_REGION"), TEXT, "us-east-1"),
        endpoint_url=env.get("AWS_ENDPOINT_URL", TEXT, None),
        queue_prefix=env.get("QUEUE_PREFIX", TEXT, "jobsys-", keep_empty=True),
        interval=env.get("AUTOSCALER_INTERVAL", NUMBER, 10.0, low=0.1),
        cluster=env.get("AUTOSCALER_CLUSTER", TEXT, "jobsys"),
        launch_type=env.get("AUTOSCALER_LAUNCH_TYPE", choice(*LAUNCH_TYPES), "FARGATE"),
        subnets=env.get("AUTOSCALER_SUBNETS", NAMES, ()),
        security_groups=env.get("AUTOSCALER_SECURITY_GROUPS", NAMES, ()),
        assign_public_ip=env.get("AUTOSCALER_ASSIGN_PUBLIC_IP", FLAG, False),
        state_bucket=env.get("AUTOSCALER_STATE_BUCKET", TEXT, None),
        state_key=env.get("AUTOSCALER_STATE_KEY", TEXT, DEFAULT_KEY),
        log_format=env.get("LOG_FORMAT", choice(*LOG_FORMATS), "text"),
        metrics=env.get("METRICS", choice(*METRICS_MODES), "off"),
        metrics_namespace=env.get("METRICS_NAMESPACE", TEXT, NAMESPACE),
    )
    _check_network(config)
    return config


def _pools(env: Reader) -> tuple[PoolConfig, ...]:
    names = env.get("AUTOSCALER_POOLS", NAMES, WORKLOADS)
    if not names:
        raise ConfigurationError("AUTOSCALER_POOLS is empty; name at least one pool")
    for name in names:
        if not _POOL_NAME.match(name):
            raise ConfigurationError(
                f"AUTOSCALER_POOLS names {name!r}; a pool name is lower-case letters, "
                "digits, '-' or '_', starting with a letter")
    if len(set(names)) < len(names):
        raise ConfigurationError(f"AUTOSCALER_POOLS={','.join(names)} repeats a pool")
    pools = tuple(_pool(env, name) for name in names)
    _check_shared_queues(pools)
    return pools


def _pool(env: Reader, name: str) -> PoolConfig:
    key = f"POOL_{name.upper().replace('-', '_')}_"
    queues = env.get(key + "QUEUES", NAMES, (name,) if name in WORKLOADS else ())
    unknown = [q for q in queues if q not in WORKLOADS]
    if not queues or unknown:
        raise ConfigurationError(
            f"{key}QUEUES={','.join(queues)!r} must name workloads among "
            f"{', '.join(WORKLOADS)}")
    command = env.get(key + "COMMAND", TEXT, None)
    policy = _policy(env, key)
    low, high = LAMBDA_CONCURRENCY
    return PoolConfig(name=name, queues=queues, policy=policy,
                      service=env.get(key + "SERVICE", TEXT, f"jobsys-worker-{name}"),
                      task_family=env.get(key + "TASK_FAMILY", TEXT, f"jobsys-worker-{name}"),
                      command=tuple(shlex.split(command)) if command else None,
                      runtime=env.get(key + "RUNTIME", choice(*RUNTIMES), "ecs"),
                      startup_seconds=env.get(key + "STARTUP_SECONDS", NUMBER, 0.0, low=0),
                      service_seconds=env.get(key + "SERVICE_SECONDS", NUMBER, 0.0, low=0),
                      lambda_concurrency=env.get(key + "LAMBDA_CONCURRENCY", INTEGER,
                                                 min(max(policy.max, low), high),
                                                 low=low, high=high),
                      lambda_memory=env.get(key + "LAMBDA_MEMORY", INTEGER, 1024,
                                            low=128, high=10240))


def _policy(env: Reader, key: str) -> Policy:
    d = Policy()
    policy = Policy(
        target=env.get(key + "TARGET", NUMBER, d.target, low=0.001),
        min=env.get(key + "MIN", INTEGER, d.min, low=0),
        max=env.get(key + "MAX", INTEGER, d.max, low=0),
        wake=env.get(key + "WAKE", INTEGER, d.wake, low=1),
        cooldown=env.get(key + "COOLDOWN", NUMBER, d.cooldown, low=0),
        max_step_out=env.get(key + "STEP_OUT", INTEGER, d.max_step_out, low=0),
        max_step_in=env.get(key + "STEP_IN", INTEGER, d.max_step_in, low=0),
        count_delayed=env.get(key + "COUNT_DELAYED", FLAG, d.count_delayed),
        concurrency=env.get(key + "CONCURRENCY", INTEGER, d.concurrency, low=1),
        drain=env.get(key + "DRAIN_SECONDS", NUMBER, d.drain, low=0),
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

