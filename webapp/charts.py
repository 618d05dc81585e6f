"""The operator page's charts of the last hour, as geometry for inline SVG: queue wait
p50/p95 lines and stacked bars of jobs per minute by outcome, per kind.

Pure: ``store.jobstats.recent`` gives the numbers; the template draws what this returns
(no script, no style attribute: the page's policy allows neither inline).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from core import lifecycle

WIDTH, HEIGHT = 480, 150
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
OUTCOMES = (lifecycle.SUCCEEDED, lifecycle.PARTIAL, lifecycle.FAILED, lifecycle.CANCELLED)


@dataclass(frozen=True)
class Bar:
    outcome: str
    x: float
    y: float
    width: float
    height: float
    count: int
    minute: str


@dataclass(frozen=True)
class KindCharts:
    """One kind's two charts: wait lines (``points`` per percentile) and outcome bars."""

    kind: str
    jobs: int
    wait_p50: float | None
    wait_p95: float | None
    outcomes: dict
    lines: dict[str, str]          # "p50"/"p95" → SVG points "x,y x,y"
    dots: dict[str, list[tuple[float, float]]]
    wait_top: float                # seconds at the top of the wait chart
    bars: list[Bar]
    jobs_top: int                  # jobs per minute at the top of the outcome chart


def nice_top(value: float) -> float:
    """A round number at or above ``value``: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _x(since: datetime, minute: str, minutes: int) -> tuple[float, float]:
    """Left edge and width of a minute's slot on the time axis."""
    slot = (WIDTH - LEFT - RIGHT) / (minutes + 1)
    index = round((datetime.fromisoformat(minute) - since.replace(second=0, microsecond=0))
                  .total_seconds() / 60)
    return LEFT + max(0, min(index, minutes)) * slot, slot


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def kind_charts(kind: dict, since: datetime, minutes: int) -> KindCharts:
    """The charts of one kind's entry of ``store.jobstats.recent``."""
    rows = kind["per_minute"]
    wait_top = nice_top(max((r["wait_p95"] or 0 for r in rows), default=0))
    jobs_top = int(nice_top(max((r["jobs"] for r in rows), default=0)))
    lines, dots, bars = {}, {}, []
    for p in ("p50", "p95"):
        placed = []
        for r in rows:
            if r[f"wait_{p}"] is not None:
                x, slot = _x(since, r["minute"], minutes)
                placed.append((round(x + slot / 2, 1), round(_y(r[f"wait_{p}"], wait_top), 1)))
        dots[p] = placed
        lines[p] = " ".join(f"{x},{y}" for x, y in placed)
    for r in rows:
        x, slot = _x(since, r["minute"], minutes)
        base = float(HEIGHT - BOTTOM)
        for outcome in OUTCOMES:
            count = r["outcomes"].get(outcome, 0)
            if count:
                height = (HEIGHT - TOP - BOTTOM) * count / jobs_top
                base -= height
                bars.append(Bar(outcome, round(x + slot * 0.1, 1), round(base, 1),
                                round(max(slot * 0.8, 1), 1), round(height, 1), count,
                                r["minute"]))
    return KindCharts(kind["kind"], kind["jobs"], kind["wait_p50"], kind["wait_p95"],
                      kind["outcomes"], lines, dots, wait_top, bars, jobs_top)


def charts(recent: dict) -> list[KindCharts]:
    """Every kind's charts, from ``store.jobstats.recent``'s answer."""
    since = datetime.fromisoformat(recent["since"])
    return [kind_charts(k, since, recent["minutes"]) for k in recent["kinds"]]
