"""deploy/template.yaml deployed into moto's CloudFormation over HTTP, and what it created.

moto's CloudFormation cannot create ``AWS::Scheduler::Schedule``, so the stack is
deployed with ``Target=emulator``, which leaves out exactly that resource (the
nightly export's schedule; its properties are checked in
tests/unit/test_deploy_template.py). Everything else is created and looked at
through the services' own APIs.
"""
from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from core import queues
from core.provision import apply as provision
from core.settings import DEFAULT_VISIBILITY, WORKLOADS, Settings
from core.wake import wake_queue_name
from deploy import pools
from deploy.resources import KOMBU_TOPIC_TAGS
from tests.support.deployed import Stack, create_stack
from tests.support.stack import created

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
REGION = "us-east-1"


#: The secrets' test values.
SECRETS = {"DatabaseUrlSecretArn": "postgresql://app@db:5432/jobsys",
           "FlowerSecretArn": "admin:secret", "WebSecretKeyArn": "a-long-random-string"}


def deploy(endpoint: str, **overrides) -> Stack:
    """Create the stack in moto (a VPC, subnets and secrets first) and wait for it."""
    return create_stack(endpoint, SECRETS, **{
        "RetentionDays": "7", "WorkerImageTag": "v42", "AllowPlainHttp": "true",
        "MailFrom": "jobs@example.com", "SenderIdentity": "example.com", **overrides})


@pytest.fixture(scope="module")
def stack(moto_endpoint) -> Stack:
    return deploy(moto_endpoint)


def template_resources() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())["Resources"]


def test_every_resource_but_the_scheduler_schedule_is_created(stack):
    expected = {n for n in template_resources() if created(n, stack.parameters)}
    assert expected - stack.created == set()
    assert {n for n, r in template_resources().items() if r.get("Condition") == "IsAws"} & \
        stack.created == set()
    assert "CustomersNightlySchedule" not in stack.created


def test_the_app_finds_every_queue_it_looks_up(stack):
    settings = stack.settings()
    sqs = stack.client("sqs")
    assert set(queues.resolve_urls(settings, sqs)) == {settings.queue_name(w) for w in WORKLOADS}
    assert set(queues.dead_letter_urls(settings, sqs)) == set(WORKLOADS)
    assert sqs.get_queue_url(QueueName=wake_queue_name(stack.prefix))["QueueUrl"]


def attributes(sqs, name: str) -> dict:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


#: The pools the stack runs on Lambda by default, and on ECS.
ON_LAMBDA = [w for w in WORKLOADS if pools.DEFAULT_RUNTIME[w] == "lambda"]
ON_ECS = [w for w in WORKLOADS if w not in ON_LAMBDA]


def visibility(workload: str) -> int:
    """A queue's visibility timeout in the stack: its pool's function's on Lambda."""
    return pools.lambda_visibility(workload) if workload in ON_LAMBDA \
        else DEFAULT_VISIBILITY[workload]


