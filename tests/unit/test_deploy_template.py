"""deploy/template.yaml: cfn-lint passes, it is what deploy/template.py writes, every
command it runs is the project's, and each role may do what its process needs only."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core import filekeys, queues
from core.settings import DEFAULT_VISIBILITY, WORKLOADS
from deploy import template
from tests.support import images
from tests.support.images import ROOT
from tests.support.stack import listed

CFN_LINT = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
TEMPLATE = ROOT / "deploy" / "template.yaml"


class _Loader(yaml.SafeLoader):
    """Reads the long-form template (no short !Ref tags are written)."""


DOC = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
RESOURCES = DOC["Resources"]


def of_type(kind: str) -> dict:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


def cfn_lint(path: Path) -> subprocess.CompletedProcess:
    assert CFN_LINT, "cfn-lint is not installed: pip install -r requirements.txt"
    return subprocess.run([CFN_LINT, str(path)], capture_output=True, text=True, timeout=240)


def test_cfn_lint_passes():
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_rejects_a_broken_template(tmp_path):
    broken = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    broken["Resources"]["PdfQueue"]["Properties"]["VisibilityTimeout"] = "a while"
    broken["Resources"]["Cluster"]["Properties"]["Capacity"] = 3
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = cfn_lint(path)
    assert result.returncode != 0
    assert "'a while' is not of type 'integer'" in result.stdout
    assert "'Capacity' was unexpected" in result.stdout


def test_the_template_is_what_its_source_writes():
    assert TEMPLATE.read_text() == template.render(), "run: python -m deploy.template"


def test_queue_defaults_are_the_local_ones():
    params = DOC["Parameters"]
    assert {w: params[f"Visibility{w.capitalize()}"]["Default"] for w in WORKLOADS} == \
        DEFAULT_VISIBILITY
    for w in WORKLOADS:
        dlq = RESOURCES[f"{w.capitalize()}DeadLetterQueue"]["Properties"]
        assert dlq["MessageRetentionPeriod"] == queues.DLQ_RETENTION_SECONDS


def test_fanout_topics_carry_the_tags_kombu_creates_them_with():
    """CreateTopic on an existing topic with other tags fails; kombu calls it on first use."""
    import inspect

    from kombu.transport.SQS import SNS

    source = inspect.getsource(SNS)
    for topic in ("EventsTopic", "PidboxTopic"):
        for tag in RESOURCES[topic]["Properties"]["Tags"]:
            assert f'"Key":   "{tag["Key"]}"' in source or f'"Key": "{tag["Key"]}"' in source
            assert f'"{tag["Value"]}"' in source


def containers() -> dict[str, dict]:
    return {name: c for name, td in of_type("AWS::ECS::TaskDefinition").items()
            for c in td["Properties"]["ContainerDefinitions"]}


def test_every_command_the_stack_runs_is_the_projects():
    argvs = []
    for container in containers().values():
        argvs.append(container["Command"])
        if "HealthCheck" in container:
            argvs.append(container["HealthCheck"]["Command"])
    for function in of_type("AWS::Lambda::Function").values():
        config = function["Properties"]["ImageConfig"]
        argvs.append(config.get("EntryPoint", []) + config["Command"])
    assert {" ".join(a): images.problem_with(a) for a in argvs} == \
        {" ".join(a): None for a in argvs}


def test_the_lambda_handlers_are_the_ones_the_project_declares():
    handlers = {f["Properties"]["ImageConfig"]["Command"][0]
                for f in of_type("AWS::Lambda::Function").values()}
    assert handlers == {"autoscaler.lambda_handler.handler", "lambdas.import_upload.handler",
                        "lambdas.nightly_export.handler", "worker.lambda_pool.handler"}
    assert {h: images.problem_with_handler(h) for h in handlers} == dict.fromkeys(handlers)


def test_workers_stop_gracefully_report_health_and_log():
    workers = {n: c for n, c in containers().items() if c["Name"] == "worker"}
    assert len(workers) == len(WORKLOADS)
    for container in workers.values():
        assert container["StopTimeout"] == 120
        assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "worker.health"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert {s["Name"] for s in container["Secrets"]} == {"DATABASE_URL"}


def test_a_service_per_pool_on_ecs_starting_at_zero():
    from tests.support.stack import created
    services = of_type("AWS::ECS::Service")
    pools = {n: s for n, s in services.items() if n.endswith("WorkerService")}
    assert sorted(pools) == sorted(f"{w.capitalize()}WorkerService" for w in WORKLOADS)
    assert {s["Properties"]["DesiredCount"] for s in pools.values()} == {0}
    on_ecs = {f"{w.capitalize()}PoolRuntime": "ecs" for w in ("default", "pdf", "imports")}
    assert {n for n in pools if created(n, {})} == {"ExportsWorkerService"}
    assert {n for n in pools if created(n, on_ecs)} == set(pools)


def test_the_nightly_export_runs_at_two_in_tokyo():
    # moto's CloudFormation has no AWS::Scheduler::Schedule; its properties are checked here.
    schedule = RESOURCES["CustomersNightlySchedule"]
    props = schedule["Properties"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule" and schedule["Condition"] == "IsAws"
    assert props["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["NightlyExportFunction", "Arn"]}


def test_the_bucket_is_private_expiring_and_announces_imports():
    # moto's CloudFormation does not apply these three properties: they are checked here.
    bucket = RESOURCES["FilesBucket"]
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"} and rule["Status"] == "Enabled"
    (notify,) = props["NotificationConfiguration"]["LambdaConfigurations"]
    assert notify["Event"] == "s3:ObjectCreated:*"
    assert notify["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "imports/"}]
    assert notify["Function"] == {"Fn::GetAtt": ["ImportUploadFunction", "Arn"]}
    # S3 checks it may invoke the function when the notification is set.
    assert bucket["DependsOn"] == "ImportUploadPermission"


def test_the_bucket_takes_uploads_from_the_web_pages_origin_only():
    (rule,) = RESOURCES["FilesBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]
    (origin,) = rule["AllowedOrigins"]
    given, load_balancer = origin["Fn::If"][1:]
    assert origin["Fn::If"][0] == "HasWebOrigin" and given == {"Ref": "WebOrigin"}
    assert load_balancer["Fn::Join"][1][1:] == ["://", {"Fn::GetAtt": ["LoadBalancer", "DNSName"]}]


#: Resource types moto 5.2.5's CloudFormation cannot create (it skips them silently).
EMULATOR_LACKS = {"AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm", "AWS::SNS::Subscription",
                  "AWS::SNS::TopicPolicy", "AWS::Lambda::EventInvokeConfig"}


def test_only_what_the_emulator_cannot_create_is_left_out_for_it():
    from tests.support.stack import created

    everything = {"Target": "aws", "AlertEmail": "ops@example.com",
                  "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0e4a",
                  "OperatorCidr": "203.0.113.0/24", "DatabaseSecurityGroupId": "sg-0123"}
    left_out = {n for n in RESOURCES if created(n, everything)
                and not created(n, {**everything, "Target": "emulator"})}
    assert left_out == {n for n, r in RESOURCES.items() if r["Type"] in EMULATOR_LACKS}
    assert {n for n, r in RESOURCES.items() if r["Type"] == "AWS::Scheduler::Schedule"} == \
        {"CustomersNightlySchedule"}


# --- least privilege ------------------------------------------------------------------

def statements(role: str) -> list[dict]:
    return [s for p in RESOURCES[role]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]]


def actions(role: str) -> set[str]:
    found = set()
    for s in statements(role):
        found |= {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
    return found


def test_the_worker_may_use_its_queues_topics_files_mail_and_own_protection_only():
    assert {a.split(":")[0] for a in actions("WorkerTaskRole")} == \
        {"sqs", "sns", "s3", "ecs", "ses"}
    assert {a for a in actions("WorkerTaskRole") if a.startswith("ses:")} == {"ses:SendEmail"}
    assert {a for a in actions("WorkerTaskRole") if a.startswith("ecs:")} == \
        {"ecs:UpdateTaskProtection", "ecs:GetTaskProtection"}
    for s in statements("WorkerTaskRole"):
        acts = {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
        if s["Resource"] == "*":
            assert acts <= {"sqs:ListQueues", "sns:ListTopics"}, s
        if acts & {"ecs:UpdateTaskProtection"}:
            assert s["Resource"]["Fn::Sub"].endswith(":task/${QueuePrefix}cluster/*")
        if any(a.startswith("sqs:") for a in acts) and s["Resource"] != "*":
            assert all(arn_of(r).startswith(f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}")
                       for r in listed(s["Resource"])), s
        if any(a.startswith("s3:") for a in acts):
            keys = [r["Fn::Sub"].rsplit("}", 1)[-1] for r in s["Resource"]]
            assert keys == [f"/{prefix}*" for prefix in filekeys.ALL]


@pytest.mark.parametrize("role", sorted(of_type("AWS::IAM::Role")))
def test_no_role_may_do_everything(role):
    for s in statements(role):
        acts = {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
        assert not any(a == "*" or a.endswith(":*") for a in acts), (role, s)
        assert s["Effect"] == "Allow"


def test_the_web_app_sends_and_receives_only_dead_letters():
    acts = actions("WebTaskRole")
    assert "sqs:SendMessage" in acts and "sqs:CreateQueue" not in acts
    receiving = [s for s in statements("WebTaskRole") if "sqs:ReceiveMessage" in s["Action"]]
    assert [r["Fn::GetAtt"][0] for s in receiving for r in s["Resource"]] == \
        [f"{w.capitalize()}DeadLetterQueue" for w in WORKLOADS], "the operator page's redrive"


def test_the_autoscaler_changes_only_the_worker_services():
    (ecs,) = [s for s in statements("AutoscalerRole") if "ecs:UpdateService" in s["Action"]]
    assert [r["Fn::Sub"].rsplit("/", 1)[-1] for r in ecs["Resource"]] == \
        [f"${{QueuePrefix}}worker-{w}" for w in WORKLOADS]


# --- what a role may do to a queue, decided as IAM matches resources -------------------

PREFIX, ACCOUNT = "jobsys-", "123456789012"
_PSEUDO = {"${AWS::Partition}": "aws", "${AWS::Region}": "us-east-1",
           "${AWS::AccountId}": ACCOUNT, "${QueuePrefix}": PREFIX}


def arn_of(resource) -> str:
    """A statement's resource as the ARN it names in a stack with ``PREFIX``."""
    if isinstance(resource, str):
        return resource
    if "Fn::GetAtt" in resource:
        name = arn_of(RESOURCES[resource["Fn::GetAtt"][0]]["Properties"]["QueueName"])
        return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
    text = resource["Fn::Sub"]
    for variable, value in _PSEUDO.items():
        text = text.replace(variable, value)
    assert "${" not in text, text
    return text


