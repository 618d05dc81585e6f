"""Parsing the autoscaler's settings: defaults, overrides, and errors that name the variable."""
import re
from pathlib import Path

import pytest

from autoscaler import config
from autoscaler.decide import Policy
from autoscaler.errors import ConfigurationError
from autoscaler.lambda_handler import lambda_config
from core.settings import WORKLOADS

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_environment():
    c = config.load({})
    assert [p.name for p in c.pools] == ["default", "pdf", "imports", "exports"]
    assert c.pool("pdf").queues == ("pdf",)
    assert c.pool("pdf").policy == Policy()
    assert c.pool("pdf").service == c.pool("pdf").task_family == "jobsys-worker-pdf"
    assert (c.mode, c.dry_run, c.region, c.endpoint_url) == ("local", False, "us-east-1", None)
    assert c.queue_name("pdf") == "jobsys-pdf"
    assert c.state_bucket is None


def test_every_pool_setting_can_be_overridden():
    c = config.load({
        "AUTOSCALER_POOLS": "pdf, bulk", "POOL_BULK_QUEUES": "imports,exports",
        "POOL_PDF_MIN": "1", "POOL_PDF_MAX": "10", "POOL_PDF_TARGET": "5",
        "POOL_PDF_COOLDOWN": "300", "POOL_PDF_WAKE": "3", "POOL_PDF_STEP_OUT": "4",
        "POOL_PDF_STEP_IN": "2", "POOL_PDF_COUNT_DELAYED": "yes",
        "POOL_PDF_SERVICE": "svc", "POOL_PDF_TASK_FAMILY": "fam",
        "POOL_PDF_COMMAND": "python -m worker --fast", "QUEUE_PREFIX": "prod-"})
    pdf = c.pool("pdf")
    assert pdf.policy == Policy(target=5, min=1, max=10, wake=3, cooldown=300,
                                max_step_out=4, max_step_in=2, count_delayed=True)
    assert (pdf.service, pdf.task_family) == ("svc", "fam")
    assert pdf.command == ("python", "-m", "worker", "--fast")
    assert c.pool("bulk").queues == ("imports", "exports")
    assert c.queue_name("imports") == "prod-imports"


def test_mode_region_endpoint_and_network_settings_are_read():
    c = config.load({"AUTOSCALER_MODE": "ecs-task", "AUTOSCALER_DRY_RUN": "true",
                     "AWS_DEFAULT_REGION": "ap-northeast-1",
                     "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
                     "AUTOSCALER_SUBNETS": "subnet-1,subnet-2",
                     "AUTOSCALER_SECURITY_GROUPS": "sg-1", "AUTOSCALER_CLUSTER": "prod"})
    assert (c.mode, c.dry_run, c.region) == ("ecs-task", True, "ap-northeast-1")
    assert c.endpoint_url == "http://127.0.0.1:4566"
    assert c.subnets == ("subnet-1", "subnet-2") and c.security_groups == ("sg-1",)


def test_the_autoscaler_knows_the_same_workloads_as_the_rest_of_the_system():
    assert config.WORKLOADS == WORKLOADS


@pytest.mark.parametrize("env, words", [
    ({"AUTOSCALER_MODE": "k8s"}, "AUTOSCALER_MODE='k8s' is not one of: local, ecs-service"),
    ({"AUTOSCALER_DRY_RUN": "maybe"}, "AUTOSCALER_DRY_RUN='maybe' is not on or off"),
    ({"POOL_PDF_MAX": "ten"}, "POOL_PDF_MAX='ten' is not a whole number"),
    ({"POOL_PDF_TARGET": "0"}, "POOL_PDF_TARGET=0 is below the minimum of 0.001"),
    ({"POOL_PDF_COOLDOWN": "soon"}, "POOL_PDF_COOLDOWN='soon' is not a number"),
    ({"POOL_PDF_MIN": "-1"}, "POOL_PDF_MIN=-1 is below the minimum of 0"),
    ({"POOL_PDF_WAKE": "0"}, "POOL_PDF_WAKE=0 is below the minimum of 1"),
    ({"POOL_PDF_MIN": "5", "POOL_PDF_MAX": "2"}, "POOL_PDF_MIN=5 is above POOL_PDF_MAX=2"),
    ({"AUTOSCALER_POOLS": "videos"}, "POOL_VIDEOS_QUEUES='' must name workloads"),
    ({"AUTOSCALER_POOLS": "bulk", "POOL_BULK_QUEUES": "pdf,videos"},
     "POOL_BULK_QUEUES='pdf,videos' must name workloads among default, pdf"),
    ({"AUTOSCALER_POOLS": "pdf,bulk", "POOL_BULK_QUEUES": "pdf"},
     "queue 'pdf' is in POOL_PDF_QUEUES and POOL_BULK_QUEUES"),
    ({"AUTOSCALER_POOLS": "pdf,pdf"}, "AUTOSCALER_POOLS=pdf,pdf repeats a pool"),
    ({"AUTOSCALER_POOLS": "PDF!"}, "AUTOSCALER_POOLS names 'PDF!'"),
    ({"AUTOSCALER_POOLS": " , "}, "AUTOSCALER_POOLS is empty"),
    ({"AUTOSCALER_LAUNCH_TYPE": "LAMBDA"}, "AUTOSCALER_LAUNCH_TYPE='LAMBDA' is not one of"),
    ({"AUTOSCALER_MODE": "ecs-task"}, "AUTOSCALER_SUBNETS is not set"),
    ({"AUTOSCALER_INTERVAL": "0"}, "AUTOSCALER_INTERVAL=0 is below the minimum of 0.1"),
])
def test_bad_settings_name_the_variable(env, words):
    with pytest.raises(ConfigurationError) as error:
        config.load(env)
    assert words in str(error.value)


