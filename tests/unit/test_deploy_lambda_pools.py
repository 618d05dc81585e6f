"""Worker pools on Lambda: which pools may and do run there, the function each gets (the
worker image, the pool's handler, the workers' settings, a timeout its longest job fits),
the event source that feeds it one job at a time, the visibility timeout every process
agrees on, and a role with what the pool's jobs and its event source need only."""
from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from core import csvimport, exports, kinds, pdfbatch
from core.settings import NOTIFY_KINDS, WORKLOADS, Settings
from deploy import pools
from deploy.iam import WORKER_SQS
from tests.support.stack import (PARAMETERS, RESOURCES, created, environment, listed, of_type,
                                 statements, value)

LAMBDA_POOLS = ("default", "pdf", "imports")
ALL_ON_ECS = {f"{p.capitalize()}PoolRuntime": "ecs" for p in LAMBDA_POOLS}
#: Every mix of runtimes the template can be given.
RUNTIMES = [{}, ALL_ON_ECS, {"PdfPoolRuntime": "ecs"}, {"DefaultPoolRuntime": "ecs"}]
JOB = "0f8b4c1e-2f53-4f6e-9d64-1a7e7c5b2a90"
#: What each pool's jobs write and read in the bucket, from the code that names the keys.
POOL_KEYS = {"pdf": [pdfbatch.document_key(JOB, 7), pdfbatch.archive_key(JOB),
                     pdfbatch.recipients_key("people.csv", "alice@example.com")],
             "imports": [csvimport.upload_key("customers", "list.csv"),
                         csvimport.report_key(JOB)],
             "default": []}


def function(pool: str) -> dict:
    return RESOURCES[f"{pool.capitalize()}PoolFunction"]["Properties"]


def event_source(pool: str) -> dict:
    return RESOURCES[f"{pool.capitalize()}PoolEventSource"]["Properties"]


def role(pool: str) -> str:
    return f"{pool.capitalize()}PoolFunctionRole"


def test_every_pool_whose_jobs_fit_an_invocation_may_run_on_lambda_and_three_do():
    assert pools.lambda_pools() == LAMBDA_POOLS
    assert {p: PARAMETERS[f"{p.capitalize()}PoolRuntime"]["Default"] for p in LAMBDA_POOLS} == \
        dict.fromkeys(LAMBDA_POOLS, "lambda")
    # An export may run for hours: its pool has no choice but ECS.
    assert kinds.KINDS["export"].max_run_seconds is None
    assert "ExportsPoolRuntime" not in PARAMETERS
    assert not [n for n in RESOURCES if n.startswith("ExportsPool")]


@pytest.mark.parametrize("runtimes", RUNTIMES)
def test_a_pool_has_a_function_or_a_service_never_both(runtimes):
    for pool in WORKLOADS:
        on_lambda = pool in LAMBDA_POOLS and runtimes.get(f"{pool.capitalize()}PoolRuntime",
                                                          "lambda") == "lambda"
        name = pool.capitalize()
        lambda_side = [f"{name}PoolFunction", f"{name}PoolEventSource", f"{name}PoolLogGroup",
                       f"{name}PoolFunctionRole"]
        assert [created(n, runtimes) for n in lambda_side if n in RESOURCES] == \
            [on_lambda] * (4 if pool in LAMBDA_POOLS else 0)
        assert created(f"{name}WorkerService", runtimes) is not on_lambda


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_function_runs_the_pools_handler_from_the_worker_image(pool):
    props = function(pool)
    (worker,) = {c["Image"]["Fn::Sub"] for n, c in containers_of_workers().items()}
    assert props["PackageType"] == "Image" and props["Code"]["ImageUri"]["Fn::Sub"] == worker
    assert props["ImageConfig"] == {"EntryPoint": ["python", "-m", "awslambdaric"],
                                    "Command": ["worker.lambda_pool.handler"]}
    assert props["FunctionName"] == {"Fn::Sub": f"${{QueuePrefix}}worker-{pool}"}
    assert props["Role"] == {"Fn::GetAtt": [role(pool), "Arn"]}
    assert props["MemorySize"] == {"Ref": f"{pool.capitalize()}PoolLambdaMemory"}
    assert props["VpcConfig"] == {"SubnetIds": {"Ref": "PrivateSubnetIds"},
                                  "SecurityGroupIds": [{"Ref": "WorkerSecurityGroup"}]}
    group = RESOURCES[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{QueuePrefix}}worker-{pool}"}


def containers_of_workers() -> dict:
    return {n: td["Properties"]["ContainerDefinitions"][0]
            for n, td in of_type("AWS::ECS::TaskDefinition").items()
            if td["Properties"]["ContainerDefinitions"][0]["Name"] == "worker"}


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_timeout_is_the_longest_job_of_the_pool_and_a_margin_within_15_minutes(pool):
    longest = max(k.max_run_seconds for k in kinds.KINDS.values() if k.workload == pool)
    assert function(pool)["Timeout"] == longest + pools.TIMEOUT_MARGIN <= 900


