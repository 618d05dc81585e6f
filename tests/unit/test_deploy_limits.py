"""AWS limits that moto's CloudFormation does not check, measured on deploy/template.yaml.

Sizes are upper estimates: a parameter counts at the longest value it may take
(its MaxLength, its longest allowed value, else 128 characters), a secret resolved
at deploy (``{{resolve:secretsmanager:…}}``) at 2,048 characters.
"""
from __future__ import annotations

import re

from tests.support.stack import DOC, PARAMETERS, RESOURCES, TEMPLATE, of_type

#: CloudFormation's quotas (a template read from S3) and Lambda's and Scheduler's.
TEMPLATE_BYTES_FROM_S3 = 1_000_000
MAX_RESOURCES, MAX_PARAMETERS, MAX_OUTPUTS = 500, 200, 200
LAMBDA_ENVIRONMENT_BYTES = 4 * 1024
SCHEDULER_INPUT_CHARS = 8192
SECRET_CHARS = 2048
LONGEST = {"AWS::Region": 20, "AWS::AccountId": 12, "AWS::Partition": 10,
           "AWS::URLSuffix": 20, "AWS::StackName": 128, "FilesBucket": 63}
_RESOLVE = re.compile(r"\{\{resolve:secretsmanager:.*?\}\}")


def longest(name: str) -> int:
    """The longest value a parameter, pseudo parameter or resource reference may have."""
    if name in LONGEST:
        return LONGEST[name]
    spec = PARAMETERS.get(name, {})
    if "MaxLength" in spec:
        return int(spec["MaxLength"])
    if "AllowedValues" in spec:
        return max(len(str(v)) for v in spec["AllowedValues"])
    if spec.get("Type") == "Number" and "MaxValue" in spec:
        return len(str(spec["MaxValue"]))
    return 128


def estimate(value) -> int:
    """The most characters ``value`` can have once CloudFormation has resolved it."""
    if isinstance(value, (str, int, float)):
        return len(str(value))
    ((function, args),) = value.items()
    if function == "Ref":
        return longest(args)
    if function == "Fn::Sub":
        text = args if isinstance(args, str) else args[0]
        secrets = len(_RESOLVE.findall(text)) * SECRET_CHARS
        text = _RESOLVE.sub("", text)
        names = re.findall(r"\$\{([^}]+)\}", text)
        return (secrets + len(re.sub(r"\$\{[^}]+\}", "", text))
                + sum(longest(n.split(".")[0]) for n in names))
    if function == "Fn::If":
        return max(estimate(args[1]), estimate(args[2]))
    if function == "Fn::Join":
        return len(args[0]) * max(len(args[1]) - 1, 0) + sum(estimate(v) for v in args[1])
    return 256  # Fn::GetAtt and the like: an ARN at most


def test_estimates_count_secrets_and_parameters_at_their_longest():
    assert estimate({"Fn::Sub": "{{resolve:secretsmanager:${X}:SecretString}}"}) == 2048
    assert estimate({"Ref": "QueuePrefix"}) == PARAMETERS["QueuePrefix"]["MaxLength"]
    assert estimate({"Fn::Sub": "${QueuePrefix}cluster"}) == \
        PARAMETERS["QueuePrefix"]["MaxLength"] + len("cluster")
    assert estimate({"Ref": "AutoscalerDryRun"}) == len("false")


def test_the_template_fits_what_cloudformation_reads_from_s3():
    assert len(TEMPLATE.read_bytes()) < TEMPLATE_BYTES_FROM_S3


def test_resource_parameter_and_output_counts_are_within_quota():
    assert len(RESOURCES) <= MAX_RESOURCES
    assert len(DOC["Parameters"]) <= MAX_PARAMETERS
    assert len(DOC["Outputs"]) <= MAX_OUTPUTS


def test_each_lambda_environment_stays_under_4_kb():
    sizes = {name: sum(len(k) + estimate(v) for k, v in
                       f["Properties"]["Environment"]["Variables"].items())
             for name, f in of_type("AWS::Lambda::Function").items()}
    assert sizes and all(size < LAMBDA_ENVIRONMENT_BYTES for size in sizes.values()), sizes


def test_each_schedule_target_input_stays_under_8192_characters():
    schedules = of_type("AWS::Scheduler::Schedule")
    assert schedules
    for name, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        assert len(target.get("Input", "")) < SCHEDULER_INPUT_CHARS, name
