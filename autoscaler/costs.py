"""What workers cost, in one place: list prices and the unit the simulation reports in.

The unit is the **worker-second**: one second of one ECS worker of the stack's default
size (``WorkerCpu`` 1024, ``WorkerMemory`` 2048, Fargate, Linux/x86). A Lambda pool's
bill (GB-seconds of its invocations, init included on a cold start, plus requests) is
converted to worker-seconds at these prices, so both runtimes add up on one scale.

Prices are AWS's public on-demand list prices for us-east-1 (x86); change them here
for another region or architecture.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Fargate, per vCPU-hour and per GB-hour.
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
#: Lambda, per GB-second of duration and per request.
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
#: The stack's default worker size.
WORKER_VCPU = 1.0
WORKER_GB = 2.0


@dataclass(frozen=True)
class Prices:
    """Prices of one worker-second and of a Lambda's second and request, in dollars."""

    worker_vcpu: float = WORKER_VCPU
    worker_gb: float = WORKER_GB

    @property
    def worker_second(self) -> float:
        """Dollars per second of one ECS worker."""
        return (self.worker_vcpu * FARGATE_VCPU_HOUR + self.worker_gb * FARGATE_GB_HOUR) / 3600

    def lambda_seconds(self, seconds: float, memory_mb: int, requests: int = 0) -> float:
        """Worker-seconds that ``seconds`` of billed duration at ``memory_mb`` (and
        ``requests`` invocations) cost."""
        dollars = seconds * memory_mb / 1024 * LAMBDA_GB_SECOND + requests * LAMBDA_REQUEST
        return dollars / self.worker_second

    def dollars(self, worker_seconds: float) -> float:
        """Dollars of ``worker_seconds``."""
        return worker_seconds * self.worker_second


DEFAULT = Prices()
