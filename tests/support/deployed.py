"""The stack as deployed: created from deploy/template.yaml in the emulator, and each
of its processes described as AWS would start it — the command and environment its
task definition or function declares, its secrets fetched as ECS (or, for a
Lambda, CloudFormation's dynamic reference) would fetch them, and the role it
assumes with that role's policies as the stack created them.
"""
from __future__ import annotations

import ast
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import yaml

from core.settings import Settings
from deploy.cfn import camel
from stack.services import wait_for

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
REGION = "us-east-1"
_RESOLVE = re.compile(r"\{\{resolve:secretsmanager:(.+?):SecretString(?::([^:}]*))?(?::[^}]*)?\}\}")


def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


@dataclass
class Stack:
    """A created stack: its name, parameters and outputs, with clients of the emulator."""

    endpoint: str
    name: str
    prefix: str
    parameters: dict
    outputs: dict

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def settings(self, **changes) -> Settings:
        """The app's settings for this stack's queues and bucket, on the emulator."""
        return Settings(aws_endpoint_url=self.endpoint, aws_region=REGION,
                        queue_prefix=self.prefix, bucket=self.outputs["BucketName"], **changes)

    @property
    def created(self) -> set[str]:
        """Logical ids of the resources the stack holds."""
        return {r["LogicalResourceId"] for r in self.client("cloudformation").list_stack_resources(
            StackName=self.name)["StackResourceSummaries"]}


def create_stack(endpoint: str, secrets: dict[str, str], **overrides) -> Stack:
    """Create the stack (a VPC, subnets and the three secrets first) and wait for it.

    ``secrets`` holds the values of DatabaseUrlSecretArn, FlowerSecretArn and
    WebSecretKeyArn; parameters the template does not declare are left out."""
    def client(service):
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

    ec2, sm, cfn = client("ec2"), client("secretsmanager"), client("cloudformation")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    prefix = f"d{uuid.uuid4().hex[:6]}-"
    database_group = ec2.create_security_group(GroupName=f"{prefix}database", VpcId=vpc,
                                               Description="the database")["GroupId"]
    parameters = {"DatabaseSecurityGroupId": database_group, "Target": "emulator",
                  "QueuePrefix": prefix, "VpcId": vpc, "PublicSubnetIds": ",".join(subnets),
                  "PrivateSubnetIds": ",".join(subnets)}
    for parameter, value in secrets.items():
        parameters[parameter] = sm.create_secret(Name=f"{prefix}{parameter}",
                                                 SecretString=value)["ARN"]
    parameters.update(overrides)
    declared = template()["Parameters"]
    parameters = {k: v for k, v in parameters.items() if k in declared}
    name = f"{prefix}stack"
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE.read_text(),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                 for k, v in parameters.items()],
                     Capabilities=["CAPABILITY_IAM"])

    def finished():
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
        return None if found["StackStatus"].endswith("_IN_PROGRESS") else found

    found = wait_for(finished, 90, f"stack {name} to be created")
    reasons = [(e["LogicalResourceId"], e.get("ResourceStatusReason"))
               for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
               if e["ResourceStatus"].endswith("FAILED")]
    assert found["StackStatus"] == "CREATE_COMPLETE", reasons
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    return Stack(endpoint, name, prefix, parameters, outputs)


@dataclass
class Process:
    """How AWS would start one of the stack's processes."""

    name: str
    role_arn: str | None
    environment: dict
    command: list[str] = field(default_factory=list)
    handler: str | None = None
    policies: tuple = ()
    #: A Lambda function's timeout (s) and memory (MiB).
    timeout: float | None = None
    memory: int | None = None


def role_policies(stack: Stack, role_arn: str | None) -> tuple:
    """The inline policies of a role as the stack created them: ((name, document), ...)."""
    if not role_arn:
        return ()
    iam, role = stack.client("iam"), role_arn.rsplit("/", 1)[-1]
    out = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto hands back a policy made by CloudFormation as a Python literal.
            document = ast.literal_eval(document)
        out.append((name, document))
    return tuple(out)


def secret_value(stack: Stack, value_from: str) -> str:
    """A secret as ECS fetches it: ``arn`` or ``arn:json-key:version-stage:version-id``."""
    parts = value_from.split(":")
    arn, key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
    raw = stack.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return json.loads(raw)[key] if key else raw


