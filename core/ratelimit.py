"""Rate limits as settings: ``600/m`` style rates, and per-kind maps of them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from core.errors import ConfigurationError

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([a-z]+))?\s*$")
#: Units as Celery writes them (``10/m``), or written out (``10/minute``).
_UNIT_SECONDS = {spelling: seconds
                 for seconds, words in ((1, ("s", "sec", "second")), (60, ("m", "min", "minute")),
                                        (3600, ("h", "hour")))
                 for word in words for spelling in {word, word + "s" if len(word) > 1 else word}}


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
    """``"600/m"`` (or ``"600/minute"``) → Rate(600, 60); a bare number is per second,
    as in Celery."""
    match = _RATE.match(text or "")
    unit = (match.group(2) or "s") if match else ""
    if not match or float(match.group(1)) <= 0 or unit not in _UNIT_SECONDS:
        raise ValueError(f"{text!r} is not a rate such as 10/s, 600/m, 10/minute or 5000/h")
    return Rate(float(match.group(1)), _UNIT_SECONDS[unit])


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
