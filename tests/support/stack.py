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


def given(parameters: dict, name: str):
    """A parameter's value: the one given, else its default."""
    return parameters[name] if name in parameters else PARAMETERS[name].get("Default")


def holds(node, parameters: dict) -> bool:
    """A condition or rule assertion (Fn::Equals, Not, And, Or, Condition) for these parameters."""
    ((function, args),) = node.items()
    if function == "Fn::Equals":
        return str(value(args[0], parameters)) == str(value(args[1], parameters))
    if function == "Fn::Not":
        return not holds(args[0], parameters)
    if function == "Fn::And":
        return all(holds(a, parameters) for a in args)
    if function == "Fn::Or":
        return any(holds(a, parameters) for a in args)
    if function == "Condition":
        return holds(DOC["Conditions"][args], parameters)
    raise ValueError(f"not a condition: {node}")


def value(node, parameters: dict):
    """``node`` with its parameter references and ``Fn::If`` resolved for these parameters."""
    if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in PARAMETERS:
        return given(parameters, node["Ref"])
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        name, then, otherwise = node["Fn::If"]
        return value(then if holds(DOC["Conditions"][name], parameters) else otherwise,
                     parameters)
    if isinstance(node, dict):
        return {k: value(v, parameters) for k, v in node.items()}
    if isinstance(node, list):
        return [value(v, parameters) for v in node
                if value(v, parameters) != {"Ref": "AWS::NoValue"}]
    return node


def created(logical_id: str, parameters: dict) -> bool:
    """Whether the stack has this resource with these parameters (its Condition holds)."""
    condition = RESOURCES[logical_id].get("Condition")
    return condition is None or holds(DOC["Conditions"][condition], parameters)


def rule_failures(parameters: dict) -> list[str]:
    """The descriptions of the template's Rules assertions these parameters break."""
    failed = []
    for rule in DOC.get("Rules", {}).values():
        if "RuleCondition" in rule and not holds(rule["RuleCondition"], parameters):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"]
                   if not holds(a["Assert"], parameters)]
    return failed


def load_balancer_ingress(parameters: dict) -> list[dict]:
    """The load balancer security group's ingress rules, inline and separate, resolved."""
    group = value(RESOURCES["LoadBalancerSecurityGroup"]["Properties"], parameters)
    rules = list(group.get("SecurityGroupIngress", []))
    for name, resource in of_type("AWS::EC2::SecurityGroupIngress").items():
        if resource["Properties"]["GroupId"] == {"Ref": "LoadBalancerSecurityGroup"} and \
                created(name, parameters):
            rules.append(value(resource["Properties"], parameters))
    return rules
