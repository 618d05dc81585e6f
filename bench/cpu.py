"""Where a benchmark's CPU went: seconds per role of the processes it started.

On a machine with few cores every process of the stack (the emulator, the
database, the web app, the benchmark's own client) competes with the workers,
so the CPU each role used over a phase explains most of a throughput gap. The
machine's total busy time shows what other users of the machine took.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Callable, Mapping

TICK = os.sysconf("SC_CLK_TCK")
Classifier = Callable[[int, str], "str | None"]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """CPU seconds all cores of the machine have spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICK


def command_lines() -> dict[int, str]:
    """Every process's command line, arguments joined by spaces."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            out[int(entry.name)] = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return out


def snapshot(classify: Classifier) -> dict:
    """CPU seconds of each process ``classify`` names a role for, and the machine's."""
    processes = {pid: role for pid, cmd in command_lines().items()
                 if (role := classify(pid, cmd))}
    return {"machine": machine_busy(),
            "processes": {pid: (role, process_cpu(pid)) for pid, role in processes.items()}}


def used(before: Mapping, after: Mapping) -> dict:
    """CPU seconds per role between two snapshots, and the machine's busy seconds.

    A process that started in between counts from zero; one that ended in
    between is missed (the stacks measured keep their processes).
    """
    roles: dict[str, float] = defaultdict(float)
    for pid, (role, seconds) in after["processes"].items():
        roles[role] += seconds - before["processes"].get(pid, (role, 0.0))[1]
    out = {role: round(seconds, 1) for role, seconds in sorted(roles.items())}
    out["machine_busy"] = round(after["machine"] - before["machine"], 1)
    out["others_on_machine"] = round(out["machine_busy"] - sum(roles.values()), 1)
    return out