def test_each_queue_redrives_to_its_dead_letter_queue(stack):
    sqs = stack.client("sqs")
    for w in WORKLOADS:
        queue = attributes(sqs, f"{stack.prefix}{w}")
        dlq = attributes(sqs, f"{stack.prefix}{w}-dlq")
        assert int(queue["VisibilityTimeout"]) == visibility(w)
        redrive = json.loads(queue["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 5
        assert int(dlq["MessageRetentionPeriod"]) == queues.DLQ_RETENTION_SECONDS


def test_queues_match_what_core_provision_creates(stack):
    """The stack and `python -m core.provision` (the local setup) make the same queues,
    but for the visibility timeout of a pool on Lambda, which its function's sets."""
    sqs = stack.client("sqs")
    local = Settings(aws_endpoint_url=stack.endpoint, aws_region=REGION,
                     queue_prefix=f"p{uuid.uuid4().hex[:6]}-", bucket=f"p{uuid.uuid4().hex[:6]}")
    provision(local, sqs, stack.client("s3"))
    keys = ("VisibilityTimeout", "MessageRetentionPeriod", "FifoQueue", "DelaySeconds")
    suffixes = [w for w in WORKLOADS] + [f"{w}-dlq" for w in WORKLOADS] + ["wake.fifo"]
    for suffix in suffixes:
        ours = attributes(sqs, stack.prefix + suffix)
        theirs = attributes(sqs, local.queue_prefix + suffix)
        if suffix in ON_LAMBDA:
            theirs["VisibilityTimeout"] = str(visibility(suffix))
        assert {k: ours.get(k) for k in keys} == {k: theirs.get(k) for k in keys}, suffix
        if "RedrivePolicy" in theirs:
            assert json.loads(ours["RedrivePolicy"])["maxReceiveCount"] == \
                json.loads(theirs["RedrivePolicy"])["maxReceiveCount"]


def test_the_fanout_topics_are_the_ones_kombu_uses(stack):
    sns = stack.client("sns")
    for topic in ("celeryev", "celery-pidbox"):
        # moto's CloudFormation does not apply a topic's Tags (the unit tests
        # check the template's against kombu's).
        arn = f"arn:aws:sns:{REGION}:123456789012:{stack.prefix}{topic}"
        assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn
        # kombu's own CreateTopic finds the stack's topic rather than failing or making another.
        again = sns.create_topic(Name=f"{stack.prefix}{topic}",
                                 Attributes={"FifoTopic": "false"}, Tags=KOMBU_TOPIC_TAGS)
        assert again["TopicArn"] == arn


def test_the_bucket_is_created_encrypted(stack):
    # moto's CloudFormation applies a bucket's encryption and tags only: its public
    # access block, lifecycle rule and import notification are checked in the unit tests.
    s3, bucket = stack.client("s3"), stack.outputs["BucketName"]
    assert bucket == f"{stack.prefix}files-123456789012-{REGION}"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_the_dashboard_is_created_with_the_stacks_queues_and_namespace(stack):
    cloudwatch = stack.client("cloudwatch")
    answer = cloudwatch.get_dashboard(DashboardName=f"{stack.prefix}jobs")
    body = json.loads(answer["DashboardBody"])
    charted = {tuple(line[:4]) for w in body["widgets"] for line in w["properties"]["metrics"]}
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"{stack.prefix}pdf") \
        in charted
    assert (f"{stack.prefix}metrics", "QueueWait", "Kind", "pdf_batch") in charted
    assert stack.outputs["DashboardUrl"].endswith(f"#dashboards:name={stack.prefix}jobs")


def test_the_autoscaler_runs_every_minute_and_on_wake_signals(stack):
    events, lam = stack.client("events"), stack.client("lambda")
    rule = events.describe_rule(Name=f"{stack.prefix}autoscaler-every-minute")
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    function_arn = lam.get_function(
        FunctionName=f"{stack.prefix}autoscaler")["Configuration"]["FunctionArn"]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [t["Arn"] for t in targets] == [function_arn]
    wake_arn = attributes(stack.client("sqs"), wake_queue_name(stack.prefix))["QueueArn"]
    mappings = lam.list_event_source_mappings(FunctionName=f"{stack.prefix}autoscaler")
    assert [m["EventSourceArn"] for m in mappings["EventSourceMappings"]] == [wake_arn]


def test_a_service_per_pool_on_ecs_starts_at_zero_with_graceful_workers(stack):
    ecs = stack.client("ecs")
    cluster = stack.outputs["ClusterName"]
    names = [f"{stack.prefix}worker-{w}" for w in ON_ECS]
    described = ecs.describe_services(cluster=cluster, services=names)["services"]
    assert sorted(s["serviceName"] for s in described) == sorted(names)
    for service in described:
        assert service["desiredCount"] == 0
        task = ecs.describe_task_definition(
            taskDefinition=service["taskDefinition"])["taskDefinition"]
        (container,) = task["containerDefinitions"]
        assert container["stopTimeout"] == 120
        assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "worker.health"]
        assert container["logConfiguration"]["logDriver"] == "awslogs"
        assert container["image"].endswith("/jobsys/worker:v42")
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["WORKER_QUEUES"] == service["serviceName"].rsplit("-", 1)[-1]
        settings = Settings.from_env(env)
        assert settings.queue_prefix == stack.prefix
        assert (settings.mail_transport, settings.mail_from) == ("ses", "jobs@example.com")


