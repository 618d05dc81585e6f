"""ECS task scale-in protection: a busy worker must not be picked for scale-in.

While a worker runs a task it asks the ECS agent to protect its task
(``PUT $ECS_AGENT_URI/task-protection/v1/state``) and drops the protection when
it is idle again, so lowering a service's desired count stops idle workers only.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

log = logging.getLogger(__name__)


class TaskProtection:
    """Turns scale-in protection of the current task on or off."""

    def set(self, enabled: bool) -> None:
        raise NotImplementedError


class NoTaskProtection(TaskProtection):
    """Outside ECS there is nothing to protect; remembers the last request."""

    def __init__(self):
        self.calls: list[bool] = []

    def set(self, enabled: bool) -> None:
        self.calls.append(enabled)


class EcsTaskProtection(TaskProtection):
    """Calls the ECS agent's task-protection endpoint."""

    def __init__(self, agent_uri: str, expires_minutes: int = 60, timeout: float = 3.0):
        self.url = f"{agent_uri.rstrip('/')}/task-protection/v1/state"
        self.expires_minutes = expires_minutes
        self.timeout = timeout

    def body(self, enabled: bool) -> dict:
        body = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self.expires_minutes
        return body

    def set(self, enabled: bool) -> None:
        request = urllib.request.Request(
            self.url, data=json.dumps(self.body(enabled)).encode(), method="PUT",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("task protection %s failed: %s", "on" if enabled else "off", exc)
            return
        if reply.get("failure"):
            log.warning("task protection %s refused: %s", "on" if enabled else "off",
                        reply["failure"])


def for_environment(agent_uri: str | None, expires_minutes: int) -> TaskProtection:
    """ECS protection when running under the ECS agent, otherwise none."""
    return EcsTaskProtection(agent_uri, expires_minutes) if agent_uri else NoTaskProtection()
