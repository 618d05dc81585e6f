"""When a task must stop, and what its job's error says if it runs past that.

A task's deadline is the earliest of its kind's maximum run time
(``core.kinds.task_limit``) and, on AWS Lambda, the time its invocation has left.
Times are ``time.monotonic()`` seconds; the clock is an argument.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Deadline:
    """A run that began at ``began`` must end by ``at``; ``error`` says why when it does not."""

    began: float
    at: float
    error: str

    @classmethod
    def after(cls, seconds: float, error: str,
              clock: Callable[[], float] = time.monotonic) -> "Deadline":
        """The deadline ``seconds`` from now."""
        now = clock()
        return cls(now, now + seconds, error)

    def passed(self, share: float = 1.0, clock: Callable[[], float] = time.monotonic) -> bool:
        """Whether ``share`` of the run's time (all of it by default) has gone."""
        return clock() >= self.began + share * (self.at - self.began)

    def left(self, clock: Callable[[], float] = time.monotonic) -> float:
        """Seconds until the deadline (negative once past it)."""
        return self.at - clock()


def earliest(*deadlines: Deadline | None) -> Deadline | None:
    """The first of the deadlines given (None ones are no deadline)."""
    given = [d for d in deadlines if d is not None]
    return min(given, key=lambda d: d.at) if given else None
