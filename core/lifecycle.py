"""Job statuses and the moves between them."""
from __future__ import annotations

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
PARTIAL = "partially_failed"
FAILED = "failed"
CANCELLED = "cancelled"

STATUSES = (QUEUED, RUNNING, SUCCEEDED, PARTIAL, FAILED, CANCELLED)
FINISHED = frozenset({SUCCEEDED, PARTIAL, FAILED, CANCELLED})

_MOVES = {
    QUEUED: {RUNNING, CANCELLED, FAILED},
    RUNNING: {QUEUED, SUCCEEDED, PARTIAL, FAILED, CANCELLED},
    # "Retry the failed ones": a batch that ended with failed documents runs again.
    PARTIAL: {QUEUED},
    FAILED: {QUEUED},
}


def can_move(current: str, new: str) -> bool:
    """Whether a job in ``current`` may move to ``new``."""
    return new in _MOVES.get(current, ())


def requeueable() -> tuple[str, ...]:
    """The finished statuses a job may be queued again from."""
    return tuple(sorted(s for s in FINISHED if can_move(s, QUEUED)))


def outcome(total: int, done: int, failed: int) -> str:
    """The final status of a batch from its counts."""
    if failed == 0:
        return SUCCEEDED
    if done == 0:
        return FAILED
    return PARTIAL


def is_stale(heartbeat_age: float | None, visibility_timeout: float) -> bool:
    """Whether a running job's worker has stopped renewing its claim.

    A live worker renews every third of the visibility timeout, so a claim
    older than two thirds of it belongs to a worker that is gone; its message
    comes back only after the whole timeout, by when the claim is stale.
    """
    return heartbeat_age is None or heartbeat_age > visibility_timeout * 2 / 3
