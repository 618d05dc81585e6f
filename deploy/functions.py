"""The Lambdas and what invokes them: the autoscaler (every minute and on wake
signals), the import of an uploaded file (S3), the scheduled jobs (``core.schedules``:
the nightly export at 02:00 Tokyo), and each worker pool on Lambda (its queue)."""
from __future__ import annotations

from core.schedules import SCHEDULES, Schedule, eventbridge_schedule
from deploy import ecs, iam, pools
from deploy.dashboard import metrics_env
from deploy.cfn import att, camel, ref, sub
from deploy.names import (AUTOSCALER_HANDLER, BUCKET_NAME, CLUSTER_NAME, IMPORT_UPLOAD_HANDLER,
                          NIGHTLY_EXPORT_HANDLER, POOL_HANDLER, POOLS, STATE_KEY, function_name,
                          image, pool_short, queue_id, service_name)

#: The web and worker images run a handler through the Runtime Interface Client.
LAMBDA_ENTRYPOINT = ["python", "-m", "awslambdaric"]
#: At most the wake queue's visibility timeout (30 s), as an SQS trigger requires.
AUTOSCALER_TIMEOUT = 25


def autoscaler_env() -> dict:
    """docs/autoscaler.md's settings for the ecs-service mode."""
    out = {"AUTOSCALER_MODE": "ecs-service", "AUTOSCALER_CLUSTER": sub(CLUSTER_NAME),
           "AUTOSCALER_STATE_BUCKET": ref("FilesBucket"), "AUTOSCALER_STATE_KEY": STATE_KEY,
           "AUTOSCALER_DRY_RUN": ref("AutoscalerDryRun"), "QUEUE_PREFIX": ref("QueuePrefix"),
           "AUTOSCALER_POOLS": ",".join(POOLS), "LOG_FORMAT": "json", **metrics_env()}
    for p in POOLS:
        key = f"POOL_{p.upper()}_"
        out[key + "SERVICE"] = sub(service_name(p))
        out[key + "MAX"] = ref("PoolMax")
        out[key + "TARGET"] = ref("WorkerConcurrency")
        out[key + "CONCURRENCY"] = ref("WorkerConcurrency")
        # The round leaves a pool on Lambda to its event source.
        out[key + "RUNTIME"] = pools.runtime(p)
        out[key + "STARTUP_SECONDS"] = str(pools.ECS_STARTUP_SECONDS)
    return out


#: A Lambda's environment cannot reference a secret: CloudFormation resolves it at deploy.
DATABASE_URL = sub("{{resolve:secretsmanager:${DatabaseUrlSecretArn}:SecretString}}")


def web_lambda_env() -> dict:
    return {"DATABASE_URL": DATABASE_URL, "QUEUE_PREFIX": ref("QueuePrefix"),
            "BUCKET": sub(BUCKET_NAME), "LOG_FORMAT": "json"}


def function(short, kind, role, timeout, memory, environment, image_config=None,
             network=None, concurrency=None, logs=None) -> dict:
    """A function from ``kind``'s image; in the private subnets with the security group
    ``network``, when given."""
    props = {
        "FunctionName": sub(function_name(short)), "PackageType": "Image",
        "Code": {"ImageUri": image(kind)}, "Role": att(role, "Arn"),
        "Timeout": timeout, "MemorySize": memory,
        "Environment": {"Variables": environment},
        "LoggingConfig": {"LogGroup": ref(logs or f"{camel(short)}LogGroup")},
    }
    if image_config:
        props["ImageConfig"] = image_config
    if concurrency:
        props["ReservedConcurrentExecutions"] = concurrency
    if network:
        props["VpcConfig"] = {"SubnetIds": ref("PrivateSubnetIds"),
                              "SecurityGroupIds": [ref(network)]}
    return {"Type": "AWS::Lambda::Function", "Properties": props}


def log_group(short: str) -> dict:
    return {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": sub("/aws/lambda/" + function_name(short)),
        "RetentionInDays": ref("LogRetentionDays")}}


def functions() -> dict:
    out = {
        "AutoscalerFunction": function(
            "autoscaler", "autoscaler", "AutoscalerRole", AUTOSCALER_TIMEOUT, 256,
            autoscaler_env(), {"Command": [AUTOSCALER_HANDLER]},
            # One round at a time: the schedule's and a wake signal's rounds would
            # overwrite each other's state in S3.
            concurrency=1),
        "ImportUploadFunction": function(
            "import-upload", "web", "ImportUploadRole", 60, 512, web_lambda_env(),
            {"EntryPoint": LAMBDA_ENTRYPOINT, "Command": [IMPORT_UPLOAD_HANDLER]},
            network="LambdaSecurityGroup"),
        "NightlyExportFunction": function(
            "nightly-export", "web", "NightlyExportRole", 60, 512, web_lambda_env(),
            {"EntryPoint": LAMBDA_ENTRYPOINT, "Command": [NIGHTLY_EXPORT_HANDLER]},
            network="LambdaSecurityGroup"),
    }
    for short in ("autoscaler", "import-upload", "nightly-export"):
        out[f"{camel(short)}LogGroup"] = log_group(short)
    for pool in pools.lambda_pools():
        out.update(pool_resources(pool))
    return out