def test_a_pool_on_lambda_is_a_function_of_the_worker_image_fed_by_its_queue(stack):
    lam, sqs = stack.client("lambda"), stack.client("sqs")
    listed = stack.client("ecs").list_services(cluster=stack.outputs["ClusterName"])
    assert not [arn for arn in listed["serviceArns"] if arn.rsplit("-", 1)[-1] in ON_LAMBDA]
    for pool in ON_LAMBDA:
        config = lam.get_function(FunctionName=f"{stack.prefix}worker-{pool}")["Configuration"]
        # moto keeps no package type or image command: the unit tests check those.
        assert config["Timeout"] == pools.function_timeout(pool)
        # moto hands back a Number parameter's value as a number.
        settings = Settings.from_env({k: str(v) for k, v in
                                      config["Environment"]["Variables"].items()})
        assert settings.worker_queues == (pool,) and settings.queue_prefix == stack.prefix
        assert settings.visibility_timeouts[pool] == visibility(pool)
        (mapping,) = lam.list_event_source_mappings(
            FunctionName=f"{stack.prefix}worker-{pool}")["EventSourceMappings"]
        assert mapping["EventSourceArn"] == attributes(sqs, stack.prefix + pool)["QueueArn"]
        assert mapping["BatchSize"] == 1


def test_the_autoscaler_lambda_wakes_a_pool_of_the_stack(stack, monkeypatch):
    """The autoscaler's handler, with the environment the stack gives its Lambda, scales
    the stack's ECS service when a message reaches the stack's queue."""
    from autoscaler.lambda_handler import handler

    lam, sqs, ecs = stack.client("lambda"), stack.client("sqs"), stack.client("ecs")
    config = lam.get_function_configuration(FunctionName=f"{stack.prefix}autoscaler")
    for key, value in config["Environment"]["Variables"].items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POOL_EXPORTS_COOLDOWN", "0")

    # The pools on Lambda are their event sources' to scale.
    idle = {r["pool"]: r for r in handler({}, None)}
    assert set(idle) == set(ON_ECS) and all(r["desired"] == 0 for r in idle.values())

    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=f"{stack.prefix}exports")["QueueUrl"],
                     MessageBody="{}")
    woken = {r["pool"]: r for r in handler({}, None)}
    assert woken["exports"]["desired"] == 1 and woken["exports"]["applied"] is True
    (service,) = ecs.describe_services(cluster=stack.outputs["ClusterName"],
                                       services=[f"{stack.prefix}worker-exports"])["services"]
    assert service["desiredCount"] == 1
    state = stack.client("s3").get_object(Bucket=stack.outputs["BucketName"],
                                          Key="autoscaler/state.json")
    assert json.loads(state["Body"].read())["pools"]["exports"]["last_scale_out"] is not None


def flower_container(stack: Stack) -> dict:
    ecs = stack.client("ecs")
    (service,) = ecs.describe_services(cluster=stack.outputs["ClusterName"],
                                       services=[f"{stack.prefix}flower"])["services"]
    assert service["desiredCount"] == 1
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    return container


def test_flower_listens_on_5555_with_its_password_from_a_secret(stack):
    elb = stack.client("elbv2")
    container = flower_container(stack)
    assert container["secrets"] == [{"name": "FLOWER_BASIC_AUTH",
                                     "valueFrom": stack.parameters["FlowerSecretArn"]}]
    # moto keeps an AWS::NoValue list item as null where CloudFormation drops it.
    assert not {"FLOWER_AUTH", "FLOWER_AUTH_PROVIDER", "FLOWER_OAUTH2_REDIRECT_URI"} & \
        {e["name"] for e in container["environment"] if e}
    host = stack.outputs["FlowerUrl"].split("://")[1].split(":")[0]
    (balancer,) = [b for b in elb.describe_load_balancers()["LoadBalancers"]
                   if b["DNSName"] == host]
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert sorted(l["Port"] for l in listeners) == [80, 5555]
    flower = [l for l in listeners if l["Port"] == 5555][0]
    (group,) = elb.describe_target_groups(
        TargetGroupArns=[flower["DefaultActions"][0]["TargetGroupArn"]])["TargetGroups"]
    assert group["HealthCheckPath"] == "/healthcheck" and group["Port"] == 5555


