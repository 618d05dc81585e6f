"""Matching a file's header to a dataset and checking its rows, a batch at a time.

Pure. Runs of rows the row shape matches are never split into fields. A batch
of parsed rows the column-wise fast checks accept costs no per-row Python work
beyond the CSV parser's own lists (and, for columns that trim, have null
spellings or hold timestamps, a pass over their values); a batch they reject is
checked row by row, and every problem goes to the error report with its line,
column, value and message.
"""
from __future__ import annotations

from operator import itemgetter
from typing import Callable

from core.csvimport import MAX_RECORD_CHARS
from core.datasets import DatasetSpec
from tasks.imports import shapes
from tasks.imports.checks import ColumnCheck
from tasks.imports.reading import FileProblem

Report = Callable[[int, str, str, str], None]


class BatchValidator:
    """Checks rows of a file whose header is ``header`` against ``spec``."""

    def __init__(self, spec: DatasetSpec, header: list[str], max_chars: int = MAX_RECORD_CHARS):
        self.spec, self.header, self.width = spec, header, len(header)
        positions = _positions(spec, header)
        self.columns = [name for name, _ in positions]
        self.checks = [(i, ColumnCheck(spec.column(name), max_chars), header[i])
                       for name, i in positions]
        indexes = [i for _, i in positions]
        # When every header is a known column, rows go to the database as they are.
        self.whole_rows = indexes == list(range(self.width))
        getter = itemgetter(*indexes)
        self.pick = getter if len(indexes) > 1 else (lambda row: (getter(row),))
        # Whether checked values differ from the file's (trimmed, nulls, offsets added).
        self.rewrites = any(check.rewrites for _, check, _ in self.checks)
        # Runs of rows one of these matches are clean as they stand (see shapes.row_shape).
        self.shapes = (shapes.row_shapes([check.spec for _, check, _ in self.checks],
                                         spec.copy_null, spec.session_zone)
                       if self.whole_rows else [])

    def check(self, rows: list[list[str]], lines: list[int], report: Report):
        """The rows to load (each as a tuple of the known columns) and how many were bad."""
        if min(map(len, rows)) == max(map(len, rows)) == self.width:
            columns = list(zip(*rows))
            ready = [check.prepared(columns[i]) for i, check, _ in self.checks]
            if all(check.batch_ok(ready[n]) for n, (_, check, _) in enumerate(self.checks)):
                if self.rewrites:
                    return list(zip(*(check.finished(values) for values, (_, check, _)
                                      in zip(ready, self.checks)))), 0
                return (rows if self.whole_rows else list(map(self.pick, rows))), 0
        good, bad = [], 0
        for row, line in zip(rows, lines):
            if self._row_problems(row, line, report):
                bad += 1
            elif self.rewrites:
                good.append(tuple(check.loaded(row[i]) for i, check, _ in self.checks))
            else:
                good.append(self.pick(row))
        return good, bad

    def _row_problems(self, row: list[str], line: int, report: Report) -> bool:
        if len(row) != self.width:
            report(line, "", "", f"has {len(row)} fields; the header has {self.width}")
            return True
        found = False
        for i, check, header in self.checks:
            message = check.problem(row[i])
            if message:
                report(line, header, row[i], message)
                found = True
        return found


def _positions(spec: DatasetSpec, header: list[str]) -> list[tuple[str, int]]:
    matched = spec.match_headers(header)
    seen: dict[str, int] = {}
    for i, name in enumerate(matched):
        if name is None:
            continue
        if name in seen:
            raise FileProblem(f"the headers {header[seen[name]]!r} and {header[i]!r} both name "
                              f"the column {name}; keep one of them")
        seen[name] = i
    missing = [c for c in spec.columns if (c.required or c.name in spec.key) and c.name not in seen]
    if missing:
        names = "; ".join(f"{c.name} (a header such as {', '.join((c.name, *c.aliases)[:3])})"
                          for c in missing)
        raise FileProblem(f"the file has no column for {names}; its header line is: "
                          f"{', '.join(header)[:300]}")
    return sorted(((name, i) for name, i in seen.items()), key=lambda item: item[1])
