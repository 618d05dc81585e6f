"""One call of an entry point, timed in a forked child with a deadline.

The child builds the input (not timed), hands freed memory back to the system,
resets its resident-set high-water mark (``/proc/self/clear_refs``), then makes
the call. Time is wall-clock seconds (the least of a few runs when one run
is under ``REPEAT_BELOW`` seconds; the first run's CPU seconds are kept too,
since other work on a shared machine stretches wall-clock time). Memory is how
far the child's resident set rose above where it stood before the call
(``VmHWM`` after minus ``VmRSS`` before), so it counts what C code allocates
too (the regex engine, the CSV parser, the JSON decoder, scrypt), not only
Python objects; it can miss memory the call reused from pages already resident
(the input's construction is freed and trimmed first to keep that small). A
call still running at the deadline is killed and reported as timed out.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPEAT_BELOW = 0.1  # seconds: a faster call is run again, and the least time kept
REPEAT_BUDGET = 0.5  # seconds spent on repeats at most
Build = Callable[[int], Callable[[], object]]

# Called in the child right after the fork (database pools must not share sockets).
AFTER_FORK: list[Callable[[], None]] = []


def measure(build: Build, size: int, deadline: float) -> dict:
    """Seconds, peak memory growth and outcome of ``build(size)()``, in a child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        _child(build, size, write)
    os.close(write)
    try:
        return _wait(pid, read, deadline)
    finally:
        os.close(read)


def _wait(pid: int, read: int, deadline: float) -> dict:
    chunks, ends = [], time.monotonic() + deadline
    while True:
        left = ends - time.monotonic()
        ready = select.select([read], [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"seconds": None, "timed_out": True, "deadline": deadline,
                    "outcome": f"still running after {deadline:g}s (killed)"}
        data = os.read(read, 1 << 16)
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return {"seconds": None, "timed_out": False,
                "outcome": f"the measuring process died (wait status {status})"}
    return json.loads(b"".join(chunks))


def _child(build: Build, size: int, write: int) -> None:
    code = 0
    try:
        for hook in AFTER_FORK:
            hook()
        result = run(build, size)
    except BaseException:  # noqa: BLE001 - the parent reports it
        result = {"seconds": None, "timed_out": False,
                  "outcome": "the bench failed: " + traceback.format_exc(limit=3)[-600:]}
        code = 1
    try:
        os.write(write, json.dumps(result, default=str).encode())
    finally:
        os._exit(code)


def run(build: Build, size: int) -> dict:
    """Build the input, then time the call and watch the resident set (in this process)."""
    call = build(size)
    _settle()
    before = _status("VmRSS")
    watched = _reset_peak()
    began, cpu = time.perf_counter(), time.process_time()
    outcome = _outcome(call)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    grown = max(0, _status("VmHWM") - before) if watched else None
    spent = seconds
    while seconds < REPEAT_BELOW and spent < REPEAT_BUDGET:
        again = time.perf_counter()
        _outcome(call)
        took = time.perf_counter() - again
        seconds, spent = min(seconds, took), spent + took
    return {"seconds": round(seconds, 6), "cpu_seconds_first_run": round(cpu, 6),
            "timed_out": False,
            "peak_growth_mb": None if grown is None else round(grown / 1024, 1), **outcome}


def _outcome(call: Callable[[], object]) -> dict:
    """What the call gave: a dict of figures, or an outcome line; an exception is one."""
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - an entry point refusing input is an outcome
        return {"outcome": f"{type(exc).__name__}: {str(exc)[:160]}"}
    if isinstance(result, dict):
        return result
    return {"outcome": str(result)[:160]}


def _settle() -> None:
    """Free what building the input left behind, so the call's growth is its own."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Start the high-water mark afresh; False where the system does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)
        return True
    except OSError:
        return False


def _status(field: str) -> int:
    """A ``/proc/self/status`` figure in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Case:
    """An entry point fed its worst input found so far, and ordinary input of the same size.

    ``worst`` and ``ordinary`` take a size (in ``unit``) and return the call to time;
    the bench runs them at ``sizes`` (n and 2n). Cases that share ``ordinary``
    (the same function object) share its measurement.
    """

    entry: str
    name: str
    worst: Build
    ordinary: Build
    sizes: tuple[int, int]
    unit: str = "bytes"
    note: str = ""
