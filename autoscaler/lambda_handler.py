"""The Lambda entry point: one round over every pool per invocation.

Triggered by an EventBridge schedule (every minute) and by the wake queue's SQS
event source (within seconds of a job being queued); both run the same round, and
the workers' reports in an SQS event are folded into it.
"""
from __future__ import annotations

import os

from autoscaler import logformat
from autoscaler.bootstrap import build, make_clients
from autoscaler.config import Config, load
from autoscaler.errors import ConfigurationError
from autoscaler.loop import run_once
from autoscaler.wake import signals_in_event


def handler(event, context) -> list[dict]:
    """Decide and apply the worker count of every pool; returns the decision records."""
    config = lambda_config(os.environ)
    logformat.configure(config.log_format)
    autoscaler = build(config, make_clients(config), emit=print)
    return run_once(autoscaler, signals=signals_in_event(event))


def lambda_config(environ) -> Config:
    """The configuration, checked for what a Lambda needs (ECS mode, state in S3)."""
    config = load(environ)
    if config.mode == "local":
        raise ConfigurationError(
            "AUTOSCALER_MODE=local starts processes on this machine; set it to "
            "ecs-service or ecs-task for the Lambda")
    if not config.state_bucket:
        raise ConfigurationError(
            "AUTOSCALER_STATE_BUCKET is not set; the Lambda keeps the pools' cooldowns "
            "in S3 between invocations")
    return config
