"""What the autoscaler remembers per pool between rounds: the interface, S3, memory.

In AWS the Lambda keeps nothing between invocations, so its memory is one small
JSON object in S3: ``{"version": 1, "pools": {"pdf": {"last_busy": …}, …}}``.
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


class StateStore:
    """Loads and saves every pool's remembered state."""

    def load(self) -> dict[str, PoolState]:
        """Pool name → its state; pools never saved are absent."""
        raise NotImplementedError

    def save(self, states: Mapping[str, PoolState]) -> None:
        """Replace the stored states with ``states``."""
        raise NotImplementedError


class MemoryStateStore(StateStore):
    """States in this process's memory (the local loop, tests)."""

    def __init__(self, states: Mapping[str, PoolState] | None = None):
        self.states: dict[str, PoolState] = dict(states or {})

    def load(self) -> dict[str, PoolState]:
        return dict(self.states)

    def save(self, states: Mapping[str, PoolState]) -> None:
        self.states = dict(states)


class S3StateStore(StateStore):
    """States as one JSON object at ``s3://bucket/key``."""

    def __init__(self, s3, bucket: str, key: str):
        self.s3, self.bucket, self.key = s3, bucket, key

    def load(self) -> dict[str, PoolState]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                return {}
            if code == "NoSuchBucket":
                raise self._missing() from None
            raise
        return decode(body, f"s3://{self.bucket}/{self.key}")

    def save(self, states: Mapping[str, PoolState]) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=encode(states),
                               ContentType="application/json")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                raise self._missing() from None
            raise

    def _missing(self) -> TargetMissing:
        return TargetMissing(f"S3 bucket {self.bucket!r} for the autoscaler's state does not "
                             "exist; create it or set AUTOSCALER_STATE_BUCKET")


def encode(states: Mapping[str, PoolState]) -> bytes:
    """The stored form of ``states``."""
    pools = {name: state.to_dict() for name, state in sorted(states.items())}
    return json.dumps({"version": VERSION, "pools": pools}, sort_keys=True).encode()


def decode(body: bytes, where: str = "state") -> dict[str, PoolState]:
    """States from their stored form; an unreadable object counts as no memory."""
    try:
        pools = json.loads(body)["pools"]
        return {name: PoolState.from_dict(data) for name, data in pools.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Forgetting only restarts the cooldowns; refusing to scale would be worse.
        log.warning("ignoring unreadable autoscaler state at %s", where)
        return {}
