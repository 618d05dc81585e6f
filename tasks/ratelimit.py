"""Cluster-wide rate limits: a token bucket every worker shares.

Celery's ``rate_limit`` holds per worker process node; with an autoscaler adding
workers, that is no limit on what reaches a shared downstream. This bucket lives
in a PostgreSQL row, which every worker already reaches: taking tokens locks the
row, refills it by the time since its last change, and takes them if they are
there. A caller that gets none is told how long to wait; a task should hand its
message back for that long rather than hold a worker slot.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.ratelimit import Rate
from store import throttle


@dataclass(frozen=True)
class Grant:
    """The outcome of asking for tokens: granted (at ``at``) or wait ``wait`` seconds."""

    granted: bool
    wait: float = 0.0
    at: datetime | None = None


class TokenBucket:
    """Takes tokens from a bucket that refills at a fixed rate."""

    def take(self, tokens: float = 1.0) -> Grant:
        raise NotImplementedError


class MemoryTokenBucket(TokenBucket):
    """A bucket for one process (tests, a synchronous run)."""

    def __init__(self, rate: Rate, clock=time.monotonic):
        self.rate, self.clock = rate, clock
        self.tokens, self.updated = rate.burst, clock()
        self._lock = threading.Lock()

    def take(self, tokens: float = 1.0) -> Grant:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.rate.burst,
                              self.tokens + (now - self.updated) * self.rate.per_second)
            self.updated = now
            if self.tokens >= tokens:
                self.tokens -= tokens
                return Grant(True)
            return Grant(False, wait=(tokens - self.tokens) / self.rate.per_second)


class PostgresTokenBucket(TokenBucket):
    """A bucket in a ``rate_buckets`` row, shared by every worker of the cluster."""

    def __init__(self, session: Session, name: str, rate: Rate):
        self.session, self.name, self.rate = session, name, rate

    def take(self, tokens: float = 1.0) -> Grant:
        wait, at = throttle.take_tokens(self.session, self.name, self.rate.burst,
                                        self.rate.per_second, tokens)
        self.session.commit()
        return Grant(True, at=at) if at is not None else Grant(False, wait=wait)