@pytest.mark.parametrize("env, words", [
    ({"AUTOSCALER_STATE_BUCKET": "b"}, "AUTOSCALER_MODE=local starts processes"),
    ({"AUTOSCALER_MODE": "ecs-service"}, "AUTOSCALER_STATE_BUCKET is not set"),
])
def test_the_lambda_refuses_settings_it_cannot_work_with(env, words):
    with pytest.raises(ConfigurationError, match=words):
        lambda_config(env)


def test_the_lambda_accepts_an_ecs_mode_with_a_state_bucket():
    c = lambda_config({"AUTOSCALER_MODE": "ecs-service", "AUTOSCALER_STATE_BUCKET": "b"})
    assert (c.mode, c.state_bucket, c.state_key) == ("ecs-service", "b", "autoscaler/state.json")


def test_every_pool_setting_is_documented_in_the_readme_and_the_autoscaler_guide():
    source = (ROOT / "autoscaler" / "config.py").read_text()
    names = set(re.findall(r'key \+ "([A-Z_]+)"', source))
    assert {"TARGET", "RUNTIME", "DRAIN_SECONDS"} <= names
    for doc in ("README.md", "docs/autoscaler.md"):
        text = (ROOT / doc).read_text()
        missing = sorted(n for n in names if f"POOL_<NAME>_{n}`" not in text)
        assert not missing, f"{doc} does not list POOL_<NAME>_{missing}"


def test_cost_and_runtime_settings_are_read_per_pool():
    c = config.load({"POOL_PDF_RUNTIME": "Lambda", "POOL_PDF_LAMBDA_CONCURRENCY": "20",
                     "POOL_PDF_LAMBDA_MEMORY": "2048", "POOL_EXPORTS_DRAIN_SECONDS": "180",
                     "POOL_EXPORTS_CONCURRENCY": "1", "POOL_EXPORTS_STARTUP_SECONDS": "40",
                     "POOL_EXPORTS_SERVICE_SECONDS": "30", "POOL_IMPORTS_MAX": "1"})
    pdf, exports = c.pool("pdf"), c.pool("exports")
    assert (pdf.on_lambda, pdf.lambda_concurrency, pdf.lambda_memory) == (True, 20, 2048)
    assert not exports.on_lambda
    assert (exports.policy.drain, exports.policy.concurrency) == (180, 1)
    assert (exports.startup_seconds, exports.service_seconds) == (40, 30)
    assert c.pool("imports").lambda_concurrency == 2, "MaximumConcurrency is at least 2"


@pytest.mark.parametrize("env, words", [
    ({"POOL_PDF_RUNTIME": "fargate"}, "POOL_PDF_RUNTIME"),
    ({"POOL_PDF_LAMBDA_CONCURRENCY": "1"}, "below the minimum of 2"),
    ({"POOL_PDF_LAMBDA_CONCURRENCY": "1001"}, "above the maximum of 1000"),
    ({"POOL_PDF_DRAIN_SECONDS": "-1"}, "POOL_PDF_DRAIN_SECONDS"),
])
def test_bad_cost_and_runtime_settings_name_the_variable(env, words):
    with pytest.raises(ConfigurationError, match=re.escape(words)):
        config.load(env)
