"""How many workers a pool has, and changing it: the interface, ECS, and a fake.

The local implementation, which starts processes, is in ``autoscaler.local``.
"""
from __future__ import annotations

from autoscaler.errors import AutoscalerError, TargetMissing

RUN_TASK_BATCH = 10  # RunTask starts at most 10 tasks per call


class WorkerScaler:
    """One pool's workers: how many there are, and asking for a different number."""

    def current(self) -> int:
        """The number of workers the pool has (or has been asked to have)."""
        raise NotImplementedError

    def set_desired(self, desired: int) -> None:
        """Ask for ``desired`` workers."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go at shutdown: local workers stop; ECS workers are not this process's."""


class MemoryWorkerScaler(WorkerScaler):
    """A worker count in memory; remembers every request."""

    def __init__(self, count: int = 0):
        self.count = count
        self.requests: list[int] = []

    def current(self) -> int:
        return self.count

    def set_desired(self, desired: int) -> None:
        self.requests.append(desired)
        self.count = desired


class EcsServiceScaler(WorkerScaler):
    """An ECS service's desiredCount; ECS starts and stops the tasks."""

    def __init__(self, ecs, cluster: str, service: str):
        self.ecs, self.cluster, self.service = ecs, cluster, service

    def current(self) -> int:
        found = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        live = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
        if not live:
            raise TargetMissing(
                f"ECS service {self.service!r} was not found in cluster {self.cluster!r}; "
                "create it, or set POOL_<NAME>_SERVICE and AUTOSCALER_CLUSTER")
        return int(live[0]["desiredCount"])

    def set_desired(self, desired: int) -> None:
        self.ecs.update_service(cluster=self.cluster, service=self.service,
                                desiredCount=desired)


class EcsTaskScaler(WorkerScaler):
    """Standalone ECS tasks (RunTask) of one task family; they exit on their own when idle.

    It counts the family's tasks that are meant to run (PENDING or RUNNING) and
    starts the difference; it never stops a task, so scale-in is the workers'
    own idle exit (WORKER_IDLE_EXIT_SECONDS).
    """

    def __init__(self, ecs, cluster: str, family: str, launch_type: str | None = "FARGATE",
                 network: dict | None = None, group: str | None = None,
                 started_by: str = "jobsys-autoscaler"):
        self.ecs, self.cluster, self.family = ecs, cluster, family
        self.launch_type, self.network = launch_type, network
        self.group, self.started_by = group, started_by

    def current(self) -> int:
        pages = self.ecs.get_paginator("list_tasks").paginate(
            cluster=self.cluster, family=self.family, desiredStatus="RUNNING")
        return sum(len(page.get("taskArns", [])) for page in pages)

    def set_desired(self, desired: int) -> None:
        missing = desired - self.current()
        while missing > 0:
            started = self._run(min(missing, RUN_TASK_BATCH))
            missing -= started

    def _run(self, count: int) -> int:
        answer = self.ecs.run_task(**self._run_arguments(count))
        started = len(answer.get("tasks", []))
        if not started:
            reasons = "; ".join(f"{f.get('arn', '?')}: {f.get('reason', '?')}"
                                for f in answer.get("failures", [])) or "no reason given"
            raise AutoscalerError(
                f"ECS started no task of family {self.family!r} in cluster "
                f"{self.cluster!r}: {reasons}")
        return started

    def _run_arguments(self, count: int) -> dict:
        arguments = {"cluster": self.cluster, "taskDefinition": self.family, "count": count,
                     "startedBy": self.started_by}
        if self.launch_type:
            arguments["launchType"] = self.launch_type
        if self.network:
            arguments["networkConfiguration"] = self.network
        if self.group:
            arguments["group"] = self.group
        return arguments


def awsvpc_network(subnets, security_groups, public_ip: bool = False) -> dict | None:
    """RunTask's networkConfiguration for these subnets, or None without subnets."""
    if not subnets:
        return None
    vpc = {"subnets": list(subnets), "assignPublicIp": "ENABLED" if public_ip else "DISABLED"}
    if security_groups:
        vpc["securityGroups"] = list(security_groups)
    return {"awsvpcConfiguration": vpc}