def pool_function_id(pool: str) -> str:
    """Logical id of a Lambda pool's function."""
    return f"{camel(pool)}PoolFunction"


def pool_resources(pool: str) -> dict:
    """A pool on Lambda: a function from the worker image running the pool's handler with
    the workers' settings, its log group, and the event source that feeds it its queue
    one job per invocation."""
    short, condition = pool_short(pool), {"Condition": pools.on_lambda(pool)}
    environment = {**ecs.worker_env(pool, "lambda"), "DATABASE_URL": DATABASE_URL,
                   # Only /tmp is writable on Lambda: fontconfig keeps its cache there.
                   "XDG_CACHE_HOME": "/tmp/.cache"}
    return {
        pool_function_id(pool): {**condition, **function(
            short, "worker", iam.pool_role_id(pool), pools.function_timeout(pool),
            ref(pools.memory_parameter(pool)), environment,
            {"EntryPoint": LAMBDA_ENTRYPOINT, "Command": [POOL_HANDLER]},
            # The workers' group: the database lets it in.
            network="WorkerSecurityGroup", logs=f"{camel(pool)}PoolLogGroup")},
        f"{camel(pool)}PoolLogGroup": {**condition, **log_group(short)},
        f"{camel(pool)}PoolEventSource": {**condition, **event_source(pool)},
    }


def event_source(pool: str) -> dict:
    return {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
        "EventSourceArn": att(queue_id(pool), "Arn"),
        "FunctionName": ref(pool_function_id(pool)), "Enabled": True,
        # One job per invocation: a long job holds no other, and the timeout is per job.
        "BatchSize": 1,
        "ScalingConfig": {"MaximumConcurrency": ref(pools.concurrency_parameter(pool))},
        # The handler names the messages to leave on the queue; the rest are deleted.
        "FunctionResponseTypes": ["ReportBatchItemFailures"]}}


def triggers() -> dict:
    return {
        "AutoscalerSchedule": {"Type": "AWS::Events::Rule", "Properties": {
            "Name": sub("${QueuePrefix}autoscaler-every-minute"),
            "Description": "one autoscaler round every minute",
            "ScheduleExpression": "rate(1 minute)", "State": "ENABLED",
            "Targets": [{"Id": "autoscaler", "Arn": att("AutoscalerFunction", "Arn")}]}},
        "AutoscalerSchedulePermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": ref("AutoscalerFunction"), "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com", "SourceArn": att("AutoscalerSchedule", "Arn")}},
        # Wake signals: a round within seconds of a job reaching a pool at zero.
        "AutoscalerWakeTrigger": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": att("WakeQueue", "Arn"), "FunctionName": ref("AutoscalerFunction"),
            # 2 is the least SQS pollers allow; the second waits behind the one round.
            "BatchSize": 10, "Enabled": True, "ScalingConfig": {"MaximumConcurrency": 2}}},
        "ImportUploadPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": ref("ImportUploadFunction"), "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com", "SourceAccount": sub("${AWS::AccountId}"),
            "SourceArn": sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME)}},
        **{schedule_id(s): schedule(s) for s in SCHEDULES.values()},
    }


def schedule_id(item: Schedule) -> str:
    """Logical id of a schedule's EventBridge Scheduler schedule."""
    return f"{camel(item.name)}Schedule"


def schedule(item: Schedule) -> dict:
    """The Scheduler schedule that invokes the nightly-export handler with the schedule's name
    (the handler refuses an event without one)."""
    # The same arguments CreateSchedule takes (core.schedules), named for the stack.
    props = eventbridge_schedule(item, att("NightlyExportFunction", "Arn"),
                                 att("SchedulerRole", "Arn"))
    props["Target"]["RetryPolicy"] = {"MaximumRetryAttempts": 2}
    return {"Type": "AWS::Scheduler::Schedule", "Condition": "IsAws", "Properties": {
        **props, "Name": sub("${QueuePrefix}" + item.name),
        "Description": f"{item.kind} {item.name}: {item.cron} ({item.timezone})",
        "State": "ENABLED"}}
