"""Flower controls the workers and serves /metrics without sign-in: only OperatorCidr
reaches its port, over HTTPS with the certificate, and /metrics is never served through
the load balancer."""
from __future__ import annotations

import pytest

from tests.support.stack import PARAMETERS, RESOURCES, load_balancer_ingress, value

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0e4a"
OFFICE = "203.0.113.0/24"


def who_reaches(port: int, parameters: dict) -> set[str]:
    return {r["CidrIp"] for r in load_balancer_ingress(parameters)
            if r["FromPort"] <= port <= r["ToPort"]}


def test_by_default_nobody_reaches_flower():
    assert PARAMETERS["OperatorCidr"]["Default"] == ""
    assert who_reaches(5555, {"CertificateArn": CERTIFICATE}) == set()


@pytest.mark.parametrize("allowed", ["0.0.0.0/0", "198.51.100.0/24"])
def test_only_the_operator_cidr_reaches_flower(allowed):
    parameters = {"CertificateArn": CERTIFICATE, "OperatorCidr": OFFICE, "AllowedCidr": allowed}
    assert who_reaches(5555, parameters) == {OFFICE}
    assert who_reaches(443, parameters) == {allowed}


def test_flowers_listener_is_https_with_the_certificate():
    props = value(RESOURCES["FlowerListener"]["Properties"], {"CertificateArn": CERTIFICATE})
    assert props["Protocol"] == "HTTPS"
    assert props["Certificates"] == [{"CertificateArn": CERTIFICATE}]


def test_metrics_answers_404_on_the_load_balancer():
    rules = [r["Properties"] for r in RESOURCES.values()
             if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
             and r["Properties"]["ListenerArn"] == {"Ref": "FlowerListener"}]
    (rule,) = rules
    (condition,) = rule["Conditions"]
    assert condition["Field"] == "path-pattern"
    assert sorted(condition["PathPatternConfig"]["Values"]) == ["/metrics", "/metrics/*"]
    (action,) = rule["Actions"]
    assert action["Type"] == "fixed-response"
    assert action["FixedResponseConfig"]["StatusCode"] == "404"
