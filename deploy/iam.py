"""IAM roles, each allowed what its process does and nothing else.

The worker's role: its task queues and their dead-letter queues (receive, send,
delete messages; never create, delete or reconfigure them), the monitoring queues
it creates (only names that monitoring queues have), the fanout topics, its
bucket prefixes, and its own task's scale-in protection. A pool on Lambda has a
role of its own: its queue and dead-letter queue, its own jobs' files and mail.
"""
from __future__ import annotations

from broker.monitoring import SQS_NAME_PATTERNS
from core import kinds
from core.settings import NOTIFY_KINDS
from deploy import pools
from deploy.cfn import att, camel, role, statement, sub
from deploy.names import (CLUSTER_NAME, DATA_PREFIXES, POOL_PREFIXES, POOLS, STATE_KEY,
                          UPLOAD_PREFIXES, arn, bucket_arn, dead_letter_id, function_name,
                          pool_short, queue_id, service_name)

#: What a process that sends and receives Celery's events and remote control
#: does on SQS and SNS (docs/flower.md, "IAM").
MONITORING_SQS = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueUrl",
                  "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:TagQueue",
                  "sqs:ListQueueTags", "sqs:ReceiveMessage", "sqs:SendMessage",
                  "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
MONITORING_SNS = ["sns:CreateTopic", "sns:TagResource", "sns:Publish", "sns:Subscribe",
                  "sns:Unsubscribe", "sns:ListSubscriptionsByTopic"]
#: What the operator page does with the dead-letter queues (depth, peek, redrive).
DEAD_LETTER_SQS = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
                   "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
#: What a worker does with the task queues and their dead-letter queues.
WORKER_SQS = DEAD_LETTER_SQS + ["sqs:SendMessage"]
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]


def monitoring_queues() -> list[dict]:
    """The queues events and remote control create at run time, by their names' shapes."""
    return [arn("sqs", "${QueuePrefix}" + pattern) for pattern in SQS_NAME_PATTERNS]


def topics() -> list[dict]:
    return [{"Ref": "EventsTopic"}, {"Ref": "PidboxTopic"}]


def task_queues() -> list[dict]:
    return [att(queue_id(p), "Arn") for p in POOLS]


def dead_letter_queues() -> list[dict]:
    return [att(dead_letter_id(p), "Arn") for p in POOLS]


def data_objects(prefixes=DATA_PREFIXES) -> list[dict]:
    return [bucket_arn(prefix + "*") for prefix in prefixes]


def celery_on_sqs() -> list[dict]:
    """A worker's or Flower's monitoring queues and topics (DeleteMessageBatch is
    DeleteMessage in IAM)."""
    return [statement(MONITORING_SQS, monitoring_queues(), "MonitoringQueues"),
            statement("sqs:ListQueues", "*", "FindMonitoringQueues"),
            statement(MONITORING_SNS, topics(), "FanoutTopics"),
            statement("sns:ListTopics", "*", "FindTopics")]


def sender(queues: list[dict]) -> list[dict]:
    """What enqueueing takes: the queue URLs, sending to ``queues`` and waking the autoscaler."""
    return [statement(["sqs:GetQueueUrl", "sqs:GetQueueAttributes"],
                      task_queues() + [att("WakeQueue", "Arn")], "FindQueues"),
            statement("sqs:SendMessage", queues + [att("WakeQueue", "Arn")], "Enqueue")]


def operator_page() -> list[dict]:
    """What the operator page reads and does: dead-letter queues (depth, peek, redrive)
    and the autoscaler's last decisions."""
    return [statement(DEAD_LETTER_SQS, dead_letter_queues(), "DeadLetters"),
            statement("s3:GetObject", bucket_arn(STATE_KEY), "AutoscalerDecisions")]


def send_mail() -> dict:
    """Job e-mails through SES (SESv2 SendEmail), from MailFrom only."""
    return {**statement("ses:SendEmail", arn("ses", "identity/${SenderIdentity}"), "SendMail"),
            "Condition": {"StringEquals": {"ses:FromAddress": {"Ref": "MailFrom"}}}}


def alert() -> dict:
    """An asynchronously invoked Lambda's failure destination: the alert topic."""
    return statement("sns:Publish", {"Ref": "AlertTopic"}, "FailureDestination")


def lambda_logs(short: str) -> dict:
    return statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                     arn("logs", "log-group:/aws/lambda/" + function_name(short) + ":*"), "Logs")


#: A Lambda in a VPC manages its network interfaces (AWSLambdaVPCAccessExecutionRole).
VPC_ACCESS = statement(["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses", "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"], "*", "VpcNetworking")