def allowed(role: str, action: str, target: str) -> bool:
    """Whether an Allow statement of ``role`` matches (IAM's ``*`` and ``?``, case-sensitive)."""
    from fnmatch import fnmatchcase
    for s in statements(role):
        acts = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        found = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if any(fnmatchcase(action, a) for a in acts) and \
                any(fnmatchcase(target, arn_of(r)) for r in found):
            return True
    return False


def queue(name: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{PREFIX}{name}"


def monitoring_queue_names() -> list[str]:
    """The names events and remote control give their queues, as the transport makes them."""
    from broker.sqs_fanout import Channel
    channel = Channel.__new__(Channel)  # only its naming is used: no connection
    channel.queue_name_prefix = PREFIX
    kombu_names = ["celeryev.6f1c3b0e-8e4c-4d8a-9a55-1f5a1c7d2b10",
                   "worker-pdf-7@ip-10-0-1-23.ec2.internal.celery.pidbox",
                   "2f0c9a8e-1b7d-4c55-b1a1-8e1f7f4c9d3e.reply.celery.pidbox",
                   "w" * 90 + ".celery.pidbox"]
    return [channel.canonical_queue_name(n) for n in kombu_names]


TASK_QUEUES = [name for w in WORKLOADS for name in (w, f"{w}-dlq")]
QUEUE_ADMIN = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes",
               "sqs:TagQueue", "sqs:PurgeQueue"]


