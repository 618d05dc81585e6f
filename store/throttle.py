"""Attempt limits every web process shares: one token bucket per key in ``rate_buckets``.

A bucket holds a whole rate's worth of attempts (``10/minute``: ten at once) and
refills at that rate. Taking one is a single ``UPDATE`` that refills and takes
only when an attempt is there, so two processes never both take the last one,
and the row is not held locked past that statement. Full buckets say nothing a
missing row does not: they are deleted when a new bucket is made.

Nothing here commits: the caller does, before any slow work (a password hash).
"""
from __future__ import annotations

import hashlib

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
    params = {"name": name, "burst": rate.count, "rate": rate.per_second}
    made = session.execute(text(
        "INSERT INTO rate_buckets (name, tokens, updated_at) "
        "VALUES (:name, :burst, clock_timestamp()) ON CONFLICT (name) DO NOTHING"), params)
    if made.rowcount:
        _prune(session, family, rate)
    taken = session.execute(text(
        f"UPDATE rate_buckets SET tokens = {_AVAILABLE} - 1, updated_at = clock_timestamp() "
        f"WHERE name = :name AND {_AVAILABLE} >= 1 RETURNING tokens"), params).first()
    if taken is not None:
        return 0.0
    available = session.execute(text(
        f"SELECT {_AVAILABLE} FROM rate_buckets WHERE name = :name"), params).scalar_one()
    return max(0.001, (1 - available) / rate.per_second)


def _prune(session: Session, family: str, rate: Rate) -> None:
    """Delete the family's buckets untouched for long enough to be full again."""
    session.execute(text(
        "DELETE FROM rate_buckets WHERE left(name, :n) = :family "
        "AND updated_at < clock_timestamp() - make_interval(secs => :full)"),
        {"n": len(family), "family": family, "full": rate.seconds})