def test_every_pool_function_gets_a_gigabyte_more_cpu_a_job_than_a_worker_gives_a_task():
    memory = {p: PARAMETERS[f"{p.capitalize()}PoolLambdaMemory"]["Default"] for p in LAMBDA_POOLS}
    assert memory == {"default": 1024, "pdf": 1024, "imports": 1024}


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_function_has_the_workers_settings_and_its_secret_resolved(pool):
    ecs = value(environment(f"{pool.capitalize()}WorkerTaskDefinition"), {})
    own = f"QUEUE_VISIBILITY_{pool.upper()}"
    variables = value(function(pool)["Environment"]["Variables"], {})
    assert {k: v for k, v in variables.items()
            if k not in (own, "DATABASE_URL", "XDG_CACHE_HOME")} == \
        {k: v for k, v in ecs.items() if k not in (own, "AWS_REGION", "WORKER_CONCURRENCY")}
    assert variables["WORKER_QUEUES"] == pool
    assert variables["XDG_CACHE_HOME"].startswith("/tmp/"), "only /tmp is writable on Lambda"
    assert (variables["LOG_FORMAT"], variables["METRICS"]) == ("json", "emf")
    assert variables["DATABASE_URL"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${DatabaseUrlSecretArn}:SecretString}}"}
    # Lambda refuses a function that sets a variable it reserves.
    assert not {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME"} & set(variables)


def visibilities(node, runtimes) -> dict:
    env = value(node, runtimes)
    return {w: int(env[f"QUEUE_VISIBILITY_{w.upper()}"]) for w in WORKLOADS}


@pytest.mark.parametrize("runtimes", RUNTIMES)
def test_every_process_is_told_the_visibility_timeouts_the_queues_have(runtimes):
    params = {**runtimes, **{f"Visibility{w.capitalize()}": 45 for w in WORKLOADS}}
    queues = {w: int(value(RESOURCES[f"{w.capitalize()}Queue"]["Properties"]["VisibilityTimeout"],
                           params)) for w in WORKLOADS}
    told = {n: visibilities(environment(n), params) for n in containers_of_workers()}
    told["Flower"] = visibilities(environment("FlowerTaskDefinition"), params)
    told |= {p: visibilities(function(p)["Environment"]["Variables"], params)
             for p in LAMBDA_POOLS if created(f"{p.capitalize()}PoolFunction", params)}
    assert told and all(seen == queues for seen in told.values()), (queues, told)
    for pool in LAMBDA_POOLS:
        on_lambda = created(f"{pool.capitalize()}PoolFunction", params)
        assert queues[pool] == (pools.lambda_visibility(pool) if on_lambda else 45)


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_a_running_invocations_message_stays_hidden_and_its_claim_fresh(pool):
    timeout = function(pool)["Timeout"]
    visibility = value(RESOURCES[f"{pool.capitalize()}Queue"]["Properties"]["VisibilityTimeout"],
                       {})
    settings = Settings.from_env({f"QUEUE_VISIBILITY_{pool.upper()}": str(visibility)})
    from tasks.runtime import stale_after
    assert stale_after(settings, {"routing_key": pool}) >= timeout
    assert timeout <= visibility <= 43200


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_event_source_feeds_one_job_per_invocation_within_the_pools_concurrency(pool):
    props = event_source(pool)
    assert props["EventSourceArn"] == {"Fn::GetAtt": [f"{pool.capitalize()}Queue", "Arn"]}
    assert props["FunctionName"] == {"Ref": f"{pool.capitalize()}PoolFunction"}
    assert props["BatchSize"] == 1 and props["Enabled"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    parameter = props["ScalingConfig"]["MaximumConcurrency"]["Ref"]
    assert (PARAMETERS[parameter]["MinValue"], PARAMETERS[parameter]["MaxValue"]) == (2, 1000)


def test_concurrency_defaults_protect_the_database():
    assert {p: PARAMETERS[f"{p.capitalize()}PoolLambdaConcurrency"]["Default"]
            for p in LAMBDA_POOLS} == {"default": 4, "pdf": 20, "imports": 4}


# --- the function's role --------------------------------------------------------------

ACCOUNT, PREFIX = "123456789012", "jobsys-"


def arn_of(resource) -> str:
    if "Fn::GetAtt" in resource:
        name = RESOURCES[resource["Fn::GetAtt"][0]]["Properties"]["QueueName"]["Fn::Sub"]
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:" + name.replace("${QueuePrefix}", PREFIX)
    text = resource["Fn::Sub"]
    for name, replacement in (("${AWS::Partition}", "aws"), ("${AWS::Region}", "us-east-1"),
                              ("${AWS::AccountId}", ACCOUNT), ("${QueuePrefix}", PREFIX),
                              ("${SenderIdentity}", "example.com")):
        text = text.replace(name, replacement)
    return text


def allowed(pool: str, action: str, target: str) -> bool:
    return any(any(fnmatchcase(action, a) for a in listed(s["Action"])) and
               any(fnmatchcase(target, arn_of(r)) for r in listed(s["Resource"]))
               for s in statements(role(pool)))


def queue(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}{name}"


def bucket(key: str) -> str:
    return f"arn:aws:s3:::{PREFIX}files-{ACCOUNT}-us-east-1/{key}"


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_event_source_may_poll_and_delete_on_the_pools_queue_only(pool):
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:ChangeMessageVisibility"):
        assert allowed(pool, action, queue(pool)), action
        for other in set(WORKLOADS) - {pool}:
            assert not allowed(pool, action, queue(other)), (action, other)
            assert not allowed(pool, action, queue(f"{other}-dlq")), (action, other)


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_role_holds_what_the_pools_jobs_need_and_nothing_else(pool):
    by_sid = {s["Sid"]: s for s in statements(role(pool))}
    expected = {"Logs", "VpcNetworking", "PoolQueues", "FindTaskQueues"}
    expected |= {"Files"} if POOL_KEYS[pool] else set()
    expected |= {"SendMail"} if any(k.workload == pool and k.name in NOTIFY_KINDS
                                    for k in kinds.KINDS.values()) else set()
    assert set(by_sid) == expected
    assert sorted(listed(by_sid["PoolQueues"]["Action"])) == sorted(WORKER_SQS)
    assert [arn_of(r) for r in by_sid["PoolQueues"]["Resource"]] == \
        [queue(pool), queue(f"{pool}-dlq")]
    # Its Celery app resolves every task queue's URL; it may do nothing else with theirs.
    assert listed(by_sid["FindTaskQueues"]["Action"]) == ["sqs:GetQueueUrl"]
    assert [arn_of(r) for r in by_sid["FindTaskQueues"]["Resource"]] == \
        [queue(w) for w in WORKLOADS]
    assert by_sid["Logs"]["Resource"]["Fn::Sub"].endswith(
        f":log-group:/aws/lambda/${{QueuePrefix}}worker-{pool}:*")
    actions = {a for s in statements(role(pool)) for a in listed(s["Action"])}
    # No task protection (no ECS agent), no monitoring queues or topics (no events).
    assert not {a for a in actions if a.split(":")[0] in ("ecs", "sns")}
    assert "sqs:CreateQueue" not in actions and "sqs:ListQueues" not in actions
    for s in statements(role(pool)):
        if s["Resource"] == "*":
            assert s["Sid"] == "VpcNetworking"


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_pools_jobs_may_use_their_own_files_only(pool):
    for key in POOL_KEYS[pool]:
        assert allowed(pool, "s3:GetObject", bucket(key)) and \
            allowed(pool, "s3:PutObject", bucket(key)), key
    others = [k for p, keys in POOL_KEYS.items() if p != pool for k in keys]
    others.append(exports.export_key(JOB, "customers", gzip=True))
    for key in others:
        assert not allowed(pool, "s3:GetObject", bucket(key)), key
        assert not allowed(pool, "s3:PutObject", bucket(key)), key


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_the_role_exists_while_its_pool_runs_on_lambda_only(pool):
    assert created(role(pool), {}) and not created(role(pool), ALL_ON_ECS)


# --- the autoscaler, the alarms, the dashboard ------------------------------------------

def test_the_autoscaler_is_told_where_each_pool_runs_and_how_long_fargate_takes():
    env = RESOURCES["AutoscalerFunction"]["Properties"]["Environment"]["Variables"]
    assert {p: env[f"POOL_{p.upper()}_RUNTIME"] for p in WORKLOADS} == {
        **{p: {"Ref": f"{p.capitalize()}PoolRuntime"} for p in LAMBDA_POOLS},
        "exports": "ecs"}
    assert {env[f"POOL_{p.upper()}_STARTUP_SECONDS"] for p in WORKLOADS} == {"40"}
    assert all(env[f"POOL_{p.upper()}_CONCURRENCY"] == {"Ref": "WorkerConcurrency"}
               for p in WORKLOADS), "the sizing counts a worker's tasks as the workers run them"
    from autoscaler.config import load
    resolved = {k: value(v, {}) for k, v in env.items()}
    config = load({k: str(v) for k, v in resolved.items() if isinstance(v, (str, int))})
    assert [p.name for p in config.pools if not p.on_lambda] == ["exports"]


@pytest.mark.parametrize("pool", LAMBDA_POOLS)
def test_a_crashed_or_timed_out_invocation_alarms(pool):
    (alarm,) = [a for a in of_type("AWS::CloudWatch::Alarm").values()
                if {"Name": "FunctionName", "Value": {"Ref": f"{pool.capitalize()}PoolFunction"}}
                in a["Properties"]["Dimensions"]]
    assert alarm["Properties"]["MetricName"] == "Errors"
    assert created(f"{pool.capitalize()}PoolErrorsAlarm", {}) and \
        not created(f"{pool.capitalize()}PoolErrorsAlarm", {"Target": "emulator"}) and \
        not created(f"{pool.capitalize()}PoolErrorsAlarm", ALL_ON_ECS)
