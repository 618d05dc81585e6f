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
                        "lambdas.nightly_export.handler"}
    assert {h: images.problem_with_handler(h) for h in handlers} == dict.fromkeys(handlers)


def test_workers_stop_gracefully_report_health_and_log():
    workers = {n: c for n, c in containers().items() if c["Name"] == "worker"}
    assert len(workers) == len(WORKLOADS)
    for container in workers.values():
        assert container["StopTimeout"] == 120
        assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "worker.health"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert {s["Name"] for s in container["Secrets"]} == {"DATABASE_URL"}


def test_one_service_per_pool_starting_at_zero():
    services = of_type("AWS::ECS::Service")
    pools = {n: s for n, s in services.items() if n.endswith("WorkerService")}
    assert sorted(pools) == sorted(f"{w.capitalize()}WorkerService" for w in WORKLOADS)
    assert {s["Properties"]["DesiredCount"] for s in pools.values()} == {0}


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
            assert s["Resource"]["Fn::Sub"].endswith(":${QueuePrefix}*")
        if any(a.startswith("s3:") for a in acts):
            keys = [r["Fn::Sub"].rsplit("}", 1)[-1] for r in s["Resource"]]
            assert keys == [f"/{prefix}*" for prefix in filekeys.ALL]


@pytest.mark.parametrize("role", ["WebTaskRole", "FlowerTaskRole", "AutoscalerRole",
                                  "ImportUploadRole", "NightlyExportRole", "SchedulerRole",
                                  "ExecutionRole", "WorkerTaskRole"])
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
