"""What a simulated pool records over time, and its wait figures."""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Series:
    """Samples of one pool over time: backlog, desired, running (incl. starting) and ready workers."""

    t: list[float] = field(default_factory=list)
    backlog: list[int] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)


def waits(found: list[float]) -> dict:
    """p50, p95 and max of queue waits (arrival to start), in seconds."""
    ordered = sorted(found)
    return {"wait_p50": percentile(ordered, 50), "wait_p95": percentile(ordered, 95),
            "wait_max": round(ordered[-1], 1) if ordered else 0}


def percentile(ordered: list[float], pct: float) -> float:
    """The nearest-rank percentile of sorted values (0 for none)."""
    if not ordered:
        return 0
    return round(ordered[min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1)], 1)
