"""What becomes of a job whose worker was lost: run it again, or give up.

A worker is lost when it stops renewing its job's claim without a word (the
whole worker killed, its container or host gone): its message comes back
after the visibility timeout and finds the job running with a stale heartbeat.
Such losses have a budget of their own (``WORKER_LOSS_BUDGET``), apart from the
receives that stop a message whose task keeps crashing its process.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from core import lifecycle, pdfbatch

#: Kinds whose progress counts its documents' rows, which outlive an attempt.
KEEPS_PROGRESS = frozenset({pdfbatch.KIND})


@dataclass(frozen=True)
class AfterLoss:
    """The job's next state after a lost attempt, and what its row's error says."""

    status: str
    error: str
    reset_progress: bool


def after_loss(kind: str, attempt: int, lost_before: int, budget: int, worker: str | None,
               last_heartbeat: datetime | None) -> AfterLoss:
    """Queue the job again while lost attempts stay within ``budget``; else fail it."""
    lost = lost_before + 1
    note = f"attempt {attempt} was lost with its worker{_named(worker)} ({_since(last_heartbeat)})"
    if lost > budget:
        return AfterLoss(lifecycle.FAILED,
                         f"{note}; {lost} attempts were lost with their workers, more than "
                         f"WORKER_LOSS_BUDGET ({budget}): the job failed", reset_progress=False)
    return AfterLoss(lifecycle.QUEUED, f"{note}; the job runs again as attempt {attempt + 1}",
                     reset_progress=kind not in KEEPS_PROGRESS)


def _named(worker: str | None) -> str:
    return f" {worker}" if worker else ""


def _since(beat: datetime | None) -> str:
    if beat is None:
        return "no heartbeat"
    return f"no heartbeat since {beat.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
