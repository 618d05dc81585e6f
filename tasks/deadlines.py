"""When a task call must stop: its kind's maximum run time (``core.kinds.task_limit``),
or sooner the end of the AWS Lambda invocation it runs in.

Long tasks look between batches (``check``); past the deadline a job fails with
its kind's message (``core.errors.RanTooLong``), having written nothing.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from core import kinds
from core.deadline import Deadline, earliest
from core.errors import RanTooLong
from core.settings import Settings

_invocation: ContextVar[Deadline | None] = ContextVar("jobsys_invocation", default=None)


@contextmanager
def within(deadline: Deadline) -> Iterator[None]:
    """Task calls made inside the block also stop by ``deadline`` (an invocation's end)."""
    token = _invocation.set(deadline)
    try:
        yield
    finally:
        _invocation.reset(token)


def of_task(task, settings: Settings) -> Deadline | None:
    """The deadline of a call of ``task`` starting now (None: it may run unbounded)."""
    workload = (task.request.delivery_info or {}).get("routing_key")
    limit = kinds.task_limit(task.name, workload, settings)
    own = Deadline.after(limit[1], kinds.overrun(*limit)) if limit else None
    return earliest(own, _invocation.get())


def check(deadline: Deadline | None) -> None:
    """Raise ``RanTooLong`` (a ``JobFailed``) once ``deadline`` has passed."""
    if deadline is not None and deadline.passed():
        raise RanTooLong(deadline.error)
