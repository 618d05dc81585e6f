"""What tells an operator something is wrong: an alert topic (e-mailed to AlertEmail),
CloudWatch alarms on the queues, the Lambdas and the load balancer, and ECS tasks that
failed to start or whose container exited with an error."""
from __future__ import annotations

from core.settings import WORKLOADS
from deploy import pools
from deploy.cfn import att, camel, ref, sub
from deploy.names import arn, dead_letter_id, pool_short, queue_id

TOPIC = "AlertTopic"
PERIOD = 300
#: Lambdas and the logical ids of their functions.
FUNCTIONS = {"autoscaler": "AutoscalerFunction", "import-upload": "ImportUploadFunction",
             "nightly-export": "NightlyExportFunction"}
#: The Lambdas invoked asynchronously (S3 notifications, the Scheduler): a failure
#: after retries goes to the alert topic.
ASYNC_FUNCTIONS = ("import-upload", "nightly-export")


def alarm(name: str, namespace: str, metric: str, dimensions: dict, statistic: str,
          threshold, description: str, periods: int = 1) -> dict:
    """An alarm to the alert topic when ``metric`` is over ``threshold`` in ``periods`` periods
    in a row; no data (an idle queue or function) is not a problem."""
    return {"Type": "AWS::CloudWatch::Alarm", "Condition": "IsAws", "Properties": {
        "AlarmName": sub("${QueuePrefix}" + name), "AlarmDescription": description,
        "Namespace": namespace, "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": statistic, "Period": PERIOD, "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [ref(TOPIC)], "OKActions": [ref(TOPIC)]}}


def queue_alarms() -> dict:
    out = {}
    for w in WORKLOADS:
        out[f"{camel(w)}DeadLetterAlarm"] = alarm(
            f"{w}-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            {"QueueName": att(dead_letter_id(w), "QueueName")}, "Maximum", 0,
            f"messages in the {w} dead-letter queue: see the operator page")
        out[f"{camel(w)}OldestMessageAlarm"] = alarm(
            f"{w}-oldest-message", "AWS/SQS", "ApproximateAgeOfOldestMessage",
            {"QueueName": att(queue_id(w), "QueueName")}, "Maximum",
            ref("OldestMessageAlarmSeconds"),
            f"work waits in the {w} queue: its pool may not be starting")
    return out


def function_alarms() -> dict:
    out = {f"{camel(short)}ErrorsAlarm": alarm(
        f"{short}-errors", "AWS/Lambda", "Errors", {"FunctionName": ref(function)}, "Sum", 0,
        f"the {short} Lambda failed") for short, function in FUNCTIONS.items()}
    # One round at a time (reserved concurrency 1): a lone throttle is a round that
    # waited; throttles for 15 minutes mean rounds hang or pile up.
    out["AutoscalerThrottlesAlarm"] = alarm(
        "autoscaler-throttles", "AWS/Lambda", "Throttles",
        {"FunctionName": ref(FUNCTIONS["autoscaler"])}, "Sum", 0,
        "autoscaler rounds are throttled for 15 minutes", periods=3)
    # A job that fails is an outcome, not an error: these are invocations that crashed,
    # ran out of memory or timed out, whose job runs again after the visibility timeout.
    for pool in pools.lambda_pools():
        short = pool_short(pool)
        out[f"{camel(pool)}PoolErrorsAlarm"] = {**alarm(
            f"{short}-errors", "AWS/Lambda", "Errors",
            {"FunctionName": ref(f"{camel(pool)}PoolFunction")}, "Sum", 0,
            f"an invocation of the {pool} pool's function crashed or timed out"),
            "Condition": pools.on_lambda_in_aws(pool)}
    return out


def load_balancer_alarms() -> dict:
    balancer = {"LoadBalancer": att("LoadBalancer", "LoadBalancerFullName")}
    return {
        "LoadBalancer5xxAlarm": alarm(
            "load-balancer-5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", balancer,
            "Sum", 0, "the load balancer answered 5xx (no healthy web or Flower task?)"),
        "Target5xxAlarm": alarm(
            "target-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", balancer,
            "Sum", 0, "the web app or Flower answered 5xx"),
    }


#: ECS tasks of the cluster that stopped badly: never started, or an essential
#: container exited non-zero (not scale-in, not a worker leaving idle with 0).
FAILED_TASK_DETAIL = {
    "clusterArn": [att("Cluster", "Arn")], "lastStatus": ["STOPPED"],
    "$or": [{"stopCode": ["TaskFailedToStart"]},
            {"stopCode": ["EssentialContainerExited"],
             "containers": {"exitCode": [{"anything-but": 0}]}}],
}


def topic() -> dict:
    """The alert topic, its e-mail subscription and who may publish to it.

    Not KMS-encrypted: CloudWatch and EventBridge cannot publish to a topic under the
    AWS-managed SNS key, and alerts carry resource names and exit codes only.
    """
    return {
        TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": sub("${QueuePrefix}alerts"), "DisplayName": "jobsys alerts"}},
        "AlertEmailSubscription": {
            "Type": "AWS::SNS::Subscription", "Condition": "EmailsAlertsOnAws", "Properties": {
                "TopicArn": ref(TOPIC), "Protocol": "email", "Endpoint": ref("AlertEmail")}},
        "AlertTopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Condition": "IsAws",
                             "Properties": {"Topics": [ref(TOPIC)], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [
                {"Sid": "FailedTasks", "Effect": "Allow",
                 "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
                 "Resource": ref(TOPIC),
                 "Condition": {"ArnEquals": {"aws:SourceArn": att("FailedTaskRule", "Arn")}}},
                {"Sid": "Alarms", "Effect": "Allow",
                 "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                 "Resource": ref(TOPIC),
                 "Condition": {"ArnLike": {"aws:SourceArn": arn(
                     "cloudwatch", "alarm:${QueuePrefix}*")}}},
            ]}}},
        "FailedTaskRule": {"Type": "AWS::Events::Rule", "Properties": {
            "Name": sub("${QueuePrefix}failed-tasks"),
            "Description": "ECS tasks of the cluster that failed to start or exited with an error",
            "State": "ENABLED",
            "EventPattern": {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                             "detail": FAILED_TASK_DETAIL},
            "Targets": [{"Id": "alerts", "Arn": ref(TOPIC)}]}},
    }


def failure_destinations() -> dict:
    """Asynchronous invocations that still fail after two retries reach the alert topic."""
    return {f"{camel(short)}InvokeConfig": {
        "Type": "AWS::Lambda::EventInvokeConfig", "Condition": "IsAws", "Properties": {
            "FunctionName": ref(FUNCTIONS[short]), "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": ref(TOPIC)}}}}
        for short in ASYNC_FUNCTIONS}


def alarms() -> dict:
    """Every resource of this module, by logical id."""
    return {**topic(), **queue_alarms(), **function_alarms(), **load_balancer_alarms(),
            **failure_destinations()}
