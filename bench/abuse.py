"""Abuse: the worst input found for each entry point that takes user bytes.

    .venv/bin/python -m bench.abuse [--quick] [--only reader,checks,...] [--deadline 20]
                                    [--search-seconds 5]

For every case, an entry point's worst input known so far is measured at sizes
n and 2n, and so is ordinary input of the same sizes. Reported: seconds and
peak memory growth at each size (each call in a forked child with a deadline,
see bench/abuse_measure.py), t(2n)/t(n) (goal <= 2.5: linear) and worst over
ordinary at 2n (goal <= 2). Entry points: the import reader and the column
checks (tasks/imports/), a batch's recipients CSV (tasks/pdf/sources.py), JSON
bodies of POST /api/jobs, export filters (core/exports.py) and sign-in
(POST /login, with 50 rapid attempts). Then a short hypothesis search per entry
point looks for worse inputs (bench/abuse_search.py). Writes
bench/results/abuse.json and prints a table.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import harness
from bench.abuse_measure import Case, measure

ENTRIES = ("reader", "checks", "recipients", "json", "exports", "signin")
NEEDS_DATABASE = {"json", "exports", "signin"}
GROWTH_GOAL = 2.5  # t(2n) / t(n): linear
ORDINARY_GOAL = 2.0  # worst / ordinary at the same size
FLOOR = 0.01  # seconds: a call this fast meets both goals (ratios of such times are noise)


def cases_for(entry: str, quick: bool, web) -> list[Case]:
    from bench import abuse_checks, abuse_files, abuse_web
    return {
        "reader": lambda: abuse_files.reader_cases(quick),
        "checks": lambda: abuse_checks.checks_cases(quick),
        "recipients": lambda: abuse_files.recipients_cases(quick),
        "json": lambda: abuse_web.json_cases(web, quick),
        "exports": lambda: abuse_web.export_cases(web, quick),
        "signin": lambda: abuse_web.signin_cases(web, quick),
    }[entry]()


def run_case(case: Case, deadline: float, ordinary_cache: dict) -> dict:
    """Worst and ordinary input at n and 2n, and the two ratios."""
    worst, ordinary = [], []
    for size in case.sizes:
        if worst and worst[-1]["timed_out"]:
            worst.append({"size": size, "seconds": None, "timed_out": True,
                          "outcome": "not run: n timed out already"})
        else:
            worst.append({"size": size, **measure(case.worst, size, deadline)})
        key = (case.ordinary, size)
        if key not in ordinary_cache:
            ordinary_cache[key] = {"size": size, **measure(case.ordinary, size, deadline)}
        ordinary.append(ordinary_cache[key])
    row = {"entry": case.entry, "case": case.name, "unit": case.unit, "sizes": list(case.sizes),
           "worst": worst, "ordinary": ordinary, **ratios(worst, ordinary, deadline)}
    if case.note:
        row["note"] = case.note
    return row


def ratios(worst: list[dict], ordinary: list[dict], deadline: float) -> dict:
    """t(2n)/t(n) and worst/ordinary at 2n; a timed-out run gives a lower bound (">x")."""
    w1, w2, o2 = worst[0]["seconds"], worst[1]["seconds"], ordinary[1]["seconds"]
    growth, linear = _against(w2, w1, GROWTH_GOAL, deadline)
    over, near = _against(w2, o2, ORDINARY_GOAL, deadline)
    return {"growth": growth, "worst_over_ordinary": over,
            "goals": {"linear": bool(linear), "within_2x_ordinary": near}}


def _against(slow, base, goal: float, deadline: float):
    """``slow / base`` and whether it is within ``goal``; (None, None) without a base."""
    if base is None:
        return None, None
    if slow is None:
        return f">{deadline / max(base, 1e-6):.1f}", False
    ratio = round(slow / max(base, 1e-6), 2)
    return ratio, slow < FLOOR or ratio <= goal


def _seconds(run: dict) -> str:
    if run["seconds"] is None:
        return f">{run['deadline']:g}s (timed out)" if run.get("deadline") else "not run"
    return f"{run['seconds']:.3f}s" if run["seconds"] >= 0.001 else f"{run['seconds'] * 1e6:.0f}µs"


def _size(value: int, unit: str) -> str:
    if unit == "bytes" and value >= 1 << 20:
        return f"{value / (1 << 20):.4g} MB"
    if unit == "bytes" and value >= 1 << 10:
        return f"{value / (1 << 10):.4g} KB"
    return f"{value:,}" + ("" if unit == "bytes" else " ch")


def _ratio(value) -> str:
    return "-" if value is None else str(value)


def table(rows: list[dict]) -> str:
    head = (f"{'entry':<15} {'case':<60} {'n':>10} {'t(n)':>10} {'t(2n)':>18} "
            f"{'t2n/tn':>7} {'×ordin.':>8} {'MB(2n)':>7}  outcome at 2n")
    lines = [head, "-" * len(head)]
    for row in rows:
        w = row["worst"]
        mb = w[1].get("peak_growth_mb")
        lines.append(
            f"{row['entry']:<15} {row['case'][:60]:<60} {_size(row['sizes'][0], row['unit']):>10} "
            f"{_seconds(w[0]):>10} {_seconds(w[1]):>18} {_ratio(row['growth']):>7} "
            f"{_ratio(row['worst_over_ordinary']):>8} {'-' if mb is None else mb:>7}  "
            f"{w[1]['outcome'][:70]}")
    return "\n".join(lines)


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    parser.add_argument("--only", default=",".join(ENTRIES),
                        help=f"entry points, comma-separated: {', '.join(ENTRIES)}")
    parser.add_argument("--deadline", type=float, default=20.0,
                        help="seconds a measurement may take before it is killed")
    parser.add_argument("--search-seconds", type=float, default=5.0,
                        help="hypothesis search budget per entry point (0: no search)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "abuse.json")
    args = parser.parse_args(argv)
    args.only = [e for e in args.only.split(",") if e]
    unknown = sorted(set(args.only) - set(ENTRIES))
    if unknown:
        parser.error(f"unknown entry point {unknown[0]!r}; one of: {', '.join(ENTRIES)}")
    return args


def start_web(stack: contextlib.ExitStack):
    """A scratch database (DATABASE_URL, else TEST_DATABASE_URL, else an embedded
    PostgreSQL) and the app on it; returns (the app's handle, where the database is)."""
    from bench import abuse_web
    if not os.environ.get("DATABASE_URL") and os.environ.get("TEST_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-abuse-")))
    url, where = harness.start_database(stack, scratch)
    return abuse_web.start(url, harness.bench_token(url)), where


