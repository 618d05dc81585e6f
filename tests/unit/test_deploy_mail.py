"""Job e-mails leave through SES in AWS: workers use the ses transport from MailFrom, and
the worker role may send from that address through the identity that covers it, nothing else."""
from __future__ import annotations

import re

import pytest

from core.mail import SesMailer, compose
from core.settings import NOTIFY_KINDS, Settings
from tests.support.stack import (PARAMETERS, environment, listed, of_type, rule_failures,
                                 statements, value)

GIVEN = {"MailFrom": "jobs@example.com", "SenderIdentity": "example.com",
         "QueuePrefix": "jobsys-", "MaxReceiveCount": "5"}
WORKERS = sorted(n for n in of_type("AWS::ECS::TaskDefinition")
                 if n.endswith("WorkerTaskDefinition"))


POOL_FUNCTIONS = sorted(n for n in of_type("AWS::Lambda::Function") if n.endswith("PoolFunction"))


def variables(function: str) -> dict:
    return of_type("AWS::Lambda::Function")[function]["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("env", [environment(n) for n in WORKERS] +
                         [variables(n) for n in POOL_FUNCTIONS], ids=WORKERS + POOL_FUNCTIONS)
def test_workers_send_mail_through_ses_from_mail_from(env):
    assert env["MAIL_FROM"] == {"Ref": "MailFrom"}
    plain = {k: str(value(v, GIVEN)) for k, v in env.items()
             if isinstance(value(v, GIVEN), (str, int))}
    settings = Settings.from_env(plain)
    assert settings.mail_transport == "ses"
    assert settings.mail_from == "jobs@example.com"


def test_mail_from_and_its_identity_are_required_because_mail_is_on_by_default():
    assert NOTIFY_KINDS, "with no e-mail by default MailFrom could be optional"
    https = {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0e4a"}
    assert len(rule_failures(https)) == 2
    assert [f.split(" ")[0] for f in rule_failures({**https, "MailFrom": "jobs@example.com"})] \
        == ["SenderIdentity"]
    assert rule_failures({**https, **GIVEN}) == []


@pytest.mark.parametrize("address, ok", [("jobs@example.com", True), ("", True),
                                         ("Jobs <jobs@example.com>", False), ("jobs", False)])
def test_mail_from_takes_a_bare_address_or_nothing_which_the_rule_refuses(address, ok):
    assert bool(re.fullmatch(PARAMETERS["MailFrom"]["AllowedPattern"], address)) is ok


@pytest.mark.parametrize("identity", ["example.com", "jobs@example.com", "mail.example.co.jp"])
def test_sender_identity_takes_a_domain_or_an_address(identity):
    assert re.fullmatch(PARAMETERS["SenderIdentity"]["AllowedPattern"], identity)


def test_only_workers_whose_jobs_mail_may_send_email_and_only_as_mail_from():
    from core import kinds
    senders = {role: s for role in of_type("AWS::IAM::Role") for s in statements(role)
               if any(a.startswith("ses:") for a in listed(s["Action"]))}
    mailing_pools = {k.workload for k in kinds.KINDS.values() if k.name in NOTIFY_KINDS}
    lambda_pools = {n.removesuffix("PoolFunction").lower() for n in POOL_FUNCTIONS}
    assert sorted(senders) == sorted(["WorkerTaskRole"] + [
        f"{p.capitalize()}PoolFunctionRole" for p in mailing_pools & lambda_pools])
    for statement in senders.values():
        assert statement["Sid"] == "SendMail"
        assert listed(statement["Action"]) == ["ses:SendEmail"]
        assert statement["Resource"]["Fn::Sub"].endswith(
            ":ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderIdentity}")
        assert statement["Condition"] == {
            "StringEquals": {"ses:FromAddress": {"Ref": "MailFrom"}}}


class RecordingSesV2:
    """SESv2 at the boto3 boundary: keeps what it was asked to send."""

    def __init__(self):
        self.calls = []

    def send_email(self, **kwargs):
        self.calls.append(kwargs)


def test_the_ses_mailer_sends_from_the_address_the_condition_checks():
    """ses:FromAddress is SendEmail's FromEmailAddress: the mailer sets it to MAIL_FROM."""
    msg = compose({"id": 1, "kind": "export", "status": "succeeded"}, "jobs@example.com",
                  "someone@example.org")
    sesv2 = RecordingSesV2()
    SesMailer(sesv2).send(msg)
    (call,) = sesv2.calls
    assert call["FromEmailAddress"] == "jobs@example.com"
    assert set(call) == {"FromEmailAddress", "Content"}
