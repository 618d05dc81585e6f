"""What tells an operator something is wrong: alarms and failed tasks reach one alert
topic, asynchronous Lambda failures too; and the settings that keep failures visible
(autoscaler one round at a time, rollback of failed releases, 14-day task queues)."""
from __future__ import annotations

import copy

import pytest

from core import queues
from core.settings import WORKLOADS
from tests.support.eventpattern import matches
from tests.support.stack import (DOC, PARAMETERS, RESOURCES, created, listed, of_type,
                                 statements)

ALARMS = of_type("AWS::CloudWatch::Alarm")
TOPIC = {"Ref": "AlertTopic"}
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/jobsys-cluster"


def alarms_on(metric: str, dimension: dict) -> list[dict]:
    return [a["Properties"] for a in ALARMS.values()
            if a["Properties"]["MetricName"] == metric
            and {"Name": next(iter(dimension)), "Value": next(iter(dimension.values()))}
            in a["Properties"]["Dimensions"]]


def test_alerts_are_emailed_to_alert_email_only_when_one_is_given():
    assert PARAMETERS["AlertEmail"]["Default"] == ""
    (name,) = of_type("AWS::SNS::Subscription")
    props = RESOURCES[name]["Properties"]
    assert props["TopicArn"] == TOPIC and props["Protocol"] == "email"
    assert props["Endpoint"] == {"Ref": "AlertEmail"}
    assert created(name, {"AlertEmail": "ops@example.com"})
    assert not created(name, {})
    assert not created(name, {"AlertEmail": "ops@example.com", "Target": "emulator"})


@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_dead_letter_queue_alarms_on_any_message(workload):
    queue = {"QueueName": {"Fn::GetAtt": [f"{workload.capitalize()}DeadLetterQueue",
                                          "QueueName"]}}
    (alarm,) = alarms_on("ApproximateNumberOfMessagesVisible", queue)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


@pytest.mark.parametrize("workload", WORKLOADS)
def test_each_task_queue_alarms_when_its_oldest_message_waits_too_long(workload):
    queue = {"QueueName": {"Fn::GetAtt": [f"{workload.capitalize()}Queue", "QueueName"]}}
    (alarm,) = alarms_on("ApproximateAgeOfOldestMessage", queue)
    assert alarm["Threshold"] == {"Ref": "OldestMessageAlarmSeconds"}
    assert PARAMETERS["OldestMessageAlarmSeconds"]["Default"] == 900


@pytest.mark.parametrize("function", sorted(of_type("AWS::Lambda::Function")))
def test_each_lambda_alarms_on_errors(function):
    (alarm,) = alarms_on("Errors", {"FunctionName": {"Ref": function}})
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_the_autoscaler_alarms_on_throttles_that_last():
    (alarm,) = alarms_on("Throttles", {"FunctionName": {"Ref": "AutoscalerFunction"}})
    assert alarm["Threshold"] == 0 and alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"]


@pytest.mark.parametrize("metric", ["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"])
def test_the_load_balancer_alarms_on_5xx(metric):
    balancer = {"LoadBalancer": {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}}
    (alarm,) = alarms_on(metric, balancer)
    assert alarm["Namespace"] == "AWS/ApplicationELB" and alarm["Statistic"] == "Sum"


def test_every_alarm_tells_the_alert_topic_and_no_data_is_no_alarm():
    assert len(ALARMS) == 2 * len(WORKLOADS) + len(of_type("AWS::Lambda::Function")) + 1 + 2
    for alarm in ALARMS.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [TOPIC] and props["OKActions"] == [TOPIC]
        assert props["TreatMissingData"] == "notBreaching"


def ecs_event(**detail) -> dict:
    return {"source": "aws.ecs", "detail-type": "ECS Task State Change",
            "detail": {"clusterArn": CLUSTER, "lastStatus": "STOPPED", **detail}}


@pytest.mark.parametrize("event, alerts", [
    (ecs_event(stopCode="TaskFailedToStart", containers=[{"name": "worker"}]), True),
    (ecs_event(stopCode="EssentialContainerExited",
               containers=[{"name": "worker", "exitCode": 137}]), True),
    (ecs_event(stopCode="EssentialContainerExited",
               containers=[{"name": "migrate", "exitCode": 1}]), True),
    # A worker leaving when idle, scale-in and a stop by hand are not failures.
    (ecs_event(stopCode="EssentialContainerExited",
               containers=[{"name": "worker", "exitCode": 0}]), False),
    (ecs_event(stopCode="ServiceSchedulerInitiated",
               containers=[{"name": "worker", "exitCode": 143}]), False),
    (ecs_event(stopCode="UserInitiated", containers=[{"name": "web", "exitCode": 137}]), False),
    (ecs_event(stopCode="TaskFailedToStart", lastStatus="PROVISIONING"), False),
    (ecs_event(stopCode="TaskFailedToStart", clusterArn=CLUSTER + "-other"), False),
])
def test_failed_tasks_of_the_cluster_reach_the_alert_topic(event, alerts):
    (rule,) = [r["Properties"] for r in of_type("AWS::Events::Rule").values()
               if r["Properties"].get("EventPattern")]
    assert rule["Targets"] == [{"Id": "alerts", "Arn": TOPIC}]
    pattern = copy.deepcopy(rule["EventPattern"])
    assert pattern["detail"]["clusterArn"] == [{"Fn::GetAtt": ["Cluster", "Arn"]}]
    pattern["detail"]["clusterArn"] = [CLUSTER]
    assert matches(pattern, event) is alerts


def test_eventbridge_and_cloudwatch_may_publish_to_the_alert_topic():
    (policy,) = of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [TOPIC]
    publishers = {s["Principal"]["Service"] for s in
                  policy["Properties"]["PolicyDocument"]["Statement"]
                  if s["Action"] == "sns:Publish" and s["Resource"] == TOPIC and "Condition" in s}
    assert publishers == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}


@pytest.mark.parametrize("function, role", [("ImportUploadFunction", "ImportUploadRole"),
                                            ("NightlyExportFunction", "NightlyExportRole")])
def test_async_lambdas_send_failures_to_the_alert_topic_after_two_retries(function, role):
    (config,) = [c["Properties"] for c in of_type("AWS::Lambda::EventInvokeConfig").values()
                 if c["Properties"]["FunctionName"] == {"Ref": function}]
    assert config["MaximumRetryAttempts"] == 2 and config["Qualifier"] == "$LATEST"
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == TOPIC
    assert any("sns:Publish" in listed(s["Action"]) and s["Resource"] == TOPIC
               for s in statements(role))


def test_the_autoscaler_runs_one_round_at_a_time():
    assert RESOURCES["AutoscalerFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1
    # SQS triggers take 2 to 1000 concurrent invocations; the extra one waits its turn.
    scaling = RESOURCES["AutoscalerWakeTrigger"]["Properties"]["ScalingConfig"]
    assert 2 <= scaling["MaximumConcurrency"] <= 1000


@pytest.mark.parametrize("service", sorted(of_type("AWS::ECS::Service")))
def test_every_service_rolls_back_a_release_that_cannot_start(service):
    config = RESOURCES[service]["Properties"]["DeploymentConfiguration"]
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_task_queues_keep_work_for_14_days(workload):
    props = RESOURCES[f"{workload.capitalize()}Queue"]["Properties"]
    assert props["MessageRetentionPeriod"] == queues.TASK_RETENTION_SECONDS == 1209600


def test_the_alert_topic_is_an_output():
    assert DOC["Outputs"]["AlertTopic"]["Value"] == TOPIC
