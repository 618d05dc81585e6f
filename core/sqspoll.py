"""Long-poll SQS queues and hand each message to a function, as AWS's event sources do
for a Lambda: the local stand-ins of S3 → Lambda (``lambdas.local``) and of a Lambda
pool's event source mapping (``worker.lambda_pool``) are this loop.

A message is deleted once its handler says it is done with it; otherwise (or when the
handler raises) it is left to come back after its visibility timeout. Given a
``concurrency``, up to that many handlers run at once on threads, and no more messages
are received than there are free threads; without, the polling thread handles each
receive's messages (up to ten) one after another.
On stop the loop finishes the receive in progress, hands back (visible again at once)
what it had not started, and waits for the handlers that run.
"""
from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

#: ``handle(queue_url, message) -> done``: message as ReceiveMessage returns it.
Handler = Callable[[str, dict], bool]


class Poller:
    """Receives from queues and runs ``handle`` on each message."""

    def __init__(self, sqs, handle: Handler, concurrency: int | None = None, wait: int = 10):
        self.sqs, self.handle, self.wait = sqs, handle, wait
        self.stop = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency or 1)
        self._threads = (ThreadPoolExecutor(concurrency, thread_name_prefix="invocation")
                         if concurrency else None)

    def run_once(self, url: str) -> int:
        """One receive from ``url``, its messages handed on; returns how many came."""
        taken = self._take_slots()
        try:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=taken, WaitTimeSeconds=self.wait,
                AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        except (ClientError, BotoCoreError) as exc:
            log.warning("receive from %s failed (%s); polling again", url, exc)
            messages = []
        for _ in range(taken - len(messages)):
            self._release()
        for message in messages:
            if self.stop.is_set():
                self._hand_back(url, message)
            elif self._threads is not None:
                self._threads.submit(self._one, url, message)
            else:
                self._one(url, message)
        return len(messages)

    def run(self, urls: Sequence[str]) -> None:
        """Poll ``urls`` in turn until ``stop`` is set; then wait for the handlers running."""
        try:
            while not self.stop.is_set():
                for url in urls:
                    self.run_once(url)
        finally:
            if self._threads is not None:
                self._threads.shutdown(wait=True)

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT stop the loop (after the receive and the handlers in progress)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())

    def _take_slots(self) -> int:
        """Wait for a free thread, then take up to ten (SQS's most per receive); without
        threads, ten."""
        if self._threads is None:
            return 10
        self._slots.acquire()
        taken = 1
        while taken < 10 and self._slots.acquire(blocking=False):
            taken += 1
        return taken

    def _release(self) -> None:
        if self._threads is not None:
            self._slots.release()

    def _one(self, url: str, message: dict) -> None:
        try:
            done = self.handle(url, message)
        except Exception:
            log.exception("message %s not handled; it comes back after its visibility "
                          "timeout", message.get("MessageId"))
            done = False
        try:
            if done:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        except (ClientError, BotoCoreError) as exc:
            log.warning("message %s handled but not deleted (%s); it comes back",
                        message.get("MessageId"), exc)
        finally:
            self._release()

    def _hand_back(self, url: str, message: dict) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"],
                                               VisibilityTimeout=0)
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not hand message %s back (%s); it comes back after its "
                        "visibility timeout", message.get("MessageId"), exc)
        finally:
            self._release()
