"""Retry delays: exponential backoff with jitter."""
from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    The ceiling doubles with each attempt up to ``cap``; the delay is drawn
    between half the ceiling and the ceiling ("equal jitter"), so retries of
    many jobs that failed together spread out, yet each waits longer than the last.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling * (0.5 + 0.5 * (rand or random).random())
