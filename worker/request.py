"""A Celery request that tells the keeper which message its task holds."""
from __future__ import annotations

import logging

from billiard.exceptions import WorkerLostError
from celery.worker.request import Request

from worker.keeper import Held, VisibilityKeeper

log = logging.getLogger(__name__)


class KeptRequest(Request):
    """Registers the task's SQS message with the keeper while the task runs.

    Runs in the worker's main process, which owns the message; the pool's
    child only runs the task body.
    """

    keeper: VisibilityKeeper | None = None
    timeouts: dict[str, int] = {}
    on_worker_lost = staticmethod(lambda job_id, reason: None)

    def job_id(self) -> str | None:
        if self.kwargs.get("job_id"):
            return self.kwargs["job_id"]
        return self.args[0] if self.args else None

    # Celery's per-task subclass replaces execute_using_pool and on_success
    # without calling up, so hold the message when a pool child accepts the
    # task and let go when the message is acknowledged or rejected.
    def on_accepted(self, pid, time_accepted):
        info = self._message.delivery_info or {}
        sqs_message = info.get("sqs_message") or {}
        if self.keeper is not None and sqs_message.get("ReceiptHandle"):
            self.keeper.hold(self.id, Held(
                queue_url=info["sqs_queue"], receipt_handle=sqs_message["ReceiptHandle"],
                job_id=self.job_id(),
                visibility_timeout=self.timeouts.get(info.get("routing_key"), 60)))
        return super().on_accepted(pid, time_accepted)

    def _release(self):
        if self.keeper is not None:
            self.keeper.drop(self.id)

    def acknowledge(self):
        self._release()
        return super().acknowledge()

    def reject(self, requeue=False):
        self._release()
        return super().reject(requeue=requeue)

    def on_failure(self, exc_info, *args, **kwargs):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, (WorkerLostError, SystemExit, KeyboardInterrupt)):
            reason = f"the process running it died ({exc})"
            log.error("job %s: %s", self.job_id(), reason)
            # Off the keeper first: a renewal after the release would make this
            # crash look like a lost worker, which spends no receive.
            self._release()
            type(self).on_worker_lost(self.job_id(), reason)
        return super().on_failure(exc_info, *args, **kwargs)
