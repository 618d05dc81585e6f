"""A search for slow inputs with hypothesis: the engine the searches of
bench/abuse_search.py share.

Examples are built by structured generators (a prefix, a pumped middle and a
suffix of tokens that matter to the parser) and timed, and hypothesis's
``target()`` steers towards the slowest; the search stops when its time budget
is spent.
"""
from __future__ import annotations

import itertools
import time
from functools import partial
from typing import Callable

from hypothesis import HealthCheck, Phase, assume, given, seed, settings, target
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

ROUND_EXAMPLES = 300
KEEP = 5  # slowest inputs timed again


def pumped(tokens: list):
    """(prefix, pump, suffix), each a few tokens: the classic shape of an input that
    makes a backtracking matcher or a re-scanning parser slow (``pump`` repeated)."""
    few = partial(st.lists, st.sampled_from(tokens))
    return st.tuples(few(max_size=4), few(min_size=1, max_size=3), few(max_size=4))


def pump(example: tuple, size: int):
    """The prefix, the pump repeated, the suffix: ``size`` tokens' worth in all."""
    empty = example[1][0][:0]  # "" or b""
    prefix, middle, suffix = (empty.join(part) for part in example)
    return prefix + middle * max(1, (size - len(prefix) - len(suffix)) // len(middle)) + suffix


def describe_pumped(example: tuple, size: int) -> str:
    prefix, middle, suffix = ("".join(map(repr, part)) or "''" for part in example)
    return f"{prefix} + ({middle}) repeated to {size} + {suffix}"


class _Spent(BaseException):
    """The search's time is up."""


def search(strategy, prepare: Callable, budget: float) -> dict:
    """Time the calls ``prepare(example) -> (description, call[, label])`` makes of
    examples of ``strategy`` for about ``budget`` seconds, steering towards slow ones
    (``prepare`` returns None for an example it cannot use; a label steers each kind
    of example apart). A call may return a dict with ``targets`` ({label: score}) to
    steer by more than time.

    Hypothesis starts steering once half its ``max_examples`` are run, so the search
    is rounds of ``ROUND_EXAMPLES`` examples, seeded 0, 1, 2, ... until the budget is
    spent. The slowest few inputs met are timed again (least of 3: one timing of a
    fast call is mostly noise) and the slowest of those is reported; so is the first
    input met that raised each kind of exception."""
    found = {"examples": 0, "rounds": 0, "errors": {}}
    slow: list[tuple] = []  # (seconds, description, outcome, call), the slowest first
    stop = time.monotonic() + budget

    def one(example):
        if time.monotonic() > stop:
            raise _Spent  # not an Exception: hypothesis lets it through at once, no replay
        prepared = prepare(example)
        assume(prepared is not None)
        description, call, label = (*prepared, "seconds")[:3]
        began = time.perf_counter()
        outcome = _outcome(call)
        took = time.perf_counter() - began
        found["examples"] += 1
        if "error" in outcome:
            found["errors"].setdefault(outcome["error"], f"{description[:200]} -> "
                                                         f"{outcome['outcome'][:120]}")
        target(took, label=label)
        for label, score in (outcome.get("targets") or {}).items():
            target(score, label=label)
        slow.append((took, description, str(outcome.get("outcome")), call))
        slow.sort(key=lambda item: -item[0])
        del slow[KEEP:]

    for round_seed in itertools.count():
        if time.monotonic() >= stop:
            break
        found["rounds"] += 1
        try:
            _seeded(given(strategy)(one), round_seed)()
        except _Spent:
            break
        except HypothesisException as exc:  # e.g. no example of the round could be used
            found["stopped"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            break
    again = [(min(timed(call) for _ in range(3)), d, o) for _, d, o, call in slow]
    seconds, description, outcome = max(again, default=(0.0, "", ""))
    return {**found, "seconds": seconds, "input": description[:300],
            "its_outcome": outcome[:160]}


def _seeded(test, round_seed: int):
    return settings(max_examples=ROUND_EXAMPLES, deadline=None, database=None,
                    phases=[Phase.generate, Phase.target],
                    suppress_health_check=list(HealthCheck))(seed(round_seed)(test))


def _outcome(call: Callable[[], object]) -> dict:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - a refusal is an outcome
        return {"outcome": f"{type(exc).__name__}: {str(exc)[:100]}",
                "error": type(exc).__name__}
    return result if isinstance(result, dict) else {"outcome": str(result)}


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    try:
        call()
    except Exception:  # noqa: BLE001
        pass
    return round(time.perf_counter() - began, 6)


def report(entry: str, size: str, best: dict, ordinary: float, extra: str = "") -> dict:
    ratio = round(best["seconds"] / max(ordinary, 1e-6), 1)
    return {"entry": entry, "size": size, **best, "ordinary_seconds": ordinary,
            "worst_over_ordinary": ratio,
            "outcome": f"slowest of {best['examples']} examples at {size}: {best['seconds']:.4f}s "
                       f"({ratio}x ordinary){extra}: {best.get('input', '')[:120]}"}


