"""The autoscaler's AWS adapters against a real moto server over HTTP."""
import json
import time
import uuid

import boto3
import pytest

from autoscaler import lambda_handler
from autoscaler.decide import Depths, PoolState
from autoscaler.errors import TargetMissing
from autoscaler.queues import SqsQueueDepth
from autoscaler.scalers import EcsServiceScaler, EcsTaskScaler
from autoscaler.state import S3StateStore
from autoscaler.wake import SqsWakeListener

REGION = "us-east-1"


@pytest.fixture
def aws(moto_endpoint):
    def client(service):
        return boto3.session.Session().client(service, region_name=REGION,
                                              endpoint_url=moto_endpoint)
    return client


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cluster(aws):
    name = unique("c-")
    aws("ecs").create_cluster(clusterName=name)
    return name


def network(aws) -> dict:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=unique("sg-"), Description="workers",
                                      VpcId=vpc)["GroupId"]
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}


def task_family(aws, launch: str) -> str:
    family = unique("worker-")
    aws("ecs").register_task_definition(
        family=family, requiresCompatibilities=[launch], cpu="256", memory="512",
        networkMode="awsvpc" if launch == "FARGATE" else "bridge",
        containerDefinitions=[{"name": "worker", "image": "jobsys:latest", "cpu": 256,
                               "memory": 512, "command": ["python", "-m", "worker"]}])
    return family


@pytest.fixture
def service(aws, cluster):
    name = unique("svc-")
    aws("ecs").create_service(cluster=cluster, serviceName=name,
                              taskDefinition=task_family(aws, "FARGATE"), desiredCount=0,
                              launchType="FARGATE", networkConfiguration=network(aws))
    return name


def test_queue_depth_reads_visible_in_flight_and_delayed_messages(aws):
    sqs = aws("sqs")
    name = unique("q-")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    assert SqsQueueDepth(sqs).depths(name) == Depths(visible=2, in_flight=1, delayed=1)


def test_moto_counts_a_delayed_message_once_as_sqs_does(aws):
    # DESIGN.md reports moto counting delayed messages as not visible too; moto 5.2.5
    # does not. If this starts failing, in-flight is overstated: safe, but look again.
    sqs = aws("sqs")
    name = unique("q-")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    assert SqsQueueDepth(sqs).depths(name) == Depths(visible=0, in_flight=0, delayed=1)


def test_queue_depth_names_a_missing_queue(aws):
    with pytest.raises(TargetMissing, match="SQS queue 'nope-.*' does not exist"):
        SqsQueueDepth(aws("sqs")).depths(unique("nope-"))


def test_service_scaler_sets_the_services_desired_count(aws, cluster, service):
    scaler = EcsServiceScaler(aws("ecs"), cluster, service)
    assert scaler.current() == 0
    scaler.set_desired(3)
    assert scaler.current() == 3
    [described] = aws("ecs").describe_services(cluster=cluster, services=[service])["services"]
    assert described["desiredCount"] == 3


def test_service_scaler_names_a_missing_service(aws, cluster):
    with pytest.raises(TargetMissing, match="ECS service 'ghost' was not found in cluster"):
        EcsServiceScaler(aws("ecs"), cluster, "ghost").current()


def test_task_scaler_starts_standalone_tasks_up_to_the_desired_count(aws, cluster):
    ec2, ecs = aws("ec2"), aws("ecs")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 InstanceType="m5.xlarge")["Instances"][0]["InstanceId"]
    ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance}))
    family = task_family(aws, "EC2")
    scaler = EcsTaskScaler(ecs, cluster, family, launch_type="EC2")
    scaler.set_desired(3)
    assert scaler.current() == 3
    scaler.set_desired(1)
    assert scaler.current() == 3, "RunTask workers leave on their own; none is stopped"
    other = EcsTaskScaler(ecs, cluster, task_family(aws, "EC2"), launch_type="EC2")
    assert other.current() == 0, "only the pool's own task family counts"


def test_state_store_round_trips_the_pools_state_in_a_bucket(aws):
    s3, bucket = aws("s3"), unique("state-")
    s3.create_bucket(Bucket=bucket)
    store = S3StateStore(s3, bucket, "autoscaler/state.json")
    assert store.load() == {}
    states = {"pdf": PoolState(last_busy=10.0, last_scale_out=5.0), "imports": PoolState()}
    decisions = {"pdf": [{"pool": "pdf", "desired": 1, "at": 10.0}]}
    store.save(states, decisions)
    assert store.load() == states
    assert store.recent() == decisions
    assert json.loads(s3.get_object(Bucket=bucket, Key="autoscaler/state.json")["Body"].read())[
        "pools"]["pdf"] == {"last_busy": 10.0, "last_scale_out": 5.0, "service": 0.0,
                            "service_count": 0, "startup": 0.0, "asked_at": None}


def test_state_store_names_a_missing_bucket(aws):
    with pytest.raises(TargetMissing, match="AUTOSCALER_STATE_BUCKET"):
        S3StateStore(aws("s3"), unique("ghost-"), "state.json").load()


