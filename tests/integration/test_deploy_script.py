"""deploy/deploy.sh run against moto's server over HTTP, with the AWS CLI that
scripts/bootstrap.sh --test installs (.venv-aws).

The stack is created (first run) and updated (second run) through the script's
own bucket and its two phases. The migration step is MIGRATE_COMMAND: here a
command that records what the stack holds at that moment, because the default
(deploy/migrate.sh, an ECS task) cannot run in moto: stacks deployed through a
change set have no Outputs there, and its RunTask fails (HTTP 500) on a task
definition that sets memory for the task only.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AWS_VENV = ROOT / ".venv-aws" / "bin"
REGION = "us-east-1"
TEMPLATE = ROOT / "deploy" / "template.yaml"
PARAMETERS = yaml.safe_load(TEMPLATE.read_text())["Parameters"]
SERVICE_TAGS = ("WebImageTag", "WorkerImageTag", "FlowerImageTag", "AutoscalerImageTag")


def migrate_tag(tag: str) -> dict:
    """What the migration task's image tag should be, where the template has one."""
    return {"MigrateImageTag": tag} if "MigrateImageTag" in PARAMETERS else {}


class Emulator:
    """moto's endpoint as the AWS CLI and boto3 reach it."""

    def __init__(self, endpoint: str):
        # moto finds a TemplateURL's bucket in the path only when the host is "localhost".
        self.endpoint = endpoint.replace("127.0.0.1", "localhost")

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def config(self, directory: Path, **changes) -> Path:
        """A config file for a new stack: its own VPC, subnets, secrets and prefix."""
        ec2, secrets = self.client("ec2"), self.client("secretsmanager")
        vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
        subnets = ",".join(ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.43.{i}.0/24",
                                             AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
                           for i, zone in enumerate("ab"))
        prefix = f"s{uuid.uuid4().hex[:6]}-"

        def secret(name):
            return secrets.create_secret(Name=prefix + name, SecretString="x")["ARN"]

        settings = {
            "AWS_REGION": REGION, "STACK_NAME": f"{prefix}stack", "VPC_ID": vpc,
            "PUBLIC_SUBNET_IDS": subnets, "PRIVATE_SUBNET_IDS": subnets,
            "DATABASE_SECURITY_GROUP_ID": ec2.create_security_group(
                GroupName=f"{prefix}database", VpcId=vpc, Description="the database")["GroupId"],
            "DATABASE_URL_SECRET_ARN": secret("database-url"),
            "FLOWER_SECRET_ARN": secret("flower"), "SECRET_KEY_SECRET_ARN": secret("secret-key"),
            "MAIL_FROM": "Jobs <jobs@example.com>", "SENDER_IDENTITY": "example.com",
            "ALLOW_PLAIN_HTTP": "true",
            "EXTRA_PARAMETERS": f"Target=emulator QueuePrefix={prefix} PoolMax=8",
            **changes,
        }
        path = directory / f"{prefix}config.env"
        path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items()))
        return path

    def deploy(self, config: Path, **env) -> subprocess.CompletedProcess:
        base = {"PATH": f"{AWS_VENV}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"),
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "emulator",
                "AWS_SECRET_ACCESS_KEY": "emulator", "DEPLOY_CONFIG": str(config)}
        return subprocess.run([str(ROOT / "deploy" / "deploy.sh")], env={**base, **env},
                              capture_output=True, text=True, timeout=240, cwd=ROOT)

    def stack(self, name: str) -> dict:
        return self.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]


def parameters(stack: dict) -> dict:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def recorder(directory: Path) -> str:
    """A MIGRATE_COMMAND that saves the stack as it is when the migrations run."""
    target = shlex.quote(str(directory))
    return ('aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" '
            f'--query "Stacks[0]" --output json > {target}/"$IMAGE_TAG".json')


@pytest.fixture(scope="module")
def emulator(moto_endpoint):
    assert (AWS_VENV / "aws").exists(), "no AWS CLI in .venv-aws: run scripts/bootstrap.sh --test"
    return Emulator(moto_endpoint)


def with_migrate(config: Path, command: str) -> Path:
    """A copy of ``config`` whose migrations are ``command``."""
    changed = config.with_name(f"{config.stem}-{uuid.uuid4().hex[:4]}.env")
    changed.write_text(config.read_text() + f"MIGRATE_COMMAND={shlex.quote(command)}\n")
    return changed


@pytest.fixture(scope="module")
def released(emulator, tmp_path_factory):
    """A new stack whose first migrations fail, deployed again (v1), then updated (v2):
    the deploys' results and the stack as each step left it."""
    directory = tmp_path_factory.mktemp("deploy-script")
    config = emulator.config(directory, MIGRATE_COMMAND=recorder(directory))
    name = f"{config.name.split('-')[0]}-stack"
    seen = {"v1 failed": emulator.deploy(with_migrate(config, "exit 3"), SKIP_BUILD="1",
                                         IMAGE_TAG="v1")}
    seen["v1 after failure"] = emulator.stack(name)
    for tag in ("v1", "v2"):
        result = emulator.deploy(config, SKIP_BUILD="1", IMAGE_TAG=tag)
        assert result.returncode == 0, result.stdout + result.stderr
        seen[f"{tag} migrating"] = json.loads((directory / f"{tag}.json").read_text())
        seen[f"{tag} done"] = emulator.stack(name)
    return config, name, seen