def main(argv=None) -> int:
    args = _arguments(argv)
    began = time.monotonic()
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "quick": args.quick, "deadline_seconds": args.deadline, "cpus": os.cpu_count(),
              "python": platform.python_version(), "load_average_at_start": os.getloadavg(),
              "goals": {"growth_at_most": GROWTH_GOAL, "worst_over_ordinary_at_most": ORDINARY_GOAL,
                        "calls_under_seconds_meet_both": FLOOR},
              "cases": []}
    with contextlib.ExitStack() as stack:
        web = None
        if NEEDS_DATABASE & set(args.only):
            web, result["database"] = start_web(stack)
        cache: dict = {}
        for entry in args.only:
            for case in cases_for(entry, args.quick, web):
                row = run_case(case, args.deadline, cache)
                result["cases"].append(row)
                print(table([row]).splitlines()[-1], flush=True)
        if "signin" in args.only:
            result["rapid_sign_in"] = _rapid(web, args.deadline)
        if args.search_seconds > 0:
            from bench import abuse_search
            result["search"] = abuse_search.run_all(args.only, web, args.search_seconds)
    result["seconds"] = round(time.monotonic() - began, 1)
    result["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(result["cases"]))
    _print_extras(result)
    print(f"\n{len(result['cases'])} cases in {result['seconds']}s; written to {args.out}")
    return 0


def _rapid(web, deadline: float) -> dict:
    from functools import partial

    from bench import abuse_web
    return measure(lambda _: partial(abuse_web.rapid_attempts, web), 50, max(deadline, 60))


def _print_extras(result: dict) -> None:
    rapid = result.get("rapid_sign_in")
    if rapid:
        print(f"\nsign-in, 50 rapid wrong passwords for one account: {rapid['outcome']}; "
              f"{rapid.get('median_seconds_per_attempt')}s per attempt (median), "
              f"peak growth {rapid.get('peak_growth_mb')} MB")
    for found in result.get("search", []):
        print(f"search {found['entry']}: {found['outcome']}")


if __name__ == "__main__":
    sys.exit(main())
