"""python -m autoscaler.simulate TRACE [--out plot.png] [--json out.json]

Replays a workload trace through the autoscaler's decision in simulated time and
prints worker-seconds used against the ideal and always-on baselines. The only
module that needs matplotlib (the Lambda does not).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from autoscaler import trace as traces
from autoscaler.config import load
from autoscaler.errors import AutoscalerError
from autoscaler.sim import Result, simulate


def main(argv: list[str] | None = None, environ=None) -> int:
    """Run the simulation CLI; returns the exit code."""
    args = _arguments().parse_args(argv)
    try:
        data = json.loads(Path(args.trace).read_text())
        for assignment in args.set:
            traces.override(data, assignment)
        trace = traces.parse(data, base=load(os.environ if environ is None else environ))
    except (OSError, ValueError, AutoscalerError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    result = simulate(trace, step=args.step)
    print(report(result, trace.description))
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(result, args.trace), indent=2) + "\n")
    if args.out:
        plot(result, args.out, title=trace.description or Path(args.trace).name)
        print(f"plot: {args.out}")
    return 0


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autoscaler.simulate",
                                     description="Replay a workload trace through decide().")
    parser.add_argument("trace", help="a JSON trace (see autoscaler/traces/example.json)")
    parser.add_argument("--out", help="write a PNG plot here")
    parser.add_argument("--json", help="write the figures as JSON here")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="change the trace, e.g. worker.startup=10 or pools.*.cooldown=0 "
                             "(repeatable; VALUE is JSON)")
    parser.add_argument("--step", type=float, default=1.0, help="simulated seconds per tick")
    return parser


def as_json(result: Result, source: str) -> dict:
    """The figures of a run, ready for json.dumps."""
    return {"trace": source, "totals": result.totals, "pools": result.pools}


def report(result: Result, description: str = "") -> str:
    """The figures as a small text table."""
    lines = [description] if description else []
    lines.append(f"{'pool':<10}{'runs on':>8}{'tasks':>7}{'used':>9}{'ideal':>9}{'ratio':>7}"
                 f"{'starting':>10}{'idle':>7}{'peak':>6}{'wait p50':>10}{'wait p95':>10}{'wait max':>10}")
    for name, f in result.pools.items():
        ratio = f"{f['used'] / f['ideal']:.2f}" if f["ideal"] else "-"
        lines.append(f"{name:<10}{f['runtime']:>8}{f['tasks']:>7}{f['used']:>9}{f['ideal']:>9}{ratio:>7}"
                     f"{f['starting']:>10}{f['idle']:>7}{f['peak_workers']:>6}{f['wait_p50']:>9.0f}s{f['wait_p95']:>9.0f}s"
                     f"{f['wait_max']:>9.0f}s")
    t = result.totals
    lines += [
        f"worker-seconds used {t['used']}, ideal (busy only) {t['ideal']}: "
        f"{t['used_over_ideal']}x the ideal; of it starting {t['starting']}, idle {t['idle']}",
        f"always on, one worker per pool: {t['always_on_one_per_pool']} "
        f"({t['used_over_always_on_one_per_pool']:.2%} of it used)",
        f"always on, every pool at its max: {t['always_on_at_max']} "
        f"({t['used_over_always_on_at_max']:.2%} of it used)",
    ]
    return "\n".join(lines)


def plot(result: Result, path: str, title: str = "") -> None:
    """A PNG per pool: the whole run, and a zoom on its busiest stretch."""
    plt = _pyplot()
    names = list(result.series)
    fig, axes = plt.subplots(len(names), 2, figsize=(15, 2.8 * len(names)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    for row, name in zip(axes, names):
        s, f = result.series[name], result.pools[name]
        for ax, (lo, hi), width in zip(row, [(0, len(s.t)), busiest(s)], (5, 8)):
            _panel(ax, s, lo, hi)
            _clock_axis(ax, width)
        row[0].set_ylabel(f"{name}\nmessages")
        row[0].set_title(f"{name}: used {f['used']} worker-s, ideal {f['ideal']}, "
                         f"starting {f['starting']}, idle {f['idle']}", fontsize=9)
        row[1].set_title(f"{name}: busiest stretch", fontsize=9)
    t = result.totals
    fig.suptitle(f"{title}\nused {t['used']} worker-s = {t['used_over_ideal']}x the ideal "
                 f"({t['ideal']}); always on, one per pool: {t['always_on_one_per_pool']}")
    _save(plt, fig, path)


def compare(runs: dict[str, Result], pool: str, path: str, title: str = "") -> None:
    """A PNG of one pool's busiest stretch under each run, side by side on one scale."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(7.5 * len(runs), 3.6), squeeze=False)
    window = busiest(next(iter(runs.values())).series[pool])  # one stretch for every run
    for ax, (label, result) in zip(axes[0], runs.items()):
        s, f = result.series[pool], result.pools[pool]
        _panel(ax, s, *window, lambda_pool=f["runtime"] == "lambda")
        _clock_axis(ax, 8)
        ax.set_ylabel("messages")
        ax.set_title(f"{label}\n{pool} on {f['runtime']}: cost {f['used']} worker-s "
                     f"(ideal {f['ideal']}), p95 wait {f['wait_p95']:.0f}s", fontsize=9)
    fig.suptitle(title)
    _save(plt, fig, path)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _clock_axis(ax, width: int) -> None:
    """Clock times (``HH:MM`` or ``HH:MM:SS`` by ``width``) on the x axis, six at most."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    ax.xaxis.set_major_formatter(FuncFormatter(lambda hours, _: _clock(hours, width)))
    ax.xaxis.set_major_locator(MaxNLocator(6))


def _save(plt, fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _clock(hours: float, width: int) -> str:
    seconds = round(hours * 3600)
    text = f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return text[:width]


def _panel(ax, s, lo: int, hi: int, lambda_pool: bool = False) -> None:
    hours = [t / 3600 for t in s.t[lo:hi]]
    ax.set_xlim(hours[0] if hours else 0, hours[-1] if hours else 1)
    ax.fill_between(hours, s.backlog[lo:hi], step="post", alpha=0.25, color="tab:blue",
                    label="backlog (messages)")
    workers = ax.twinx()
    names = (("invocations running", "environments (idle ones warm, unbilled)", None)
             if lambda_pool else ("desired", "workers (starting too)", "workers ready"))
    workers.step(hours, s.desired[lo:hi], where="post", color="tab:orange", label=names[0])
    workers.step(hours, s.running[lo:hi], where="post", color="tab:green", linestyle="--",
                 label=names[1])
    if names[2]:
        workers.step(hours, s.ready[lo:hi], where="post", color="tab:purple", linestyle=":",
                     label=names[2])
    workers.set_ylim(bottom=0, top=max(s.running[lo:hi] + s.desired[lo:hi] + [1]) * 1.15)
    workers.set_ylabel("workers")
    handles = ax.get_legend_handles_labels()[0] + workers.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=7)


def busiest(s, pad: int = 12) -> tuple[int, int]:
    """Sample indexes around the pool's peak of workers, from idle to idle (plus ``pad``)."""
    if not s.t:
        return 0, 0
    peak = max(range(len(s.t)), key=lambda i: (s.running[i], s.backlog[i]))
    lo, hi = peak, peak
    while lo > 0 and (s.running[lo - 1] or s.backlog[lo - 1]):
        lo -= 1
    while hi < len(s.t) - 1 and (s.running[hi] or s.backlog[hi]):
        hi += 1
    return max(0, lo - pad), min(len(s.t), hi + pad)


if __name__ == "__main__":
    sys.exit(main())
