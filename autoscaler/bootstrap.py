"""The one place that builds boto3 clients and adapters from the configuration."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import boto3
from botocore.config import Config as BotoConfig

from autoscaler.config import Config, PoolConfig
from autoscaler.decide import Estimates
from autoscaler.errors import ConfigurationError
from autoscaler.local import LocalProcessScaler
from autoscaler.queues import SqsQueueDepth
from autoscaler.rounds import Autoscaler, Pool, log_line
from autoscaler.scalers import EcsServiceScaler, EcsTaskScaler, WorkerScaler, awsvpc_network
from autoscaler.state import MemoryStateStore, S3StateStore, StateStore

_BOTO = BotoConfig(connect_timeout=5, read_timeout=20,
                   retries={"mode": "standard", "max_attempts": 4})


@dataclass(frozen=True)
class Clients:
    """The boto3 clients a round uses; ``ecs`` and ``s3`` only where the mode needs them."""

    sqs: Any
    ecs: Any = None
    s3: Any = None


def make_clients(config: Config, session: boto3.session.Session | None = None) -> Clients:
    """Clients for the configured region and optional endpoint URL."""
    session = session or boto3.session.Session()

    def client(service: str):
        return session.client(service, region_name=config.region,
                              endpoint_url=config.endpoint_url, config=_BOTO)

    return Clients(sqs=client("sqs"),
                   ecs=client("ecs") if config.mode.startswith("ecs") else None,
                   s3=client("s3") if config.state_bucket else None)


def build(config: Config, clients: Clients, environ: Mapping[str, str] | None = None,
          log_dir: Path | None = None, cwd: str | None = None,
          emit: Callable[[str], None] = log_line) -> Autoscaler:
    """The autoscaler for ``config``; ``environ`` is the base environment of local workers."""
    if config.mode == "local" and environ is None:
        raise ConfigurationError("local mode starts workers: pass their base environment "
                                 "(environ=os.environ, or a copy with their settings)")
    # A Lambda pool is scaled by its event source mapping, not by rounds.
    pools = tuple(
        Pool(name=p.name, policy=p.policy,
             queues=tuple(config.queue_name(q) for q in p.queues),
             scaler=make_scaler(config, p, clients, environ or {}, log_dir, cwd),
             seeds=Estimates(service=p.service_seconds, startup=p.startup_seconds),
             workloads=p.queues)
        for p in config.pools if not p.on_lambda)
    return Autoscaler(pools=pools,
                      depth=SqsQueueDepth(clients.sqs),
                      store=make_store(config, clients), dry_run=config.dry_run, emit=emit,
                      metrics_namespace=(config.metrics_namespace if config.metrics == "emf"
                                         else None))


def make_store(config: Config, clients: Clients) -> StateStore:
    """S3 when AUTOSCALER_STATE_BUCKET is set, else this process's memory."""
    if config.state_bucket:
        return S3StateStore(clients.s3, config.state_bucket, config.state_key)
    return MemoryStateStore()


def make_scaler(config: Config, pool: PoolConfig, clients: Clients,
                environ: Mapping[str, str], log_dir: Path | None = None,
                cwd: str | None = None) -> WorkerScaler:
    """The scaler of one pool in the configured mode."""
    if config.mode == "ecs-service":
        return EcsServiceScaler(_need(clients.ecs), config.cluster, pool.service)
    if config.mode == "ecs-task":
        network = awsvpc_network(config.subnets, config.security_groups,
                                 config.assign_public_ip)
        return EcsTaskScaler(_need(clients.ecs), config.cluster, pool.task_family,
                             launch_type=config.launch_type, network=network,
                             group=f"autoscaler:{pool.name}")
    return LocalProcessScaler(pool.name, pool.command or (sys.executable, "-m", "worker"),
                              worker_env(environ, pool), cwd=cwd, log_dir=log_dir)


def worker_env(environ: Mapping[str, str], pool: PoolConfig) -> dict[str, str]:
    """The environment of a local worker of ``pool``: the base one, on the pool's queues."""
    return dict(environ, WORKER_QUEUES=",".join(pool.queues))


def _need(client):
    if client is None:
        raise ConfigurationError("an ECS mode needs an ECS client; build clients with "
                                 "make_clients(config) for that mode")
    return client
