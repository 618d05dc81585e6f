"""Looking for worse inputs than the hand-made ones, with hypothesis.

For each entry point a structured generator makes inputs of one fixed size
(tokens that matter to its parser: quotes, separators, line breaks, dots and
at-signs, nesting; see bench/abuse_hypothesis.py), and hypothesis's ``target()``
steers towards the slowest (and, for the recipients CSV and JSON bodies, the
most bytes stored or allocated). Each search runs in a forked child for a few
seconds, in seeded rounds, and reports the slowest input it met, its time, the
time of ordinary input of the same size, and the first input that raised each
kind of exception. The reader is searched with its block sizes scaled down 64
times (``READ_SIZE`` and friends), so that a 64 KB input spans as many blocks
as a 4 MB file does.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from hypothesis import strategies as st

from bench.abuse_hypothesis import describe_pumped, pump, pumped, report, search, timed
from bench.abuse_measure import measure

MB = 1 << 20


# -- one search per entry point; each is a call to run in a forked child

# Characters (and runs) that matter to each column type's patterns.
CHECK_TOKENS = {
    "email": ["a", "@", ".", "-", " ", "\x1f", '"', "a@", "x"],
    "integer": ["1", "0", "-", "+", " ", ".", "\x1f", "x"],
    "decimal": ["1", "0", "-", "+", ".", "e", " ", "\x1f"],
    "date": ["2020", "-", "/", "01", "1", "29", "02", " ", "\x1f"],
    "boolean": ["t", "true", "y", "1", "0", " ", "\x1f"],
    "text with pattern": ["0", "1", "+", "(", ")", " ", "-", "x", "\x1f"],
    "text": ["x", "\n", '"', ",", "\x1f", "é"],
}


def search_checks(budget: float) -> dict:
    """One search per column (half the budget each: they share nothing to steer by)."""
    from bench import abuse_checks
    size = 2000
    by_column = {}
    for column in abuse_checks.COLUMNS:
        check = abuse_checks.column_check(column)
        tokens = next(t for kind, t in CHECK_TOKENS.items() if column.startswith(kind))

        def prepare(example, check=check):
            return (describe_pumped(example, size),
                    partial(abuse_checks.validated, check, (pump(example, size),)))

        best = search(pumped(tokens), prepare, budget / 2)
        ordinary = timed(partial(abuse_checks.validated, check,
                                  abuse_checks.ordinary_values(column, size)))
        by_column[column] = report("column checks", f"{size} chars", best, ordinary)
    column, slowest = max(by_column.items(), key=lambda item: item[1]["worst_over_ordinary"])
    found = {**slowest, "by_column": by_column,
             "errors": {f"{c}: {kind}": text for c, f in by_column.items()
                        for kind, text in f["errors"].items()}}
    found["outcome"] = f"{column}: {slowest['outcome']}"
    return found


def search_reader(budget: float) -> dict:
    from bench import abuse_files
    from core.datasets import spec_named
    from tasks.imports import reading
    reading.READ_SIZE, reading.HEAD_SIZE, reading.TAIL_SIZE = 1 << 12, 1 << 10, 1 << 10
    spec, size = spec_named("customers"), 64 << 10
    tokens = [b"x", b",", b'"', b"\r", b"\n", b"\r\n", b"a@b.c", b'""', b"\xff",
              "山".encode(), b"2020-01-01", b"1", abuse_files.FIELDS_BYTES]

    def prepare(example):
        data = abuse_files.HEADER + pump(example, size)
        return describe_pumped(example, size), partial(abuse_files.read_file, spec, data)

    best = search(pumped(tokens), prepare, budget)
    ordinary = timed(partial(abuse_files.read_file, spec, abuse_files.customers_file(size)))
    return report("import reader", "64 KB (blocks 1/64)", best, ordinary)


def search_recipients(budget: float) -> dict:
    """Steered by time and by the bytes stored per byte of the file."""
    from bench import abuse_files
    size = 16 << 10
    tokens = [b"h", b",", b"\n", b'"', b"\r\n", b"x", "名".encode()]
    most = {"stored_per_input_byte": 0.0}

    def prepare(example):
        header, head_size, rows = example
        head = pump(header, head_size).replace(b"\n", b"").replace(b"\r", b"") + b"\n"
        data = head + pump(rows, max(1, size - len(head)))
        description = (f"a header of {describe_pumped(header, head_size)} "
                       f"({len(head)} bytes), then {describe_pumped(rows, size - len(head))}")

        def call():
            outcome = abuse_files.recipients(data)
            amplified = outcome.get("stored_per_input_byte", 0.0)
            if amplified > most["stored_per_input_byte"]:
                most.update(stored_per_input_byte=amplified, input=description[:200])
            return {**outcome, "targets": {"stored bytes per input byte": amplified}}
        return description, call

    strategy = st.tuples(pumped(tokens), st.integers(1, size - 1), pumped(tokens))
    best = search(strategy, prepare, budget)
    ordinary = timed(partial(abuse_files.recipients, abuse_files.ordinary_recipients(size)))
    found = report("recipients CSV", "16 KB", best, ordinary,
                   f"; most stored per input byte: {most['stored_per_input_byte']}")
    found["most_amplified"] = most
    return found


def _nested(depth: int, key: str, array: bool, width: int, leaf: int, nul: bool) -> str:
    import json
    value = json.dumps(["x" * leaf] * width + (["\0"] if nul else []))
    opening = "[" * depth if array else f'{{{json.dumps(key)}: ' * depth
    return opening + value + ("]" if array else "}") * depth


def _traced(call: Callable[[], dict]) -> tuple[dict, int]:
    """What ``call`` returns and the peak of Python memory it allocated (tracemalloc)."""
    import tracemalloc
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def search_json(web, budget: float) -> dict:
    """Steered by time and by the Python memory a request allocates (tracemalloc's
    peak; it slows every request, the ordinary one it is compared with too)."""
    from bench import abuse_web
    size = 64 << 10
    shapes = st.tuples(st.integers(0, 1200), st.text("k.\0[]", max_size=200), st.booleans(),
                       st.integers(0, 4000), st.integers(0, 2000), st.booleans())
    most = {"python_peak_mb": 0.0}

    def prepare(shape):
        body = ('{"kind": "canary", "params": ' + _nested(*shape) + "}").encode()
        if len(body) > size:
            return None
        description = (f"nested {shape[0]} deep, key {shape[1]!r}, array {shape[2]}, "
                       f"{shape[3]} strings of {shape[4]}, NUL {shape[5]} ({len(body)} bytes)")

        def call():
            outcome, peak = _traced(partial(abuse_web.post_job, web, body))
            if peak / MB > most["python_peak_mb"]:
                most.update(python_peak_mb=round(peak / MB, 1), input=description)
            return {**outcome, "targets": {"python peak bytes": peak}}
        return description, call

    best = search(shapes, prepare, budget)
    ordinary_body = abuse_web.pdf_rows_body(size)
    ordinary = timed(lambda: _traced(partial(abuse_web.post_job, web, ordinary_body)))
    _, ordinary_peak = _traced(partial(abuse_web.post_job, web, ordinary_body))
    most["ordinary_python_peak_mb"] = round(ordinary_peak / MB, 1)
    found = report("JSON bodies", "up to 64 KB", best, ordinary,
                    f"; most Python memory: {most['python_peak_mb']} MB, ordinary "
                    f"{most['ordinary_python_peak_mb']} MB ({most.get('input', '')})")
    found["most_memory"] = most
    return found


def search_exports(budget: float) -> dict:
    from bench import abuse_web
    from core import exports
    size = 64 << 10
    columns = [("jobs", c) for c in ("id", "kind", "owner", "status", "created_at")] + [
        ("customers", c) for c in ("balance", "points", "birth_date", "email")]
    one = st.tuples(st.sampled_from(columns), st.sampled_from(["eq", "in", "gte", "lte", "like"]),
                    st.text("0123456789-.:%_aT eE+", min_size=1, max_size=64),
                    st.integers(1, 1000), st.integers(1, 500))

    def prepare(filters):
        dataset = filters[0][0][0]
        params = {"dataset": dataset, "filters": [
            {"column": c, "op": op, "value": [(v * reps)[:3000]] * count if op == "in"
             else (v * reps)[:3000]} for (d, c), op, v, count, reps in filters if d == dataset]}
        text = repr(params)
        if len(text) > size:
            return None
        return text[:300], partial(exports.validate, params)

    best = search(st.lists(one, min_size=1, max_size=20), prepare, budget)
    ordinary = timed(partial(exports.validate, abuse_web.ordinary_filters(size)))
    return report("export filters", "up to 64 KB (validation)", best, ordinary)


def run_all(entries: list[str], web, budget: float) -> list[dict]:
    """Every search of ``entries``, each in a child with a deadline."""
    searches = {"checks": partial(search_checks, budget), "reader": partial(search_reader, budget),
                "recipients": partial(search_recipients, budget),
                "json": partial(search_json, web, budget),
                "exports": partial(search_exports, budget)}
    found = []
    for entry in entries:
        if entry == "signin":
            found.append({"entry": "sign-in", "outcome": "not searched: a name and a password "
                          "go into one fixed-cost hash; the cases above cover their length"})
            continue
        result = measure(lambda _, run=searches[entry]: run, 0, budget * 3 + 30)
        result.setdefault("entry", entry)
        found.append(result)
        print(f"search {result['entry']}: {result['outcome']}", flush=True)
    return found
