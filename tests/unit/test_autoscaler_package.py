"""The Lambda package is autoscaler/, core/env.py, core/metrics.py and boto3: loading the handler pulls in
nothing else."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Modules boto3 brings (and whatever this interpreter loads at start) are the baseline;
# the handler and the local loop must add nothing outside the standard library.
PROBE = """
import json, sys
import boto3, botocore.config, botocore.exceptions
before = set(sys.modules)
import autoscaler.lambda_handler, autoscaler.__main__
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_lambda_handler_needs_only_boto3_and_the_standard_library():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    added = {m for m in json.loads(out) if m.split(".")[0] not in sys.stdlib_module_names}
    assert {m.split(".")[0] for m in added} == {"autoscaler", "core"}
    assert {m for m in added if m.split(".")[0] == "core"} == {"core", "core.env",
                                                                "core.metrics"}
