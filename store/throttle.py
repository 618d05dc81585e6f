"""Token buckets every process shares, one per row of ``rate_buckets``: the workers'
cluster-wide rate limits (``tasks.ratelimit``) and the sign-in limits of every web
process (``take``, one bucket per key).

A sign-in bucket holds a whole rate's worth of attempts (``10/minute``: ten at once) and
refills at that rate. Taking one is a single ``UPDATE`` that refills and takes
only when an attempt is there, so two processes never both take the last one,
and the row is not held locked past that statement. Full buckets say nothing a
missing row does not: they are deleted when a new bucket is made.

Nothing here commits: the caller does, before any slow work (a password hash).
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.ratelimit import Rate

_AVAILABLE = ("least(:burst, tokens + :rate * extract(epoch FROM clock_timestamp() - "
              "updated_at))")


def take(session: Session, family: str, value: str, rate: Rate) -> float:
    """Take one attempt from ``value``'s bucket in ``family`` (e.g. one per user name):
    0 when taken, else the seconds until one is there."""
    name = family + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    # Hashed: fixed length, and no user names or addresses in the table.
    wait, _ = take_tokens(session, name, rate.count, rate.per_second,
                          made=lambda: _prune(session, family, rate))
    return wait


def take_tokens(session: Session, name: str, burst: float, per_second: float,
                tokens: float = 1.0, made=None) -> tuple[float, datetime | None]:
    """Take ``tokens`` from bucket ``name`` (made full at ``burst`` if new, then ``made()``
    is called): (0, when taken) or (seconds until they are there, None)."""
    params = {"name": name, "burst": burst, "rate": per_second, "tokens": tokens}
    created = session.execute(text(
        "INSERT INTO rate_buckets (name, tokens, updated_at) "
        "VALUES (:name, :burst, clock_timestamp()) ON CONFLICT (name) DO NOTHING"), params)
    if created.rowcount and made is not None:
        made()
    # One statement: the row is locked, refilled and taken from with the clock read once
    # it is ours, so a taker that waited for the lock never refills from before the last.
    taken = session.execute(text(
        f"UPDATE rate_buckets SET tokens = {_AVAILABLE} - :tokens, "
        f"updated_at = clock_timestamp() WHERE name = :name AND {_AVAILABLE} >= :tokens "
        "RETURNING updated_at"), params).first()
    if taken is not None:
        return 0.0, taken.updated_at
    available = session.execute(text(
        f"SELECT {_AVAILABLE} FROM rate_buckets WHERE name = :name"), params).scalar_one()
    return max(0.001, (tokens - available) / per_second), None


def _prune(session: Session, family: str, rate: Rate) -> None:
    """Delete the family's buckets untouched for long enough to be full again."""
    session.execute(text(
        "DELETE FROM rate_buckets WHERE left(name, :n) = :family "
        "AND updated_at < clock_timestamp() - make_interval(secs => :full)"),
        {"n": len(family), "family": family, "full": rate.seconds})
