"""checkov passes on deploy/template.yaml with the reasoned skips of deploy/checkov.yaml.

checkov's pins conflict with requirements.txt, so it lives in its own virtualenv
(.venv-tools, from requirements-tools.txt; scripts/bootstrap.sh --test installs it).
A missing checkov fails these tests rather than skipping them.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.support.stack import ROOT, TEMPLATE

TOOLS = Path(os.environ.get("TOOLS_VENV", ROOT / ".venv-tools"))
CHECKOV = TOOLS / "bin" / "checkov"
CONFIG = ROOT / "deploy" / "checkov.yaml"


def checkov(path: Path) -> list[dict]:
    """The failed checks of a template, as checkov reports them."""
    assert CHECKOV.exists(), (f"checkov is not installed at {CHECKOV}: run "
                              "scripts/bootstrap.sh --test (requirements-tools.txt)")
    result = subprocess.run([str(CHECKOV), "-f", str(path), "--config-file", str(CONFIG),
                             "-o", "json"], capture_output=True, text=True, timeout=240,
                            cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["summary"]["resource_count"] > 0, result.stdout[-2000:]
    return report["results"]["failed_checks"]


def test_checkov_passes():
    failed = checkov(TEMPLATE)
    assert [(f["check_id"], f["resource"], f["check_name"]) for f in failed] == []


def test_checkov_finds_a_public_bucket(tmp_path):
    broken = yaml.safe_load(TEMPLATE.read_text())
    block = broken["Resources"]["FilesBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    block["BlockPublicAcls"] = block["RestrictPublicBuckets"] = False
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert {f["check_id"] for f in checkov(path)} >= {"CKV_AWS_53", "CKV_AWS_56"}


def test_every_skipped_check_says_why():
    lines = CONFIG.read_text().splitlines()
    skipped = [i for i, line in enumerate(lines) if line.strip().startswith("- CKV_")]
    assert skipped
    for i in skipped:
        assert lines[i - 1].strip().startswith("# "), f"no reason above {lines[i].strip()}"
    assert len(yaml.safe_load(CONFIG.read_text())["skip-check"]) == len(skipped)
