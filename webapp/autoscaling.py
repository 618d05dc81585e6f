"""What the autoscaler last decided for each pool, read from its state object in S3.

The Lambda (in AWS) and the local loop (``make run``) save their state and their
last decisions per pool there (``autoscaler.state``); this only reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from autoscaler.state import S3StateStore


@dataclass(frozen=True)
class PoolView:
    """A pool's workers as its last decision saw them, and the decisions before."""

    name: str
    current: int | None
    desired: int | None
    reason: str
    at: datetime | None
    decisions: list[dict] = field(default_factory=list)


def pools(s3, bucket: str, key: str) -> list[PoolView]:
    """Every pool the autoscaler has decided for, by name; none before its first round."""
    recent = S3StateStore(s3, bucket, key).recent()
    return [_view(name, [_dated(r) for r in records])
            for name, records in sorted(recent.items()) if records]


def _view(name: str, records: list[dict]) -> PoolView:
    last = records[0]
    reason = last.get("reason") or last.get("error") or ""
    return PoolView(name=name, current=last.get("current"), desired=last.get("desired"),
                    reason=reason, at=last.get("at"), decisions=records)


def _dated(record: dict) -> dict:
    at = record.get("at")
    when = datetime.fromtimestamp(at, timezone.utc) if isinstance(at, (int, float)) else None
    return dict(record, at=when)
