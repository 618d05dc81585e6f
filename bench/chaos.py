"""Faults survived: workers killed, poison and malformed messages, duplicates,
PostgreSQL restarted, SQS unreachable, a web process dying between commit and send.

    .venv/bin/python -m bench.chaos [--only NAME[,NAME]] [--rows 2000000] [--documents 200]

Starts moto (behind a TCP relay it can cut), an embedded PostgreSQL of its own
(so it can restart it), workers and the web app on 127.0.0.1, and stops all of
it at the end. Each experiment runs on its own queues and bucket with canary
jobs as bystanders, and records jobs lost, jobs run twice, wrong results (rows,
documents, outcomes), time to recover and bystanders affected. Prints a table,
writes bench/results/chaos.json, and exits 1 when any must-be-zero figure is
not zero. The full run takes about 12-15 minutes on two cores (most of it the
2M-row import, three kills and the 60 s outage); ``--rows`` scales the import.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import text

from bench import chaos_kills, chaos_messages, chaos_outages, harness
from bench.chaos_rig import Base, Outcome, Rig, start_base
from bench.csv_import import generate
from store import db

DEFAULT_OUT = harness.RESULTS / "chaos.json"
# Short visibility timeouts so a killed worker's message comes back in seconds
# (the keeper extends them for running tasks); a frequent dead-letter sweep.
SETTINGS = {"visibility_timeouts": {"default": 10, "pdf": 20, "imports": 20, "exports": 20},
            "dlq_sweep_interval": 2.0, "worker_concurrency": 2}


@dataclass
class Plan:
    """What the run was asked to do."""

    rows: int
    documents: int
    kills: int
    outage: float
    postgres_down: float
    stranded_wait: float
    seed: int


class Run:
    """The shared base, the generated CSV file, and one rig per experiment."""

    def __init__(self, base: Base, plan: Plan):
        self.base, self.plan = base, plan
        self.rng = random.Random(plan.seed)
        self._csv: Path | None = None

    def csv(self) -> Path:
        if self._csv is None:
            self._csv = self.base.logs.parent / "customers.csv"
            seconds = generate(self._csv, self.plan.rows)
            print(f"  generated {self.plan.rows:,} rows in {seconds:.1f}s", flush=True)
        return self._csv

    def rig(self, stack: contextlib.ExitStack, **overrides) -> Rig:
        return Rig.on(stack, self.base, **overrides)


def import_sigkill(run: Run, stack) -> list[Outcome]:
    points = chaos_kills.random_points(run.rng, run.plan.kills, run.plan.rows)
    return [chaos_kills.import_under_kills(run.rig(stack), run.csv(), run.plan.rows, points)]


def pdf_signal(sig: int):
    def experiment(run: Run, stack) -> list[Outcome]:
        point = chaos_kills.at_fraction(run.rng.uniform(0.2, 0.6), run.plan.documents)
        return [chaos_kills.batch_under_signal(run.rig(stack), run.plan.documents, sig, point)]
    return experiment


def poison_crash(run: Run, stack) -> list[Outcome]:
    return [chaos_messages.crashing_task(run.rig(stack))]


def malformed(run: Run, stack) -> list[Outcome]:
    return [chaos_messages.malformed_messages(run.rig(stack))]


def duplicates(run: Run, stack) -> list[Outcome]:
    return [chaos_messages.duplicate_delivery(run.rig(stack))]


def postgres_restart(run: Run, stack) -> list[Outcome]:
    down, pg = run.plan.postgres_down, run.base.postgres
    with contextlib.ExitStack() as first:  # the import's workers stop before the batch
        imported = chaos_outages.import_under_restart(run.rig(first), pg, run.csv(),
                                                      run.plan.rows, down)
    return [imported, chaos_outages.batch_under_restart(run.rig(stack), pg,
                                                        run.plan.documents, down)]


def sqs_outage(run: Run, stack) -> list[Outcome]:
    return [chaos_outages.sqs_outage(run.rig(stack), run.base.relay, run.plan.outage)]


def stranded_job(run: Run, stack) -> list[Outcome]:
    return [chaos_outages.stranded_job(run.rig(stack), run.plan.stranded_wait)]


EXPERIMENTS = {
    "import_sigkill": import_sigkill, "pdf_sigkill": pdf_signal(signal.SIGKILL),
    "pdf_sigterm": pdf_signal(signal.SIGTERM), "poison_crash": poison_crash,
    "malformed": malformed, "duplicates": duplicates, "postgres_restart": postgres_restart,
    "sqs_outage": sqs_outage, "stranded_job": stranded_job,
}


def run_one(run: Run, name: str) -> list[Outcome]:
    """One experiment in a stack of its own; an experiment that breaks is a figure too."""
    began = time.monotonic()
    print(f"== {name}", flush=True)
    try:
        with contextlib.ExitStack() as stack:
            outcomes = EXPERIMENTS[name](run, stack)
    except Exception as exc:
        traceback.print_exc()
        outcomes = [Outcome(name, name, crashed=f"{type(exc).__name__}: {str(exc)[:500]}")]
    for outcome in outcomes:
        outcome.raw["experiment_seconds"] = round(time.monotonic() - began, 1)
        print(f"   {outcome.name}: holes {outcome.holes() or 'none'}", flush=True)
    return outcomes


def environment(base: Base) -> dict:
    with db.engine(base.database_url).connect() as conn:
        server = conn.execute(text("SHOW server_version")).scalar()
    return {"timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "postgresql": f"embedded {server}",
            **{name: version(name) for name in ("moto", "celery", "kombu", "boto3")}}


TABLE = "{:<24} {:>5} {:>6} {:>6} {:>10} {:>11}  {}"


def table(outcomes: list[Outcome]) -> str:
    lines = [TABLE.format("experiment", "lost", "twice", "wrong", "recover s", "bystanders",
                          "holes (must be 0)")]
    for o in outcomes:
        by = f"{o.bystanders.get('affected', '-')}/{o.bystanders.get('sent', '-')}"
        holes = ", ".join(f"{k}={v}" for k, v in o.holes().items()) or "none"
        lines.append(TABLE.format(o.name, o.jobs_lost, o.jobs_run_twice, o.wrong_results,
                                  "-" if o.recovery_seconds is None else o.recovery_seconds,
                                  by, holes))
    return "\n".join(lines)


def parse(argv) -> tuple[Plan, list[str], Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help=f"one of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--outage", type=float, default=60.0, help="SQS outage, seconds")
    parser.add_argument("--postgres-down", type=float, default=5.0)
    parser.add_argument("--stranded-wait", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    names = [n for item in args.only or list(EXPERIMENTS) for n in item.split(",")]
    unknown = sorted(set(names) - set(EXPERIMENTS))
    if unknown:
        parser.error(f"no experiment {unknown[0]!r}; one of {', '.join(EXPERIMENTS)}")
    plan = Plan(args.rows, args.documents, args.kills, args.outage, args.postgres_down,
                args.stranded_wait, args.seed)
    return plan, names, args.out


def main(argv=None) -> int:
    plan, names, out = parse(argv)
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        base = start_base(stack, SETTINGS)
        facts = environment(base)
        run = Run(base, plan)
        outcomes = [o for name in names for o in run_one(run, name)]
    print(table(outcomes))
    holes = {o.name: o.holes() for o in outcomes if o.holes()}
    result = {"benchmark": "bench/chaos.py", "environment": facts, "plan": asdict(plan),
              "settings": SETTINGS, "seconds": round(time.monotonic() - began, 1),
              "holes": holes, "experiments": [asdict(o) for o in outcomes]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"Wrote {out} ({result['seconds']}s)")
    return 1 if holes else 0


if __name__ == "__main__":
    sys.exit(main())
