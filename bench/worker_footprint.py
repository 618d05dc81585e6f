"""Worker footprint: how long a worker takes to start and how much memory it holds idle.

For a worker (``python -m worker``, the default concurrency of 2) consuming only
``exports``, only ``imports``, only ``pdf``, and every queue, each started
``--runs`` times against moto and a scratch database:

* ``startup_seconds``: from spawning the process to its ``celery@… ready.`` line;
* ``rss_mb``: VmRSS summed over the worker's process tree (main process and
  pool) once it is ready and its memory has settled; pages the pool shares
  with its parent count once per process, so ``pss_mb`` (their proportional
  share, from ``smaps_rollup``) is given too.

The baseline, in the same run: a bare Celery worker on the same queue (kombu's
stock SQS transport, no task code, no Flask), the floor of any worker on SQS.
``--before REF`` also measures the workers of an earlier commit (``git archive``
into a scratch folder), interleaved with this tree's, so a change's effect is
read off one run (this tree's figures are labelled ``after``).

    .venv/bin/python -m bench.worker_footprint [--runs 3] [--before 1ca0534]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from bench.harness import RESULTS, ROOT, child_env, start_base, worker_ready
from core import aws, queues
from core.settings import WORKLOADS, Settings
from stack import services
from broker.app import broker_url

DEFAULT_OUT = RESULTS / "worker_footprint.json"
QUEUE_SETS = {"exports": ("exports",), "imports": ("imports",), "pdf": ("pdf",),
              "all": WORKLOADS}
SETTLE_SECONDS = 20
# The bare worker: what Celery and kombu's SQS transport cost before any project code.
BARE_WORKER = """
import sys
from celery import Celery
from kombu import Queue
name, url, broker, region = sys.argv[1:5]
app = Celery(broker=broker)
app.conf.update(broker_transport_options={"predefined_queues": {name: {"url": url}},
                                          "region": region, "is_secure": False},
                task_queues=[Queue(name)], worker_enable_remote_control=False)
app.worker_main(["worker", "--queues", name, "--concurrency", "2", "--loglevel", "INFO",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"])
"""


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += [int(p) for p in subprocess.run(["pgrep", "-P", str(current)],
                                                capture_output=True, text=True).stdout.split()]
    return out


def _field_kb(path: Path, name: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0  # the process ended between listing and reading
    return next((int(line.split()[1]) for line in lines if line.startswith(name + ":")), 0)


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(VmRSS, Pss, processes) summed over the process tree of ``pid``."""
    pids = tree(pid)
    rss = sum(_field_kb(Path(f"/proc/{p}/status"), "VmRSS") for p in pids)
    pss = sum(_field_kb(Path(f"/proc/{p}/smaps_rollup"), "Pss") for p in pids)
    return rss, pss, len(pids)


def settled_memory(child: services.Child) -> tuple[int, int, int]:
    """The tree's memory once two readings half a second apart agree within 1%."""
    deadline = time.monotonic() + SETTLE_SECONDS
    last = memory_kb(child.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = memory_kb(child.pid)
        if now[2] == last[2] and abs(now[0] - last[0]) <= 0.01 * last[0]:
            return now
        last = now
    return last


def measure(name: str, argv: list[str], env: dict, cwd: Path, logs: Path) -> dict:
    """Start one worker, time it to ready, read its settled memory, stop it."""
    began = time.perf_counter()
    child = services.spawn(name, argv, env=env, log_dir=logs, cwd=str(cwd))
    try:
        services.wait_for(lambda: worker_ready(child), 120, f"{name} to be ready", interval=0.02)
        startup = time.perf_counter() - began
        rss, pss, processes = settled_memory(child)
    finally:
        child.stop()
    return {"startup_seconds": round(startup, 2), "rss_mb": round(rss / 1024, 1),
            "pss_mb": round(pss / 1024, 1), "processes": processes}


def product_worker(settings: Settings, code: Path, workloads, scratch: Path) -> tuple[list, dict]:
    """argv and environment of ``python -m worker`` from the checkout at ``code``."""
    env = child_env(replace(settings, worker_queues=tuple(workloads),
                            worker_health_file=str(scratch / "worker.health")))
    env["PYTHONPATH"] = str(code)
    return [sys.executable, "-m", "worker"], env


def bare_worker(settings: Settings, urls: dict[str, str]) -> tuple[list, dict]:
    """argv and environment of the bare Celery worker on the default queue."""
    name = settings.queue_name("default")
    return ([sys.executable, "-c", BARE_WORKER, name, urls[name], broker_url(settings),
             settings.aws_region], child_env(settings))


def checkout(stack: contextlib.ExitStack, ref: str) -> Path:
    """The tree of ``ref`` in a scratch folder."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-before-")))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def median_of(samples: list[dict]) -> dict:
    keys = ("startup_seconds", "rss_mb", "pss_mb")
    out = {k: round(statistics.median(s[k] for s in samples), 2) for k in keys}
    out["processes"] = samples[0]["processes"]
    out["runs"] = {k: [s[k] for s in samples] for k in keys}
    return out


def run(runs: int, before: str | None) -> dict:
    samples: dict[str, dict[str, list]] = {}
    with contextlib.ExitStack() as stack:
        print("Starting moto and PostgreSQL...", flush=True)
        settings, logs, where = start_base(stack, "footprint")
        urls = queues.resolve_urls(settings, aws.client(settings, "sqs"))
        scratch = logs.parent
        trees = {"after": ROOT} | ({"before": checkout(stack, before)} if before else {})
        for n in range(runs):
            argv, env = bare_worker(settings, urls)
            _record(samples, "baseline", "bare_celery",
                    measure(f"bare{n}", argv, env, ROOT, logs))
            for label, code in trees.items():
                for set_name, workloads in QUEUE_SETS.items():
                    argv, env = product_worker(settings, code, workloads, scratch)
                    _record(samples, label, set_name,
                            measure(f"{label}-{set_name}{n}", argv, env, code, logs))
    return _result(samples, runs, before, where)


def _record(samples: dict, label: str, set_name: str, figures: dict) -> None:
    samples.setdefault(label, {}).setdefault(set_name, []).append(figures)
    print(f"  {label:9} {set_name:12} {figures['startup_seconds']:6.2f} s "
          f"{figures['rss_mb']:7.1f} MB RSS {figures['pss_mb']:7.1f} MB PSS", flush=True)


def _result(samples: dict, runs: int, before: str | None, where: str) -> dict:
    return {
        "benchmark": "bench/worker_footprint.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": where,
        "runs": runs,
        "concurrency": Settings().worker_concurrency,
        "before_ref": before,
        "medians": {label: {name: median_of(s) for name, s in by_set.items()}
                    for label, by_set in samples.items()},
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def print_table(result: dict) -> None:
    medians = result["medians"]
    print(f"\nMedians of {result['runs']} runs: start-up (s), RSS / PSS of the tree (MB)")
    for label, by_set in medians.items():
        for name, m in by_set.items():
            print(f"  {label:9} {name:12} {m['startup_seconds']:6.2f} s "
                  f"{m['rss_mb']:7.1f} MB {m['pss_mb']:7.1f} MB  ({m['processes']} processes)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", help="also measure the workers of this commit")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.runs, args.before)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