def test_the_template_goes_through_a_private_encrypted_bucket(emulator, released):
    _, name, _ = released
    s3, bucket = emulator.client("s3"), f"{name}-templates-123456789012-{REGION}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(key.startswith(f"{name}/") for key in keys)
    bodies = {s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
    assert bodies == {TEMPLATE.read_bytes()}
    assert len(TEMPLATE.read_bytes()) > 51_200  # too big for an inline TemplateBody
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                   "RestrictPublicBuckets"), True)
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_a_new_stack_serves_nothing_until_its_schema_is_migrated(released):
    _, _, seen = released
    failed, after = seen["v1 failed"], seen["v1 after failure"]
    assert failed.returncode == 1
    assert "the migrations failed; phase 2 did not run" in failed.stderr
    assert after["StackStatus"] == "CREATE_COMPLETE"
    expected = {**dict.fromkeys(SERVICE_TAGS, "v1"), **migrate_tag("v1"), "WebDesiredCount": "0"}
    assert {k: parameters(after)[k] for k in expected} == expected
    # Deployed again, the stack still has no web task while the migrations run.
    assert parameters(seen["v1 migrating"])["WebDesiredCount"] == "0"
    done = seen["v1 done"]
    assert done["StackStatus"] == "UPDATE_COMPLETE"
    assert parameters(done)["WebDesiredCount"] == "1"
    assert parameters(done)["PoolMax"] == "8" and parameters(done)["Target"] == "emulator"


def test_an_update_migrates_before_any_service_moves_to_the_new_images(released):
    _, _, seen = released
    migrating, done = parameters(seen["v2 migrating"]), parameters(seen["v2 done"])
    assert seen["v2 migrating"]["StackStatus"] == seen["v2 done"]["StackStatus"] == "UPDATE_COMPLETE"
    expected = {**dict.fromkeys(SERVICE_TAGS, "v1"), **migrate_tag("v2")}
    assert {k: migrating[k] for k in expected} == expected
    expected = {**dict.fromkeys(SERVICE_TAGS, "v2"), **migrate_tag("v2")}
    assert {k: done[k] for k in expected} == expected
    assert migrating["WebDesiredCount"] == done["WebDesiredCount"] == "1"


def test_a_failed_migration_stops_an_update_before_phase_two(emulator, released):
    config, name, _ = released
    result = emulator.deploy(with_migrate(config, "exit 3"), SKIP_BUILD="1", IMAGE_TAG="v3")
    assert result.returncode == 1
    assert "the migrations failed; phase 2 did not run" in result.stderr
    now = parameters(emulator.stack(name))
    expected = {**dict.fromkeys(SERVICE_TAGS, "v2"), **migrate_tag("v3")}
    assert {k: now[k] for k in expected} == expected


def deploy_commands(stdout: str) -> list[dict]:
    """The parameter overrides of each `aws cloudformation deploy` line printed."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("aws cloudformation deploy"):
            words = shlex.split(line)
            found.append({"words": words, "overrides": dict(
                w.split("=", 1) for w in words[words.index("--parameter-overrides") + 1:])})
    return found


def test_a_dry_run_builds_every_image_under_one_tag_and_prints_both_phases(emulator, tmp_path):
    config = emulator.config(tmp_path)
    name = f"{config.name.split('-')[0]}-stack"
    result = emulator.deploy(config, DRY_RUN="1", IMAGE_TAG="abc123")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    registry = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/jobsys"
    for image in ("web", "worker", "flower", "autoscaler"):
        assert f"docker build --platform linux/amd64 --provenance=false -f docker/{image}.Dockerfile " \
               f"-t {registry}/{image}:abc123 ." in lines
        assert f"docker push {registry}/{image}:abc123" in lines
    bucket = f"{name}-templates-123456789012-{REGION}"
    assert f"aws s3api create-bucket --region {REGION} --bucket {bucket} " \
           "--query Location --output text" in lines
    first, second = deploy_commands(result.stdout)
    for phase in (first, second):
        words, overrides = phase["words"], phase["overrides"]
        assert words[words.index("--s3-bucket") + 1] == bucket
        assert words[words.index("--s3-prefix") + 1] == name
        assert words[words.index("--template-file") + 1] == "deploy/template.yaml"
        assert set(overrides) <= set(PARAMETERS)
        assert {n for n, p in PARAMETERS.items() if "Default" not in p} <= set(overrides)
        assert overrides["PoolMax"] == "8" and overrides["AutoscalerImageTag"] == "abc123"
    assert first["overrides"]["WebDesiredCount"] == "0"
    assert second["overrides"]["WebDesiredCount"] == "1"
    assert "(dry run: the migrations would run here)" in lines
    buckets = [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
    assert bucket not in buckets


def test_flower_oauth_is_turned_on_from_flower_auth(emulator, tmp_path):
    config = emulator.config(tmp_path, FLOWER_AUTH=".*@example[.]com",
                             FLOWER_OAUTH2_REDIRECT_URI="https://flower.example.com:5555/login")
    result = emulator.deploy(config, DRY_RUN="1", SKIP_BUILD="1", IMAGE_TAG="abc123")
    assert result.returncode == 0, result.stderr
    for phase in deploy_commands(result.stdout):
        assert phase["overrides"]["FlowerAuth"] == ".*@example[.]com"
        assert phase["overrides"]["FlowerOAuthRedirectUri"] == "https://flower.example.com:5555/login"
        assert "FlowerAuthProvider" not in phase["overrides"]


def test_the_example_config_is_a_complete_one(emulator):
    example = ROOT / "deploy" / "config.example.env"
    result = emulator.deploy(example, DRY_RUN="1", SKIP_BUILD="1", IMAGE_TAG="abc123")
    assert result.returncode == 0, result.stderr
    phases = deploy_commands(result.stdout)
    assert len(phases) == 2
    for phase in phases:
        assert set(phase["overrides"]) <= set(PARAMETERS)
        assert phase["overrides"]["CertificateArn"].startswith("arn:aws:acm:")