def task_process(stack: Stack, name: str, task_definition: str) -> Process:
    """A task definition's one container: command, environment with secrets, task role."""
    task = stack.client("ecs").describe_task_definition(
        taskDefinition=task_definition)["taskDefinition"]
    (container,) = task["containerDefinitions"]
    # moto keeps an AWS::NoValue list item as null where CloudFormation drops it.
    env = {e["name"]: e["value"] for e in container.get("environment", []) if e}
    for secret in container.get("secrets", []):
        env[secret["name"]] = secret_value(stack, secret["valueFrom"])
    role = task.get("taskRoleArn") or task_role_of(stack, task["taskDefinitionArn"])
    return Process(name, role, env, list(container.get("command", [])),
                   policies=role_policies(stack, role))


def task_role_of(stack: Stack, task_definition_arn: str) -> str | None:
    """The task role the template gives a task definition (moto's ECS does not keep it)."""
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                 stack.client("cloudformation").list_stack_resources(
                     StackName=stack.name)["StackResourceSummaries"]}
    (logical,) = [k for k, v in resources.items() if v == task_definition_arn]
    role = template()["Resources"][logical]["Properties"].get("TaskRoleArn")
    if not role:
        return None
    return stack.client("iam").get_role(RoleName=resources[role["Fn::GetAtt"][0]])["Role"]["Arn"]


def service_process(stack: Stack, service: str) -> Process:
    (found,) = stack.client("ecs").describe_services(
        cluster=stack.outputs["ClusterName"], services=[stack.prefix + service])["services"]
    return task_process(stack, service, found["taskDefinition"])


def resolve_dynamic(stack: Stack, value: str) -> str:
    """``{{resolve:secretsmanager:…}}`` replaced by the secret, as CloudFormation does."""
    def one(match):
        raw = stack.client("secretsmanager").get_secret_value(
            SecretId=match.group(1))["SecretString"]
        return json.loads(raw)[match.group(2)] if match.group(2) else raw
    return _RESOLVE.sub(one, value)


def function_process(stack: Stack, short: str) -> Process:
    """A Lambda function: its environment (dynamic references resolved), handler and role."""
    name = stack.prefix + short
    config = stack.client("lambda").get_function_configuration(FunctionName=name)
    env = {k: resolve_dynamic(stack, str(v))
           for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    image = config.get("ImageConfigResponse", {}).get("ImageConfig", {})
    handler = (image.get("Command") or [None])[0] or _template_handler(short)
    return Process(short, config["Role"], env, handler=handler,
                   policies=role_policies(stack, config["Role"]),
                   timeout=float(config["Timeout"]), memory=int(config["MemorySize"]))


def pool_process(stack: Stack, pool: str) -> Process:
    """A worker pool's process: its ECS service's task, or its Lambda function."""
    if f"{camel(pool)}WorkerService" in stack.created:
        return service_process(stack, f"worker-{pool}")
    return function_process(stack, f"worker-{pool}")


def event_source_mapping(stack: Stack, short: str) -> dict:
    """The one SQS event source mapping of a function, as Lambda holds it."""
    (mapping,) = stack.client("lambda").list_event_source_mappings(
        FunctionName=stack.prefix + short)["EventSourceMappings"]
    return mapping


def _template_handler(short: str) -> str:
    for resource in template()["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function" and \
                props.get("FunctionName") == {"Fn::Sub": "${QueuePrefix}" + short}:
            return props["ImageConfig"]["Command"][0]
    raise LookupError(f"no function {short} in the template")


def lambda_runtime_env(stack: Stack, function: Process) -> dict:
    """What the Lambda runtime itself sets for a function (besides its credentials), and
    its timeout, which Lambda keeps to itself and ``tests.support.lambda_run`` reads."""
    name = stack.prefix + function.name
    return {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/03/[$LATEST]0123456789abcdef",
            "AWS_EXECUTION_ENV": "AWS_Lambda_Image", "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{function.timeout:g}"}


def schedule_inputs() -> dict[str, str]:
    """Each EventBridge Scheduler schedule's target input, by logical id ({} without one)."""
    return {name: r["Properties"]["Target"].get("Input", "{}")
            for name, r in template()["Resources"].items()
            if r["Type"] == "AWS::Scheduler::Schedule"}
