"""Autoscaling from zero and back: how fast a pool at zero gets a worker, how fast a
burst drains, how soon the workers leave — measured with the local autoscaler.

Starts moto, PostgreSQL, the web app and ``python -m autoscaler`` in local mode
(every pool at zero; it starts ``python -m worker`` processes), then:

* **wake** (``--rounds`` times): with every pool at zero, one canary through the
  API. From the job's ``created_at``: the autoscaler's decision to start a worker
  (``worker_requested``), that worker's ``ready.`` line (``worker_ready``) and the
  job's ``started_at`` (``job_started``). Each round waits for the pool to be at
  zero again first.
* **burst**: 200 canaries and a 100-document PDF batch at once, from zero: time to
  drain (first POST to last job finished), time back to zero (last job finished
  to every pool at zero), peak workers per pool, and a check that every job ran
  exactly once. The cooldown runs from the last round that saw a message, so
  back-to-zero lies between the cooldown minus one interval and the cooldown
  plus one interval.
* **simulation** of every trace in ``autoscaler/traces/`` (``VARIANTS``): today's
  policy, the stack as deployed, and more; cost in worker-seconds against the
  ideal and against today's, p95 waits per pool, and the goals checked.

Run from the repository root::

    .venv/bin/python -m bench.autoscale [--rounds 10] [--out bench/results/autoscale.json]
    .venv/bin/python -m bench.autoscale --sim-only   # the simulation alone, in seconds
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from autoscaler import costs, trace as traces
from autoscaler.config import load
from autoscaler.rounds import decisions_in
from autoscaler.sim import simulate
from autoscaler.simulate import compare
from bench.harness import AUTH, RESULTS, ROOT, child_env, percentile, start_base, \
    start_child, start_web
from core import lifecycle
from deploy import pools
from stack import services
from tasks.pdf import samples

DEFAULT_OUT = RESULTS / "autoscale.json"
COOLDOWN = 20
INTERVAL = 5
POOL_MAX = 2  # two cores: more workers per pool only compete for them
TRACES = sorted((ROOT / "autoscaler" / "traces").glob("*.json"))
#: The stack's defaults (deploy/pools.py): which pools run on Lambda, with what memory and
#: MaximumConcurrency, and the start-up an ECS pool's sizing is seeded with.
AS_DEPLOYED = {
    **{f"POOL_{p.upper()}_RUNTIME": r for p, r in pools.DEFAULT_RUNTIME.items()},
    **{f"POOL_{p.upper()}_LAMBDA_MEMORY": str(m) for p, m in pools.DEFAULT_MEMORY.items()},
    **{f"POOL_{p.upper()}_LAMBDA_CONCURRENCY": str(c)
       for p, c in pools.DEFAULT_CONCURRENCY.items()},
    **{f"POOL_{p.upper()}_STARTUP_SECONDS": str(pools.ECS_STARTUP_SECONDS)
       for p, r in pools.DEFAULT_RUNTIME.items() if r == "ecs"},
}
#: The runs of each trace: today's policy (every pool on ECS, sized by its backlog alone);
#: the stack as deployed; the same with the event source's scaling read cautiously (a
#: minute's 300 invocations added only once the minute has passed); every pool on ECS with
#: the cost-aware sizing. The traces' own pool sizes (target, max) hold in every run.
VARIANTS = {
    "today": ({}, ['pools.*.runtime="ecs"', "pools.*.estimates=false"]),
    "as_deployed": (AS_DEPLOYED, []),
    "as_deployed_minute_ramp": (AS_DEPLOYED, ["pools.*.ramp_every=60"]),
    "ecs_cost_aware": ({}, ['pools.*.runtime="ecs"', "pools.*.drain=300"]),
}
COST_GOAL = 1.2
WAIT_GOAL = 1.1
POOL_FIGURES = ("runtime", "tasks", "used", "ideal", "starting", "idle", "wait_p50",
                "wait_p95", "wait_max", "peak_workers", "cold_starts")


class Autoscaled:
    """The stack under test, with the autoscaler's log and the workers' logs."""

    def __init__(self, stack: contextlib.ExitStack):
        self.settings, logs, self.where = start_base(stack, "autoscale")
        self.web = start_web(stack, self.settings, logs)
        self.worker_logs = logs / "workers"
        env = child_env(self.settings, AUTOSCALER_MODE="local",
                        AUTOSCALER_INTERVAL=str(INTERVAL),
                        **{f"POOL_{p}_{k}": str(v) for p in ("DEFAULT", "PDF", "IMPORTS", "EXPORTS")
                           for k, v in (("COOLDOWN", COOLDOWN), ("MAX", POOL_MAX))})
        self.autoscaler = start_child(stack, "autoscaler", [
            sys.executable, "-m", "autoscaler", "--log-dir", str(self.worker_logs)], env, logs)
        stack.callback(self.autoscaler.stop, 75)
        self.engine = create_engine(self.settings.database_url)
        stack.callback(self.engine.dispose)
        self.http = requests.Session()
        self.http.headers.update(AUTH)
        stack.callback(self.http.close)
        services.wait_for(self.decisions, 60, "the autoscaler's first round")

    def decisions(self) -> list[dict]:
        """Every decision line so far, each with its log time as ``at`` (epoch seconds)."""
        lines = self.autoscaler.log_path.read_text(errors="replace").splitlines()
        return [dict(record, at=_log_time(prefix)) for prefix, record in decisions_in(lines)]

    def all_at_zero(self, after: float = 0.0) -> dict | None:
        """The latest round's decisions if every pool was at zero in it (and it came after ``after``)."""
        latest = {}
        for record in self.decisions():
            latest[record["pool"]] = record
        if latest and all(r["current"] == 0 and r["desired"] == 0 and r["at"] > after
                          for r in latest.values()):
            return latest
        return None

    def submit(self, body: dict) -> str:
        answer = self.http.post(f"{self.web}/api/jobs", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()["id"]

    def jobs(self, ids: list[str]) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(
                "SELECT id, kind, status, attempts, created_at, started_at, finished_at "
                "FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}).mappings()]

    def ready_times(self) -> dict[str, float]:
        """Each worker log's ``ready.`` time."""
        out = {}
        for path in self.worker_logs.glob("*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if line.endswith(" ready."):
                    out[path.stem] = _log_time(line)
                    break
        return out


def _log_time(line: str) -> float:
    """Epoch seconds of a ``2026-11-23 10:04:02,490 …`` log line (local time)."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def wake_round(system: Autoscaled) -> dict:
    services.wait_for(lambda: system.all_at_zero(), COOLDOWN + 60, "every pool at zero")
    seen, ready_before = len(system.decisions()), set(system.ready_times())
    job_id = system.submit({"kind": "canary", "params": {}})
    job = services.wait_for(lambda: (j := system.jobs([job_id])[0])["status"]
                            in lifecycle.FINISHED and j, 60, "the canary")
    created = job["created_at"].timestamp()
    woke = next(d for d in system.decisions()[seen:] if d.get("applied") and d["desired"] > 0)
    ready = min(t for name, t in system.ready_times().items() if name not in ready_before)
    return {"worker_requested_s": round(woke["at"] - created, 2),
            "worker_ready_s": round(ready - created, 2),
            "job_started_s": round(job["started_at"].timestamp() - created, 2),
            "status": job["status"]}


def burst(system: Autoscaled, canaries: int, documents: int) -> dict:
    services.wait_for(lambda: system.all_at_zero(), COOLDOWN + 60, "every pool at zero")
    seen = len(system.decisions())
    began = time.time()
    ids = [system.submit({"kind": "canary", "params": {"sleep_seconds": 0.2}})
           for _ in range(canaries)]
    rows = [samples.statement(n) for n in range(documents)]
    ids.append(system.submit({"kind": "pdf_batch",
                              "params": {"template": "statement", "rows": rows}}))
    submitted = time.time()
    def drained():
        found = system.jobs(ids)
        return all(j["status"] in lifecycle.FINISHED for j in found) and found
    jobs = services.wait_for(drained, 900, "the burst to drain")
    last = max(j["finished_at"].timestamp() for j in jobs)
    zero = services.wait_for(lambda: system.all_at_zero(after=last), COOLDOWN + 120,
                             "every pool back at zero")
    back = min(r["at"] for r in zero.values())
    made = system.decisions()[seen:]
    peak = {}
    for record in made:
        peak[record["pool"]] = max(peak.get(record["pool"], 0), record["desired"])
    statuses = {}
    for job in jobs:
        statuses[job["status"]] = statuses.get(job["status"], 0) + 1
    return {
        "canaries": canaries, "pdf_documents": documents,
        "submit_seconds": round(submitted - began, 2),
        "drain_seconds": round(last - began, 2),
        "back_to_zero_seconds": round(back - last, 2),
        "cooldown_seconds": COOLDOWN, "decision_interval_seconds": INTERVAL,
        "peak_workers": peak, "statuses": statuses,
        "ran_more_than_once": sum(1 for j in jobs if j["attempts"] != 1),
    }


def simulation(paths=None) -> dict:
    """Every trace today (every pool on ECS, sized by backlog alone) and as deployed
    (the stack's runtimes and cost-aware sizing), with the goals checked."""
    out = {}
    for path in paths or TRACES:
        data = json.loads(path.read_text())
        runs = {name: _simulate(data, env, assignments)
                for name, (env, assignments) in VARIANTS.items()}
        out[path.stem] = {"description": data.get("description", ""),
                          **{name: _figures(result) for name, result in runs.items()},
                          "goals": goals(runs["today"], runs["as_deployed"])}
    return out


def plot_burst(path: Path) -> None:
    """The example day's PDF burst today and as deployed (docs/autoscaler.md)."""
    data = json.loads((ROOT / "autoscaler" / "traces" / "example.json").read_text())
    runs = {"today: ECS workers, sized by backlog": _simulate(data, *VARIANTS["today"]),
            "as deployed: the pool on Lambda": _simulate(data, *VARIANTS["as_deployed"])}
    compare(runs, "pdf", str(path), title="The 500-document burst of the example day")


def _simulate(data: dict, env: dict, assignments: list[str]):
    copy = json.loads(json.dumps(data))
    for assignment in assignments:
        traces.override(copy, assignment)
    return simulate(traces.parse(copy, base=load(env)))


def _figures(result) -> dict:
    totals = result.totals
    return {"cost": totals["used"], "ideal": totals["ideal"],
            "cost_over_ideal": totals["used_over_ideal"],
            "dollars": round(costs.DEFAULT.dollars(totals["used"]), 4),
            "pools": {name: {k: f[k] for k in POOL_FIGURES if k in f}
                      for name, f in result.pools.items() if f["tasks"]}}


def goals(today, deployed) -> dict:
    """Cost within COST_GOAL of the ideal; each pool's p95 wait within WAIT_GOAL of today's.

    The ideal is the run's own: busy time priced on the runtime each pool runs on. Against
    today's ideal (every task packed onto busy ECS workers, the cheapest the work could
    ever run) it is reported beside it, not judged: no runtime reaches it at Fargate's
    start-ups, since ECS pays them and Lambda's second costs more."""
    ratio = deployed.totals["used_over_ideal"]
    waits = {name: {"today": today.pools[name]["wait_p95"], "as_deployed": f["wait_p95"],
                    "ok": f["wait_p95"] <= today.pools[name]["wait_p95"] * WAIT_GOAL}
             for name, f in deployed.pools.items() if f["tasks"]}
    return {"cost_over_ideal": ratio, "cost_ok": ratio <= COST_GOAL,
            "cost_over_todays_ideal": round(deployed.totals["used"] / today.totals["ideal"], 3),
            "cost_vs_today": round(deployed.totals["used"] / today.totals["used"], 3),
            "wait_p95": waits, "met": ratio <= COST_GOAL and all(w["ok"] for w in waits.values())}


def run(rounds: int, canaries: int, documents: int) -> dict:
    with contextlib.ExitStack() as stack:
        print("starting moto, PostgreSQL, the web app and the autoscaler…", flush=True)
        system = Autoscaled(stack)
        wakes = []
        for n in range(rounds):
            wakes.append(wake_round(system))
            print(f"  wake {n + 1}/{rounds}: {wakes[-1]}", flush=True)
        print(f"burst: {canaries} canaries and a {documents}-document PDF batch…", flush=True)
        bursts = burst(system, canaries, documents)
        where = system.where
    return {
        "benchmark": "bench/autoscale.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "database": where},
        "wake": {
            "rounds": rounds,
            **{f"{k}_p50": percentile([w[f"{k}_s"] for w in wakes], 50, digits=2)
               for k in ("worker_requested", "worker_ready", "job_started")},
            **{f"{k}_max": max(w[f"{k}_s"] for w in wakes)
               for k in ("worker_requested", "worker_ready", "job_started")},
            "samples": wakes,
        },
        "burst": bursts,
        "simulation": simulation(),
    }


def show(result: dict) -> None:
    wake, burst_ = result.get("wake"), result.get("burst")
    if wake:
        print(f"\nFrom zero, p50 over {wake['rounds']} rounds (max):")
        for key, label in (("worker_requested", "worker requested"),
                           ("worker_ready", "worker ready"), ("job_started", "job started")):
            print(f"  {label:<17} {wake[f'{key}_p50']:.2f} s ({wake[f'{key}_max']:.2f} s)")
    if burst_:
        print(f"Burst of {burst_['canaries']} canaries + {burst_['pdf_documents']} PDFs: "
              f"drained in {burst_['drain_seconds']} s, back to zero "
              f"{burst_['back_to_zero_seconds']} s after the last job (cooldown "
              f"{burst_['cooldown_seconds']} s, rounds every "
              f"{burst_['decision_interval_seconds']} s); peak workers {burst_['peak_workers']}; "
              f"{burst_['statuses']}; ran more than once: {burst_['ran_more_than_once']}")
    print(simulation_table(result["simulation"]))


def simulation_table(sim: dict) -> str:
    """The simulated traces: cost against the ideal and p95 waits, today and as deployed."""
    lines = [f"\nSimulated days (cost in worker-seconds; goal: cost <= {COST_GOAL}x the ideal, "
             f"p95 wait per pool <= {WAIT_GOAL}x today's):",
             f"{'trace':<12}{'variant':<16}{'cost':>8}{'ideal':>8}{'ratio':>7}{'$/day':>8}"
             "  p95 wait per pool"]
    for trace, found in sim.items():
        for variant in VARIANTS:
            f = found[variant]
            waits = ", ".join(f"{p} {v['wait_p95']:.0f}s" for p, v in f["pools"].items())
            lines.append(f"{trace:<12}{variant[:15]:<16}{f['cost']:>8}{f['ideal']:>8}"
                         f"{f['cost_over_ideal']:>7.2f}{f['dollars']:>8.2f}  {waits}")
        g = found["goals"]
        lines.append(f"{'':<12}{'goals':<16}{'met' if g['met'] else 'NOT MET'}: cost "
                     f"{g['cost_over_ideal']}x the ideal, {g['cost_vs_today']}x today's cost, "
                     f"{g['cost_over_todays_ideal']}x today's ideal")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.autoscale")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--canaries", type=int, default=200)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--sim-only", action="store_true",
                        help="only the simulated traces (seconds, no services); the live "
                             "figures already in --out are kept")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--plot", type=Path, help="also draw the example day's PDF burst, "
                        "today and as deployed, to this PNG")
    args = parser.parse_args(argv)
    if args.plot:
        plot_burst(args.plot)
    if args.sim_only:
        result = json.loads(args.out.read_text()) if args.out.exists() else {
            "benchmark": "bench/autoscale.py"}
        result.update(simulated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      simulation=simulation())
    else:
        result = run(args.rounds, args.canaries, args.documents)
    show(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nWrote {args.out}")
    return 0 if all(found["goals"]["met"] for found in result["simulation"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
