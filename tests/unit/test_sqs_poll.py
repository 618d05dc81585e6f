"""The local event-source loop: what it deletes, what it leaves, how much it takes at once."""
from __future__ import annotations

import threading

from core.sqspoll import Poller

URL = "http://sqs.local/q"


class FakeSqs:
    """Just the calls the loop makes, on a list of waiting messages."""

    def __init__(self, count: int):
        self.waiting = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": str(i)}
                        for i in range(count)]
        self.asked: list[int] = []
        self.deleted: list[str] = []
        self.handed_back: list[str] = []

    def receive_message(self, QueueUrl, MaxNumberOfMessages, WaitTimeSeconds, **_):
        self.asked.append(MaxNumberOfMessages)
        taken, self.waiting = (self.waiting[:MaxNumberOfMessages],
                               self.waiting[MaxNumberOfMessages:])
        return {"Messages": taken} if taken else {}

    def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):
        assert VisibilityTimeout == 0
        self.handed_back.append(ReceiptHandle)


def test_only_messages_their_handler_is_done_with_are_deleted():
    sqs = FakeSqs(3)

    def handle(url, message):
        if message["Body"] == "2":
            raise RuntimeError("the handler failed")
        return message["Body"] == "0"

    assert Poller(sqs, handle).run_once(URL) == 3
    assert sqs.deleted == ["r0"] and sqs.asked == [10]


def test_with_a_concurrency_it_takes_no_more_than_it_has_threads_for():
    sqs, lock, running = FakeSqs(7), threading.Lock(), []

    def handle(url, message):
        with lock:
            running.append(1)
            most.append(len(running))
        threading.Event().wait(0.05)
        with lock:
            running.pop()
        return True

    most: list[int] = []
    loop = Poller(sqs, handle, concurrency=2)
    while sqs.waiting:
        loop.run_once(URL)
    loop.stop.set()
    loop.run([URL])  # stops at once and waits for the handlers
    assert max(sqs.asked) <= 2 and max(most) <= 2
    assert sorted(sqs.deleted) == [f"r{i}" for i in range(7)]


def test_what_arrives_after_the_stop_is_handed_back_unhandled():
    sqs, handled = FakeSqs(2), []
    loop = Poller(sqs, lambda url, message: handled.append(message) or True)
    loop.stop.set()
    assert loop.run_once(URL) == 2
    assert handled == [] and sqs.handed_back == ["r0", "r1"] and sqs.deleted == []
