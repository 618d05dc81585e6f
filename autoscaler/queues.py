"""How many messages wait on a queue: the interface, SQS, and an in-memory fake."""
from __future__ import annotations

from botocore.exceptions import ClientError

from autoscaler.decide import Depths
from autoscaler.errors import TargetMissing

ATTRIBUTES = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
              "ApproximateNumberOfMessagesDelayed")
_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class QueueDepth:
    """Reads the depths of one queue by name."""

    def depths(self, queue: str) -> Depths:
        """Visible, in-flight and delayed messages on ``queue``."""
        raise NotImplementedError


class MemoryQueueDepth(QueueDepth):
    """Depths set by hand; an unknown queue is empty."""

    def __init__(self, depths: dict[str, Depths] | None = None):
        self.values: dict[str, Depths] = dict(depths or {})

    def set(self, queue: str, visible: int = 0, in_flight: int = 0, delayed: int = 0) -> None:
        """Make ``queue`` report these numbers from now on."""
        self.values[queue] = Depths(visible, in_flight, delayed)

    def depths(self, queue: str) -> Depths:
        return self.values.get(queue, Depths())


class SqsQueueDepth(QueueDepth):
    """Depths from SQS's approximate counts (GetQueueAttributes).

    Not-visible messages are taken as in flight as they are: subtracting the
    delayed ones (for an emulator said to count them twice) could hide a running
    task from the scale-in floor, while counting one twice only keeps a worker
    a little longer. moto 5.2.5 counts a delayed message once, like SQS.
    """

    def __init__(self, sqs):
        self.sqs = sqs
        self._urls: dict[str, str] = {}

    def depths(self, queue: str) -> Depths:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url(queue), AttributeNames=list(ATTRIBUTES))["Attributes"]
        visible, not_visible, delayed = (int(attributes.get(name, 0)) for name in ATTRIBUTES)
        return Depths(visible=visible, in_flight=not_visible, delayed=delayed)

    def url(self, queue: str) -> str:
        """The URL of ``queue``, looked up once."""
        if queue not in self._urls:
            try:
                self._urls[queue] = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] in _MISSING:
                    raise TargetMissing(
                        f"SQS queue {queue!r} does not exist; create the queues with "
                        "`python -m core.provision`, or check QUEUE_PREFIX and "
                        "POOL_<NAME>_QUEUES") from None
                raise
        return self._urls[queue]
