"""deploy/deploy.sh and deploy/build-push.sh: shellcheck, clear errors, and the exact
commands they run (DRY_RUN=1 prints them; no AWS account or Docker engine needed)."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "deploy").glob("*.sh"))
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
PARAMETERS = yaml.safe_load((ROOT / "deploy" / "template.yaml").read_text())["Parameters"]
SETTINGS = {
    "AWS_REGION": "ap-northeast-1", "AWS_ACCOUNT_ID": "123456789012",
    "VPC_ID": "vpc-1", "PUBLIC_SUBNET_IDS": "subnet-1,subnet-2",
    "PRIVATE_SUBNET_IDS": "subnet-3,subnet-4",
    "DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db",
    "FLOWER_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:fl",
    "SECRET_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:sk",
    "IMAGE_TAG": "abc123", "EXTRA_PARAMETERS": "PoolMax=8 RetentionDays=14",
}


def run(script: str, **env) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
            "DEPLOY_CONFIG": "/nonexistent/config.env"}
    return subprocess.run([str(ROOT / "deploy" / script)], env={**base, **env},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_shellcheck_passes():
    assert SHELLCHECK, "shellcheck is not installed: pip install -r requirements.txt"
    result = subprocess.run([SHELLCHECK, *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_deploy_names_every_missing_setting():
    result = run("deploy.sh", AWS_REGION="eu-west-1", VPC_ID="vpc-1")
    assert result.returncode == 2
    assert "not set: PUBLIC_SUBNET_IDS PRIVATE_SUBNET_IDS DATABASE_URL_SECRET_ARN " \
           "FLOWER_SECRET_ARN" in result.stderr
    assert "deploy/config.example.env" in result.stderr


def test_deploy_builds_pushes_and_deploys_every_image_under_one_tag():
    result = run("deploy.sh", DRY_RUN="1", **SETTINGS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    registry = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/jobsys"
    for image in ("web", "worker", "flower", "autoscaler"):
        assert f"docker build --platform linux/amd64 --provenance=false -f docker/{image}.Dockerfile " \
               f"-t {registry}/{image}:abc123 ." in lines
        assert f"docker push {registry}/{image}:abc123" in lines
    (deploy,) = [shlex.split(line) for line in lines if line.startswith("aws cloudformation deploy")]
    overrides = dict(word.split("=", 1) for word in deploy[deploy.index("--parameter-overrides") + 1:])
    assert set(overrides) <= set(PARAMETERS)
    assert {name for name, p in PARAMETERS.items() if "Default" not in p} <= set(overrides)
    assert overrides["WorkerImageTag"] == overrides["AutoscalerImageTag"] == "abc123"
    assert overrides["PoolMax"] == "8" and overrides["RetentionDays"] == "14"
    assert deploy[deploy.index("--template-file") + 1] == "deploy/template.yaml"


def test_deploy_turns_flower_oauth_on_from_flower_auth():
    result = run("deploy.sh", DRY_RUN="1", FLOWER_AUTH=".*@example[.]com",
                 FLOWER_OAUTH2_REDIRECT_URI="https://flower.example.com:5555/login", **SETTINGS)
    assert result.returncode == 0, result.stderr
    (deploy,) = [shlex.split(line) for line in result.stdout.splitlines()
                 if line.startswith("aws cloudformation deploy")]
    overrides = dict(word.split("=", 1) for word in deploy[deploy.index("--parameter-overrides") + 1:])
    assert overrides["FlowerAuth"] == ".*@example[.]com"
    assert overrides["FlowerOAuthRedirectUri"] == "https://flower.example.com:5555/login"
    assert "FlowerAuthProvider" not in overrides