@pytest.mark.parametrize("role", ["WorkerTaskRole", "FlowerTaskRole"])
@pytest.mark.parametrize("name", TASK_QUEUES)
def test_the_worker_role_cannot_delete_a_task_queue(role, name):
    for action in QUEUE_ADMIN:
        assert not allowed(role, action, queue(name)), (role, action, name)


@pytest.mark.parametrize("role", ["WorkerTaskRole", "FlowerTaskRole"])
def test_the_monitoring_queues_the_transport_names_may_be_made_and_removed(role):
    names = monitoring_queue_names()
    assert all(n.startswith(PREFIX) and len(n) <= 80 for n in names), names
    for name in names:
        for action in ("sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes"):
            assert allowed(role, action, queue(name.removeprefix(PREFIX))), (action, name)


@pytest.mark.parametrize("name", TASK_QUEUES)
def test_a_worker_still_works_its_task_and_dead_letter_queues(name):
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                   "sqs:SendMessage"):
        assert allowed("WorkerTaskRole", action, queue(name)), (action, name)
    assert not any(allowed("FlowerTaskRole", a, queue(name)) for a in ("sqs:ReceiveMessage",
                                                                         "sqs:SendMessage"))


def test_monitoring_name_patterns_match_exactly_the_monitoring_roles():
    from fnmatch import fnmatchcase
    from broker.monitoring import SQS_NAME_PATTERNS, role_of_sqs_name
    for name in monitoring_queue_names() + [PREFIX + n for n in TASK_QUEUES]:
        matched = any(fnmatchcase(name, PREFIX + p) for p in SQS_NAME_PATTERNS)
        assert matched == (role_of_sqs_name(name, PREFIX) is not None), name


def test_a_worker_sends_the_autoscaler_its_reports_and_reads_no_wake_signal():
    assert allowed("WorkerTaskRole", "sqs:SendMessage", queue("wake.fifo"))
    assert allowed("WorkerTaskRole", "sqs:GetQueueUrl", queue("wake.fifo"))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"):
        assert not allowed("WorkerTaskRole", action, queue("wake.fifo")), action
