"""HTTPS is the default: a certificate is required unless plain HTTP is allowed, cookies
follow the scheme, and plain HTTP on 80 redirects to HTTPS when there is a certificate."""
from __future__ import annotations

import pytest

from tests.support.stack import (RESOURCES, created, environment, load_balancer_ingress,
                                 rule_failures, value)

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0e4a"
HTTPS = {"CertificateArn": CERTIFICATE}
PLAIN = {"CertificateArn": "", "AllowPlainHttp": "true"}


@pytest.mark.parametrize("parameters, accepted", [
    ({}, False),
    ({"CertificateArn": ""}, False),
    (HTTPS, True),
    ({**HTTPS, "AllowPlainHttp": "true"}, True),
    (PLAIN, True),
])
def test_a_certificate_is_required_unless_plain_http_is_allowed(parameters, accepted):
    mail = {"MailFrom": "jobs@example.com", "SenderIdentity": "example.com"}
    assert (rule_failures({**mail, **parameters}) == []) is accepted


@pytest.mark.parametrize("parameters, secure", [(HTTPS, "on"), (PLAIN, "off"),
                                                ({**HTTPS, "AllowPlainHttp": "true"}, "on")])
def test_the_session_cookie_is_secure_exactly_when_the_site_is_https(parameters, secure):
    assert value(environment("WebTaskDefinition")["COOKIE_SECURE"], parameters) == secure


def open_ports(parameters: dict, cidr_parameter: str) -> set[int]:
    """The load balancer's ports that the CIDR in ``cidr_parameter`` may reach."""
    return {r["FromPort"] for r in load_balancer_ingress(parameters)
            if r.get("CidrIp") == value({"Ref": cidr_parameter}, parameters)}


def listeners(parameters: dict) -> dict[int, dict]:
    found = {}
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::Listener" and \
                created(name, parameters):
            props = value(resource["Properties"], parameters)
            found[props["Port"]] = props
    return found


def test_with_a_certificate_port_80_redirects_to_https_and_443_serves():
    found = listeners(HTTPS)
    assert sorted(found) == [80, 443, 5555]
    (redirect,) = found[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert found[443]["Protocol"] == "HTTPS"
    assert found[443]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert found[443]["DefaultActions"][0]["TargetGroupArn"] == {"Ref": "WebTargetGroup"}


def test_without_a_certificate_80_serves_the_web_app():
    found = listeners(PLAIN)
    assert sorted(found) == [80, 5555]
    assert found[80]["Protocol"] == "HTTP"
    assert found[80]["DefaultActions"][0]["TargetGroupArn"] == {"Ref": "WebTargetGroup"}


@pytest.mark.parametrize("parameters", [HTTPS, PLAIN])
def test_the_load_balancer_lets_allowed_cidr_in_on_the_web_ports_it_listens_on(parameters):
    web_ports = set(listeners(parameters)) - {5555}
    assert open_ports(parameters, "AllowedCidr") - {5555} == web_ports