def test_the_worker_role_is_scoped_to_the_stack(stack):
    iam = stack.client("iam")
    roles = [r for r in iam.list_roles()["Roles"] if "WorkerTaskRole" in r["RoleName"]
             and stack.prefix in json.dumps(
                 [iam.get_role_policy(RoleName=r["RoleName"], PolicyName=p)["PolicyDocument"]
                  for p in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]])]
    assert len(roles) == 1
    (policy_name,) = iam.list_role_policies(RoleName=roles[0]["RoleName"])["PolicyNames"]
    document = iam.get_role_policy(RoleName=roles[0]["RoleName"],
                                   PolicyName=policy_name)["PolicyDocument"]
    if isinstance(document, str):
        # moto hands back a policy made by CloudFormation as a Python literal.
        document = ast.literal_eval(document)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["OwnTaskProtection"]["Resource"] == \
        f"arn:aws:ecs:{REGION}:123456789012:task/{stack.prefix}cluster/*"
    assert by_sid["MonitoringQueues"]["Resource"] == [
        f"arn:aws:sqs:{REGION}:123456789012:{stack.prefix}{pattern}"
        for pattern in ("celeryev-*", "*-celery-pidbox")]


def test_the_nightly_schedule_as_the_scheduler_api_would_hold_it(stack):
    """moto's CloudFormation cannot create an AWS::Scheduler::Schedule; this creates the
    template's schedule through moto's Scheduler API, aimed at the function and role the
    stack did create, and reads it back."""
    props = template_resources()["CustomersNightlySchedule"]["Properties"]
    lam, iam = stack.client("lambda"), stack.client("iam")
    function = lam.get_function(FunctionName=f"{stack.prefix}nightly-export")["Configuration"]
    role_arn = [r["Arn"] for r in iam.list_roles()["Roles"]
                if "SchedulerRole" in r["RoleName"] and stack.prefix in json.dumps(
                    iam.get_role_policy(RoleName=r["RoleName"],
                                        PolicyName="invoke-nightly-export")["PolicyDocument"])]
    assert len(role_arn) == 1
    scheduler = stack.client("scheduler")
    scheduler.create_schedule(
        Name=f"{stack.prefix}customers-nightly", ScheduleExpression=props["ScheduleExpression"],
        ScheduleExpressionTimezone=props["ScheduleExpressionTimezone"],
        FlexibleTimeWindow=props["FlexibleTimeWindow"], State=props["State"],
        Target={"Arn": function["FunctionArn"], "RoleArn": role_arn[0],
                "Input": props["Target"]["Input"],
                "RetryPolicy": props["Target"]["RetryPolicy"]})
    found = scheduler.get_schedule(Name=f"{stack.prefix}customers-nightly")
    assert found["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert found["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert found["Target"]["Arn"].endswith(f":function:{stack.prefix}nightly-export")
    assert json.loads(found["Target"]["Input"])["schedule"] == "customers-nightly"


def test_flower_signs_in_with_oauth_when_flower_auth_is_set(moto_endpoint):
    oauth = deploy(moto_endpoint, FlowerAuth=r".*@example\.com",
                   FlowerAuthProvider="flower.views.auth.GithubLoginHandler",
                   OperatorCidr="203.0.113.0/24")
    assert load_balancer_ingress(oauth)[5555] == {"203.0.113.0/24"}
    container = flower_container(oauth)
    arn = oauth.parameters["FlowerSecretArn"]
    assert container["secrets"] == [
        {"name": "FLOWER_OAUTH2_KEY", "valueFrom": f"{arn}:key::"},
        {"name": "FLOWER_OAUTH2_SECRET", "valueFrom": f"{arn}:secret::"},
        {"name": "FLOWER_COOKIE_SECRET", "valueFrom": f"{arn}:cookie_secret::"}]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["FLOWER_AUTH"] == r".*@example\.com"
    assert env["FLOWER_AUTH_PROVIDER"] == "flower.views.auth.GithubLoginHandler"
    assert env["FLOWER_OAUTH2_REDIRECT_URI"] == oauth.outputs["FlowerUrl"] + "/login"


def test_the_database_lets_in_the_stacks_tasks_and_lambdas(stack):
    ec2 = stack.client("ec2")
    (group,) = ec2.describe_security_groups(
        GroupIds=[stack.parameters["DatabaseSecurityGroupId"]])["SecurityGroups"]
    allowed = {pair["GroupId"] for rule in group["IpPermissions"] if rule["FromPort"] == 5432
               for pair in rule["UserIdGroupPairs"]}
    assert allowed == {stack.outputs["WorkerSecurityGroup"], stack.outputs["ServiceSecurityGroup"],
                       stack.outputs["LambdaSecurityGroup"]}


def web_container(stack: Stack) -> dict:
    ecs = stack.client("ecs")
    (service,) = ecs.describe_services(cluster=stack.outputs["ClusterName"],
                                       services=[f"{stack.prefix}web"])["services"]
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    return container


def listeners_of(stack: Stack) -> dict[int, dict]:
    elb = stack.client("elbv2")
    host = stack.outputs["WebUrl"].split("://")[1].split(":")[0]
    (balancer,) = [b for b in elb.describe_load_balancers()["LoadBalancers"]
                   if b["DNSName"] == host]
    return {l["Port"]: l for l in
            elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]}


