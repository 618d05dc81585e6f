"""deploy/*.sh without AWS: shellcheck, the settings deploy.sh refuses (before any AWS
call), and the commands build-push.sh runs (DRY_RUN=1 prints them; no Docker engine
needed). tests/integration/test_deploy_script.py runs deploy.sh against the emulator."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "deploy").glob("*.sh"))
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
SETTINGS = {
    "AWS_REGION": "ap-northeast-1", "AWS_ACCOUNT_ID": "123456789012",
    "VPC_ID": "vpc-1", "PUBLIC_SUBNET_IDS": "subnet-1,subnet-2",
    "PRIVATE_SUBNET_IDS": "subnet-3,subnet-4",
    "DATABASE_URL_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db",
    "FLOWER_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:fl",
    "SECRET_KEY_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:sk",
    "CERTIFICATE_ARN": "arn:aws:acm:ap-northeast-1:123456789012:certificate/1",
    "MAIL_FROM": "Jobs <jobs@example.com>", "SENDER_IDENTITY": "example.com",
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


def test_deploy_refuses_a_config_without_mail_settings():
    result = run("deploy.sh", **{k: v for k, v in SETTINGS.items()
                                 if k not in ("MAIL_FROM", "SENDER_IDENTITY")})
    assert result.returncode == 2
    assert "not set: MAIL_FROM SENDER_IDENTITY" in result.stderr


def test_deploy_refuses_plain_http_unless_asked_for():
    settings = {k: v for k, v in SETTINGS.items() if k != "CERTIFICATE_ARN"}
    result = run("deploy.sh", **settings)
    assert result.returncode == 2
    assert "set CERTIFICATE_ARN (an ACM certificate for HTTPS), or ALLOW_PLAIN_HTTP=true" \
        in result.stderr
    result = run("deploy.sh", **settings, ALLOW_PLAIN_HTTP="yes")
    assert result.returncode == 2 and "CERTIFICATE_ARN" in result.stderr


def test_deploy_refuses_extra_parameters_the_template_does_not_declare():
    result = run("deploy.sh", **{**SETTINGS, "EXTRA_PARAMETERS": "PoolMax=8 PoolMaks=9"})
    assert result.returncode == 2
    assert "EXTRA_PARAMETERS: deploy/template.yaml declares no parameter PoolMaks" in result.stderr
    result = run("deploy.sh", **{**SETTINGS, "EXTRA_PARAMETERS": "PoolMax"})
    assert result.returncode == 2 and '"PoolMax" is not Key=Value' in result.stderr


def test_build_push_builds_and_pushes_every_image_under_one_tag():
    result = run("build-push.sh", DRY_RUN="1", **SETTINGS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    registry = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/jobsys"
    for image in ("web", "worker", "flower", "autoscaler"):
        assert f"docker build --platform linux/amd64 --provenance=false -f docker/{image}.Dockerfile " \
               f"-t {registry}/{image}:abc123 ." in lines
        assert f"docker push {registry}/{image}:abc123" in lines
    assert lines[-1] == "abc123"
