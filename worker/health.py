"""python -m worker.health: exit 0 if the worker on this host is alive (ECS health check).

The worker's keeper writes a health file on every beat; a file that is missing,
stale, or names a process that is gone means the worker is unhealthy.
"""
from __future__ import annotations

import json
import os
import sys
import time

DEFAULT_FILE = "/tmp/jobsys-worker.health"


def check(path: str, now: float) -> str | None:
    """None when healthy, else what is wrong."""
    try:
        with open(path) as source:
            record = json.load(source)
    except (OSError, ValueError) as exc:
        return f"no health record at {path}: {exc}"
    age = now - record["at"]
    if age > record["max_age"]:
        return f"the worker's last beat was {age:.0f}s ago (limit {record['max_age']:.0f}s)"
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return f"the worker process {record['pid']} is gone"
    except PermissionError:
        pass
    return None


def main() -> int:
    problem = check(os.environ.get("WORKER_HEALTH_FILE", DEFAULT_FILE), time.time())
    print(problem or "healthy")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