def test_over_plain_http_the_session_cookie_is_not_marked_secure(stack):
    env = {e["name"]: e["value"] for e in web_container(stack)["environment"] if e}
    assert Settings.from_env(env).cookie_secure is False
    assert stack.outputs["WebUrl"].startswith("http://")


def test_with_a_certificate_80_redirects_to_https(moto_endpoint):
    acm = boto3.client("acm", region_name=REGION, endpoint_url=moto_endpoint)
    certificate = acm.request_certificate(DomainName="jobs.example.com")["CertificateArn"]
    https = deploy(moto_endpoint, CertificateArn=certificate, AllowPlainHttp="false")
    found = listeners_of(https)
    assert sorted(found) == [80, 443, 5555]
    (redirect,) = found[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert found[443]["Protocol"] == "HTTPS" and found[5555]["Protocol"] == "HTTPS"
    env = {e["name"]: e["value"] for e in web_container(https)["environment"] if e}
    assert Settings.from_env(env).cookie_secure is True
    assert https.outputs["WebUrl"].startswith("https://")


def load_balancer_ingress(stack: Stack) -> dict[int, set[str]]:
    """Port → the CIDRs the load balancer's security group lets in on it."""
    ec2 = stack.client("ec2")
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["*LoadBalancerSecurityGroup*"]}])["SecurityGroups"]
    balancer = listeners_of(stack)[80]["LoadBalancerArn"]
    (described,) = stack.client("elbv2").describe_load_balancers(
        LoadBalancerArns=[balancer])["LoadBalancers"]
    found: dict[int, set[str]] = {}
    for group in groups:
        if group["GroupId"] in described["SecurityGroups"]:
            for rule in group["IpPermissions"]:
                found.setdefault(rule["FromPort"], set()).update(
                    r["CidrIp"] for r in rule.get("IpRanges", []))
    return found


def test_without_an_operator_cidr_nobody_reaches_flower(stack):
    ingress = load_balancer_ingress(stack)
    assert 5555 not in ingress
    assert ingress[80] == {"0.0.0.0/0"}


def test_flowers_metrics_are_not_served_through_the_load_balancer(stack):
    elb = stack.client("elbv2")
    rules = elb.describe_rules(ListenerArn=listeners_of(stack)[5555]["ListenerArn"])["Rules"]
    (metrics,) = [r for r in rules if not r["IsDefault"]]
    assert metrics["Conditions"][0]["PathPatternConfig"]["Values"] == ["/metrics", "/metrics/*"]
    assert metrics["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "404"


def test_failed_tasks_of_the_cluster_go_to_the_alert_topic(stack):
    events, sns = stack.client("events"), stack.client("sns")
    topic = stack.outputs["AlertTopic"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    rule = events.describe_rule(Name=f"{stack.prefix}failed-tasks")
    pattern = json.loads(rule["EventPattern"])
    cluster = stack.client("ecs").describe_clusters(
        clusters=[stack.outputs["ClusterName"]])["clusters"][0]["clusterArn"]
    assert pattern["detail"]["clusterArn"] == [cluster]
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [t["Arn"] for t in targets] == [topic]