def test_wake_listener_hands_over_signals_and_deletes_their_messages(aws):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("w-") + "wake.fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    for body in ({"wake": "pdf"}, {"wake": "imports"}, {"ready": "pdf"}):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body),
                         MessageGroupId=body.get("wake", "pdf"),
                         MessageDeduplicationId=unique("m"))
    handed = []
    listener = SqsWakeListener(sqs, url, handed.append, wait_seconds=0)
    got = listener.poll() + listener.poll()
    assert sorted((s.kind, s.workload) for s in got) == [
        ("ready", "pdf"), ("wake", "imports"), ("wake", "pdf")]
    assert handed and all(time.time() - 60 < s.at <= time.time() + 1 for s in got), \
        "each signal carries when it was sent"
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"],
            attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_lambda_handler_scales_a_service_and_keeps_its_state_in_s3(
        aws, moto_endpoint, cluster, service, monkeypatch, capsys):
    prefix, bucket = unique("t") + "-", unique("state-")
    aws("s3").create_bucket(Bucket=bucket)
    url = aws("sqs").create_queue(QueueName=f"{prefix}pdf")["QueueUrl"]
    for n in range(5):
        aws("sqs").send_message(QueueUrl=url, MessageBody=str(n))
    for name, value in {"AUTOSCALER_MODE": "ecs-service", "AUTOSCALER_POOLS": "pdf",
                        "POOL_PDF_SERVICE": service, "POOL_PDF_MAX": "10",
                        "AUTOSCALER_CLUSTER": cluster, "AUTOSCALER_STATE_BUCKET": bucket,
                        "QUEUE_PREFIX": prefix, "AWS_ENDPOINT_URL": moto_endpoint,
                        "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    [record] = lambda_handler.handler({"source": "aws.events"}, None)
    assert (record["visible"], record["current"], record["desired"]) == (5, 0, 3)
    assert EcsServiceScaler(aws("ecs"), cluster, service).current() == 3
    assert json.loads(capsys.readouterr().out.strip()) == record
    saved = S3StateStore(aws("s3"), bucket, "autoscaler/state.json").load()
    assert saved["pdf"].last_scale_out is not None


def test_a_wake_event_from_the_sqs_trigger_runs_a_round_and_leaves_the_task_messages_alone(
        aws, moto_endpoint, cluster, service, monkeypatch):
    prefix, bucket = unique("t") + "-", unique("state-")
    aws("s3").create_bucket(Bucket=bucket)
    url = aws("sqs").create_queue(QueueName=f"{prefix}pdf")["QueueUrl"]
    aws("sqs").send_message(QueueUrl=url, MessageBody="the task")
    for name, value in {"AUTOSCALER_MODE": "ecs-service", "AUTOSCALER_POOLS": "pdf",
                        "POOL_PDF_SERVICE": service, "AUTOSCALER_CLUSTER": cluster,
                        "AUTOSCALER_STATE_BUCKET": bucket, "QUEUE_PREFIX": prefix,
                        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    event = {"Records": [{"eventSource": "aws:sqs", "messageId": "1",
                          "body": json.dumps({"wake": "pdf"}),
                          "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{prefix}wake.fifo"}]}

    [record] = lambda_handler.handler(event, None)

    assert (record["pool"], record["current"], record["desired"]) == ("pdf", 0, 1)
    assert EcsServiceScaler(aws("ecs"), cluster, service).current() == 1
    attributes = aws("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1", "the task is still there for a worker"


def test_the_lambda_folds_the_workers_reports_in_its_sqs_event_into_the_state_in_s3(
        aws, moto_endpoint, cluster, service, monkeypatch):
    prefix, bucket = unique("t") + "-", unique("state-")
    aws("s3").create_bucket(Bucket=bucket)
    aws("sqs").create_queue(QueueName=f"{prefix}pdf")
    for name, value in {"AUTOSCALER_MODE": "ecs-service", "AUTOSCALER_POOLS": "pdf",
                        "POOL_PDF_SERVICE": service, "AUTOSCALER_CLUSTER": cluster,
                        "AUTOSCALER_STATE_BUCKET": bucket, "QUEUE_PREFIX": prefix,
                        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    store = S3StateStore(aws("s3"), bucket, "autoscaler/state.json")
    asked = time.time() - 30
    store.save({"pdf": PoolState(asked_at=asked)})
    sent = str(int((asked + 25) * 1000))
    event = {"Records": [
        {"body": json.dumps({"ready": "pdf"}), "attributes": {"SentTimestamp": sent}},
        {"body": json.dumps({"report": "pdf", "service_seconds": 4.5, "jobs": 2}),
         "attributes": {"SentTimestamp": sent}}]}

    [record] = lambda_handler.handler(event, None)

    learned = store.load()["pdf"]
    assert (learned.service, learned.service_count, learned.asked_at) == (4.5, 2, None)
    assert abs(learned.startup - 25) < 0.01
    assert (record["service_s"], record["startup_s"]) == (4.5, learned.startup)