def roles() -> dict:
    """Every role of the stack, by logical id."""
    repositories = arn("ecr", "repository/${RepositoryPrefix}/*")
    return {
        "ExecutionRole": role("ecs-tasks.amazonaws.com", {"pull-images-logs-secrets": [
            statement("ecr:GetAuthorizationToken", "*", "EcrLogin"),
            statement(["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                       "ecr:BatchGetImage"], repositories, "PullImages"),
            statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                      sub("${LogGroup.Arn}"), "Logs"),
            statement("secretsmanager:GetSecretValue",
                      [{"Ref": "DatabaseUrlSecretArn"}, {"Ref": "FlowerSecretArn"},
                       {"Ref": "WebSecretKeyArn"}], "Secrets"),
        ]}),
        "WorkerTaskRole": role("ecs-tasks.amazonaws.com", {"worker": [
            statement(WORKER_SQS, task_queues() + dead_letter_queues(), "TaskQueues"),
            *celery_on_sqs(),
            statement(OBJECT_ACTIONS, data_objects(), "Files"),
            statement(["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"],
                      arn("ecs", "task/" + CLUSTER_NAME + "/*"), "OwnTaskProtection"),
            send_mail(),
            # Its readiness and its jobs' run times, which the autoscaler learns from.
            statement(["sqs:GetQueueUrl", "sqs:SendMessage"], att("WakeQueue", "Arn"),
                      "Reports"),
        ]}),
        "WebTaskRole": role("ecs-tasks.amazonaws.com", {"web": [
            *sender(task_queues()),
            # Downloads are presigned GETs, and HEAD (is there an error report?) is GetObject.
            statement("s3:GetObject", data_objects(), "Files"),
            statement("s3:PutObject", data_objects(UPLOAD_PREFIXES), "Uploads"),
            *operator_page(),
        ]}),
        "FlowerTaskRole": role("ecs-tasks.amazonaws.com", {"flower": [
            # Its Celery app knows the task queues by URL; it never touches their messages.
            statement("sqs:GetQueueUrl", task_queues(), "FindTaskQueues"),
            *celery_on_sqs(),
        ]}),
        "AutoscalerRole": role("lambda.amazonaws.com", {"autoscaler": [
            lambda_logs("autoscaler"),
            # Every pool's, whatever runs it: a pool on Lambda has no service to change,
            # and a list whose items depend on conditions reaches IAM with nulls in moto.
            statement(["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], task_queues(),
                      "QueueDepths"),
            statement(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                      att("WakeQueue", "Arn"), "WakeSignals"),
            statement(["ecs:DescribeServices", "ecs:UpdateService"],
                      [arn("ecs", "service/" + CLUSTER_NAME + "/" + service_name(p))
                       for p in POOLS], "WorkerServices"),
            statement(["s3:GetObject", "s3:PutObject"], bucket_arn(STATE_KEY), "State"),
        ]}),
        "ImportUploadRole": role("lambda.amazonaws.com", {"import-upload": [
            lambda_logs("import-upload"), VPC_ACCESS,
            # It reads the upload's record from the database, never the object itself.
            *sender([att(queue_id("imports"), "Arn")]),
            alert(),
        ]}),
        "NightlyExportRole": role("lambda.amazonaws.com", {"nightly-export": [
            lambda_logs("nightly-export"), VPC_ACCESS,
            *sender([att(queue_id("exports"), "Arn")]),
            alert(),
        ]}),
        **pool_function_roles(),
        "SchedulerRole": role("scheduler.amazonaws.com", {"invoke-nightly-export": [
            statement("lambda:InvokeFunction",
                      arn("lambda", "function:" + function_name("nightly-export")), "Invoke"),
        ]}),
    }


def pool_role_id(pool: str) -> str:
    """Logical id of a Lambda pool's function role."""
    return f"{camel(pool)}PoolFunctionRole"


def pool_sends_mail(pool: str) -> bool:
    """Whether a job of the pool e-mails its owner (NOTIFY_KINDS)."""
    return any(k.workload == pool and k.name in NOTIFY_KINDS for k in kinds.KINDS.values())


def pool_function_role(pool: str) -> dict:
    """A Lambda pool's function: its event source's calls and its jobs' on the pool's queue
    and dead-letter queue (one statement: both receive, delete and change visibility),
    its jobs' files and e-mail; no monitoring queues, topics or task protection."""
    short = pool_short(pool)
    statements = [lambda_logs(short), VPC_ACCESS,
                  statement(WORKER_SQS, [att(queue_id(pool), "Arn"),
                                         att(dead_letter_id(pool), "Arn")], "PoolQueues"),
                  # Its Celery app knows every task queue by URL, as a worker's does.
                  statement("sqs:GetQueueUrl", task_queues(), "FindTaskQueues")]
    if POOL_PREFIXES[pool]:
        statements.append(statement(OBJECT_ACTIONS, data_objects(POOL_PREFIXES[pool]), "Files"))
    if pool_sends_mail(pool):
        statements.append(send_mail())
    return {"Condition": pools.on_lambda(pool),
            **role("lambda.amazonaws.com", {short: statements})}


def pool_function_roles() -> dict:
    return {pool_role_id(p): pool_function_role(p) for p in pools.lambda_pools()}
