"""Rate limits as settings: ``600/m`` style rates, and per-kind maps of them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from core.errors import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    """``count`` events per ``seconds``; written like Celery's rate_limit (``600/m``)."""

    count: float
    seconds: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def burst(self) -> float:
        """Tokens a full bucket holds: one second's worth, and at least one."""
        return max(1.0, self.per_second)


def parse_rate(text: str) -> Rate:
    """``"600/m"`` → Rate(600, 60); a bare number is per second, as in Celery."""
    match = _RATE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate such as 10/s, 600/m or 5000/h")
    return Rate(float(match.group(1)), _UNIT_SECONDS[match.group(2) or "s"])


def parse_limits(pairs: Iterable[str], variable: str) -> dict[str, str]:
    """``["pdf_batch=600/m"]`` → {"pdf_batch": "600/m"}, each rate checked."""
    limits = {}
    for pair in pairs:
        kind, sep, rate = pair.partition("=")
        if not sep or not kind.strip():
            raise ConfigurationError(f"{variable}: {pair!r} is not kind=rate (e.g. pdf_batch=600/m)")
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise ConfigurationError(f"{variable}: {exc}") from None
        limits[kind.strip()] = rate.strip()
    return limits
