"""EventBridge's matching of an event pattern, for the parts the stack's rules use.

As EventBridge documents it: every field of the pattern must match; a list of values
matches when any value does; an array in the event matches when any element does
(through arrays of objects too); ``anything-but`` and ``$or`` as written. moto's
matcher does not look inside arrays of objects (ECS events' ``containers``).
"""
from __future__ import annotations


def matches(pattern: dict, event) -> bool:
    """Whether ``event`` (a dict) matches ``pattern``."""
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in rule):
                return False
            continue
        found = values(event, key)
        if isinstance(rule, dict):
            if not any(matches(rule, v) for v in found if isinstance(v, dict)):
                return False
        elif not any(accepts(f, v) for f in rule for v in found):
            return False
    return True


def values(node, key: str) -> list:
    """The values of ``key`` in ``node`` or, where it is an array, in each of its elements."""
    out = []
    for item in node if isinstance(node, list) else [node]:
        if isinstance(item, dict) and key in item:
            v = item[key]
            out.extend(v if isinstance(v, list) else [v])
    return out


def accepts(rule, value) -> bool:
    if not isinstance(rule, dict):
        return rule == value
    ((name, arg),) = rule.items()
    if name == "anything-but":
        return value not in (arg if isinstance(arg, list) else [arg])
    raise ValueError(f"filter {name} is not supported here")
