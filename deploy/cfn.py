"""Small builders of CloudFormation intrinsic functions, so the resources read like YAML."""
from __future__ import annotations

NO_VALUE = {"Ref": "AWS::NoValue"}


def ref(name: str) -> dict:
    """``!Ref name``."""
    return {"Ref": name}


def sub(text: str) -> dict:
    """``!Sub text``."""
    return {"Fn::Sub": text}


def att(resource: str, attribute: str) -> dict:
    """``!GetAtt resource.attribute``."""
    return {"Fn::GetAtt": [resource, attribute]}


def if_(condition: str, then, otherwise) -> dict:
    """``!If [condition, then, otherwise]``."""
    return {"Fn::If": [condition, then, otherwise]}


def load_balancer_url(suffix: str = "") -> dict:
    """``http(s)://<the load balancer's DNS name><suffix>``, https with a certificate."""
    return {"Fn::Join": ["", [if_("HasCertificate", "https", "http"), "://",
                              att("LoadBalancer", "DNSName"), *([suffix] if suffix else [])]]}


def camel(name: str) -> str:
    """A workload or pool name as it appears in logical ids: ``pdf`` → ``Pdf``."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def statement(actions, resources, sid: str | None = None) -> dict:
    """One IAM policy statement that allows ``actions`` on ``resources``."""
    st = {"Effect": "Allow", "Action": sorted(actions) if isinstance(actions, (list, tuple, set))
          else actions, "Resource": resources}
    if sid:
        st = {"Sid": sid, **st}
    return st


def role(principal: str, policies: dict[str, list[dict]]) -> dict:
    """An IAM role that ``principal`` (a service) assumes, with inline policies."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": principal},
                               "Action": "sts:AssumeRole"}],
            },
            "Policies": [{"PolicyName": name,
                          "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
                         for name, statements in policies.items()],
        },
    }
