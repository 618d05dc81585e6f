"""deploy/template.yaml as the tests read it: resources by type, role statements, containers."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
DOC = yaml.safe_load(TEMPLATE.read_text())
PARAMETERS = DOC["Parameters"]
RESOURCES = DOC["Resources"]


def of_type(kind: str) -> dict:
    """Resources of one CloudFormation type, by logical id."""
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


def statements(role: str) -> list[dict]:
    """Every statement of a role's inline policies."""
    return [s for p in RESOURCES[role]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]]


def listed(value) -> list:
    """A policy's Action or Resource as a list (IAM takes one item or a list)."""
    return value if isinstance(value, list) else [value]


def containers() -> dict[str, dict]:
    """Every container definition, by its task definition's logical id."""
    return {name: c for name, td in of_type("AWS::ECS::TaskDefinition").items()
            for c in td["Properties"]["ContainerDefinitions"]}


def environment(task_definition: str) -> dict:
    """The environment of a task definition's container, name → value (as in the template)."""
    (container,) = RESOURCES[task_definition]["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container.get("Environment", [])
            if isinstance(e, dict) and "Name" in e}


def refs(node) -> set[str]:
    """Every name a node refers to: ``Ref``, ``Fn::GetAtt`` and ``${Name}`` in ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0])
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found
