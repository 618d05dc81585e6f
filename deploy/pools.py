"""What runs each worker pool: ECS tasks, or AWS Lambda fed by an SQS event source.

A pool whose kinds all declare a longest run that fits Lambda's 15 minutes may run on
Lambda (parameter ``<Pool>PoolRuntime``); the others always run on ECS. On Lambda a
pool's function times out a margin after its longest kind, and its queue keeps a
message invisible for several of those timeouts, which every process is told
(``QUEUE_VISIBILITY_<POOL>``), since a job's claim goes stale after two thirds of it.
"""
from __future__ import annotations

from autoscaler.config import LAMBDA_CONCURRENCY, LAMBDA_MAX_SECONDS
from core import kinds
from deploy.cfn import camel, if_, ref
from deploy.names import POOLS, visibility_parameter

#: Lambda ends an invocation at its timeout: a pool's longest job plus this, which covers
#: the claim before the job and the outcome after it.
TIMEOUT_MARGIN = 60
#: A Lambda pool's queue hides a message for this many function timeouts. At least 1.5:
#: a job's claim goes stale after two thirds of it, and must not while an invocation may
#: still run it. AWS advises 6 so that throttled invocations are retried before the
#: message returns; the event source's MaximumConcurrency keeps it from throttling, and
#: a crashed invocation's job runs again only once the message returns.
VISIBILITY_PER_TIMEOUT = 2
SQS_MAX_VISIBILITY = 43200
#: Where each pool runs unless its parameter says otherwise.
DEFAULT_RUNTIME = {"default": "lambda", "pdf": "lambda", "imports": "lambda", "exports": "ecs"}
#: MiB of a pool's function; Lambda gives CPU in proportion (one vCPU at 1,769 MiB): 1024
#: gives each job 0.58 of one, more than the half a two-task worker gives each of its tasks.
DEFAULT_MEMORY = {"default": 1024, "pdf": 1024, "imports": 1024}
#: Most invocations of a pool at once (its event source's MaximumConcurrency): the
#: cluster-wide cap that keeps the pool's load on the database bounded.
DEFAULT_CONCURRENCY = {"default": 4, "pdf": 20, "imports": 4}
#: Seconds a Fargate worker takes to start: the autoscaler's seed for an ECS pool.
ECS_STARTUP_SECONDS = 40


def longest_run(pool: str) -> float | None:
    """The longest a job of the pool may run, in seconds; None when one is unbounded."""
    runs = [kinds.max_run(k) for k in kinds.KINDS.values() if k.workload == pool]
    if not runs or any(r is None for r in runs):
        return None
    return max(runs)


def function_timeout(pool: str) -> int | None:
    """The pool's Lambda timeout, or None when its jobs may outlast an invocation."""
    longest = longest_run(pool)
    if longest is None or longest + TIMEOUT_MARGIN > LAMBDA_MAX_SECONDS:
        return None
    return int(longest) + TIMEOUT_MARGIN


def lambda_pools() -> tuple[str, ...]:
    """The pools that may run on Lambda."""
    return tuple(p for p in POOLS if function_timeout(p) is not None)


def lambda_visibility(pool: str) -> int:
    """The visibility timeout of a Lambda pool's queue (at least its function timeout)."""
    return min(VISIBILITY_PER_TIMEOUT * function_timeout(pool), SQS_MAX_VISIBILITY)


def runtime_parameter(pool: str) -> str:
    return f"{camel(pool)}PoolRuntime"


def memory_parameter(pool: str) -> str:
    return f"{camel(pool)}PoolLambdaMemory"


def concurrency_parameter(pool: str) -> str:
    return f"{camel(pool)}PoolLambdaConcurrency"


def on_lambda(pool: str) -> str:
    """The condition that holds when the pool runs on Lambda."""
    return f"{camel(pool)}PoolOnLambda"


def on_ecs(pool: str) -> str:
    """The condition that holds when the pool runs on ECS."""
    return f"{camel(pool)}PoolOnEcs"


def on_lambda_in_aws(pool: str) -> str:
    """The pool runs on Lambda in AWS (not in the emulator): its alarms."""
    return f"{camel(pool)}PoolOnLambdaInAws"


def runtime(pool: str):
    """POOL_<NAME>_RUNTIME: ``ecs`` or ``lambda``."""
    return ref(runtime_parameter(pool)) if pool in lambda_pools() else "ecs"


def ecs_condition(pool: str) -> dict:
    """The ``Condition`` of a resource only an ECS pool has."""
    return {"Condition": on_ecs(pool)} if pool in lambda_pools() else {}


def visibility(pool: str, text: bool = False, runtime: str | None = None):
    """The visibility timeout of the pool's queue, as the queue has it and every process
    is told (``text``: as a variable's string): on Lambda, ``lambda_visibility``; on ECS,
    its ``Visibility<Pool>`` parameter. ``runtime`` says where the pool runs, when the
    resource that asks exists for one runtime only."""
    parameter = ref(visibility_parameter(pool))
    if pool not in lambda_pools() or runtime == "ecs":
        return parameter
    seconds = str(lambda_visibility(pool)) if text else lambda_visibility(pool)
    return seconds if runtime == "lambda" else if_(on_lambda(pool), seconds, parameter)


def parameters() -> dict:
    """Each pool's runtime, and its function's memory and concurrency on Lambda."""
    unfit = sorted(p for p, r in DEFAULT_RUNTIME.items() if r == "lambda" and
                   p not in lambda_pools())
    if unfit:
        raise ValueError(f"pools {unfit} run on Lambda by default, but a job of theirs may "
                         f"run longer than {LAMBDA_MAX_SECONDS - TIMEOUT_MARGIN} s")
    low, high = LAMBDA_CONCURRENCY
    out = {}
    for pool in lambda_pools():
        out[runtime_parameter(pool)] = {
            "Type": "String", "Default": DEFAULT_RUNTIME[pool], "AllowedValues": ["lambda", "ecs"],
            "Description": f"what runs the {pool} pool: lambda (a function fed by its queue) "
                           "or ecs (Fargate workers the autoscaler starts)"}
        out[memory_parameter(pool)] = {
            "Type": "Number", "Default": DEFAULT_MEMORY[pool], "MinValue": 128,
            "MaxValue": 10240, "Description": f"MiB of the {pool} pool's function (on Lambda)"}
        out[concurrency_parameter(pool)] = {
            "Type": "Number", "Default": DEFAULT_CONCURRENCY[pool], "MinValue": low,
            "MaxValue": high, "Description": f"most {pool} jobs at once on Lambda (the "
                                             "event source's MaximumConcurrency)"}
    return out


def conditions() -> dict:
    out = {}
    for pool in lambda_pools():
        out[on_lambda(pool)] = {"Fn::Equals": [ref(runtime_parameter(pool)), "lambda"]}
        out[on_ecs(pool)] = {"Fn::Not": [{"Condition": on_lambda(pool)}]}
        out[on_lambda_in_aws(pool)] = {"Fn::And": [{"Condition": "IsAws"},
                                                   {"Condition": on_lambda(pool)}]}
    return out
