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

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.ratelimit import Rate


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
        params = {"name": self.name, "burst": self.rate.burst, "rate": self.rate.per_second}
        self.session.execute(text(
            "INSERT INTO rate_buckets (name, tokens, updated_at) "
            "VALUES (:name, :burst, clock_timestamp()) ON CONFLICT (name) DO NOTHING"), params)
        self.session.execute(text("SELECT 1 FROM rate_buckets WHERE name = :name FOR UPDATE"),
                             params)
        # Read the clock only once the row is ours: a worker that waited for the
        # lock must not refill from a moment before the previous taker.
        available, now = self.session.execute(text(
            "SELECT least(:burst, tokens + :rate * extract(epoch FROM clock_timestamp() "
            "- updated_at)), clock_timestamp() FROM rate_buckets WHERE name = :name"),
            params).one()
        if available < tokens:
            self.session.commit()
            return Grant(False, wait=(tokens - available) / self.rate.per_second)
        self.session.execute(text(
            "UPDATE rate_buckets SET tokens = :left, updated_at = :now WHERE name = :name"),
            {**params, "left": available - tokens, "now": now})
        self.session.commit()
        return Grant(True, at=now)
