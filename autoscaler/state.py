"""What the autoscaler remembers per pool between rounds: the interface, S3, memory.

In AWS the Lambda keeps nothing between invocations, so its memory is one small
JSON object in S3: ``{"version": 1, "pools": {"pdf": {"last_busy": …}, …},
"decisions": {"pdf": [{…, "at": …}, …]}}``. The decisions (newest first, the
last ``KEEP_DECISIONS`` per pool) are for people: the web app's operator page
reads them from the same object.
"""
from __future__ import annotations

import json
import logging
from typing import Mapping

from botocore.exceptions import ClientError

from autoscaler.decide import PoolState
from autoscaler.errors import TargetMissing

log = logging.getLogger("autoscaler")
VERSION = 1
KEEP_DECISIONS = 10
#: Where the state lives in its bucket unless AUTOSCALER_STATE_KEY says otherwise.
DEFAULT_KEY = "autoscaler/state.json"
Decisions = dict[str, list[dict]]


class StateStore:
    """Loads and saves every pool's remembered state."""

    def load(self) -> dict[str, PoolState]:
        """Pool name → its state; pools never saved are absent."""
        raise NotImplementedError

    def save(self, states: Mapping[str, PoolState],
             decisions: Mapping[str, list[dict]] | None = None) -> None:
        """Replace the stored states (and recent decisions) with these."""
        raise NotImplementedError

    def recent(self) -> Decisions:
        """Pool name → its last decision records, newest first."""
        raise NotImplementedError

    def load_all(self) -> tuple[dict[str, PoolState], Decisions]:
        """``load()`` and ``recent()`` together (one read where the store allows)."""
        return self.load(), self.recent()


class MemoryStateStore(StateStore):
    """States in this process's memory (the local loop, tests)."""

    def __init__(self, states: Mapping[str, PoolState] | None = None):
        self.states: dict[str, PoolState] = dict(states or {})
        self.decisions: Decisions = {}

    def load(self) -> dict[str, PoolState]:
        return dict(self.states)

    def save(self, states: Mapping[str, PoolState],
             decisions: Mapping[str, list[dict]] | None = None) -> None:
        self.states = dict(states)
        self.decisions = {pool: list(records) for pool, records in (decisions or {}).items()}

    def recent(self) -> Decisions:
        return {pool: list(records) for pool, records in self.decisions.items()}


class S3StateStore(StateStore):
    """States as one JSON object at ``s3://bucket/key``."""

    def __init__(self, s3, bucket: str, key: str):
        self.s3, self.bucket, self.key = s3, bucket, key

    def load(self) -> dict[str, PoolState]:
        body = self._read()
        return {} if body is None else decode(body, f"s3://{self.bucket}/{self.key}")

    def recent(self) -> Decisions:
        body = self._read()
        return {} if body is None else decode_decisions(body)

    def load_all(self) -> tuple[dict[str, PoolState], Decisions]:
        body = self._read()
        if body is None:
            return {}, {}
        return decode(body, f"s3://{self.bucket}/{self.key}"), decode_decisions(body)

    def _read(self) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                return None
            if code == "NoSuchBucket":
                raise self._missing() from None
            raise

    def save(self, states: Mapping[str, PoolState],
             decisions: Mapping[str, list[dict]] | None = None) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key,
                               Body=encode(states, decisions),
                               ContentType="application/json")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                raise self._missing() from None
            raise

    def _missing(self) -> TargetMissing:
        return TargetMissing(f"S3 bucket {self.bucket!r} for the autoscaler's state does not "
                             "exist; create it or set AUTOSCALER_STATE_BUCKET")


def encode(states: Mapping[str, PoolState],
           decisions: Mapping[str, list[dict]] | None = None) -> bytes:
    """The stored form of ``states`` and the recent ``decisions``."""
    pools = {name: state.to_dict() for name, state in sorted(states.items())}
    body = {"version": VERSION, "pools": pools, "decisions": dict(decisions or {})}
    return json.dumps(body, sort_keys=True).encode()


def remember(previous: Mapping[str, list[dict]], records: list[dict], now: float,
             keep: int = KEEP_DECISIONS) -> Decisions:
    """The recent decisions once this round's ``records`` (taken at ``now``) are added."""
    recent = {pool: list(found) for pool, found in previous.items()}
    for record in records:
        pool = record["pool"]
        recent[pool] = [dict(record, at=now)] + recent.get(pool, [])[:keep - 1]
    return recent


def decode_decisions(body: bytes) -> Decisions:
    """The recent decisions in a stored object; none when it holds none or is unreadable."""
    try:
        found = json.loads(body).get("decisions") or {}
        return {str(pool): [r for r in records if isinstance(r, dict)]
                for pool, records in found.items() if isinstance(records, list)}
    except (ValueError, TypeError, AttributeError):
        return {}


def decode(body: bytes, where: str = "state") -> dict[str, PoolState]:
    """States from their stored form; an unreadable object counts as no memory."""
    try:
        pools = json.loads(body)["pools"]
        return {name: PoolState.from_dict(data) for name, data in pools.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Forgetting only restarts the cooldowns; refusing to scale would be worse.
        log.warning("ignoring unreadable autoscaler state at %s", where)
        return {}
