"""The checks of each column type (tasks/imports/checks.py), value by value and by batch.

Column specs are the customers dataset's (datasets/customers.toml), plus an
e-mail column that declares no ``max_length`` (a spec may leave it out). The
ordinary input of the same size is the sample customers' own values
(tasks/imports/samples.py) adding up to as many characters.
"""
from __future__ import annotations

from functools import partial
from itertools import cycle

from bench.abuse_measure import Case
from core.datasets import ColumnSpec, spec_named
from tasks.imports import samples
from tasks.imports.checks import ColumnCheck

# column (as the bench names it) -> (where its spec comes from, position in a sample row)
COLUMNS = {
    "email (no max_length)": (ColumnSpec("email", type="email", required=True), 3),
    "email (max_length 254)": ("email", 3),
    "integer (points)": ("points", 8),
    "decimal (balance)": ("balance", 9),
    "date (birth_date)": ("birth_date", 4),
    "boolean": (ColumnSpec("active", type="boolean"), None),
    "text with pattern and max_length (phone)": ("phone", 7),
    "text with max_length (note)": ("note", 11),
}
# The worst value of n characters found for each column so far.
WORST = {
    "email (no max_length)": lambda n: "a@" + "." * (n - 3) + "@",
    "email (max_length 254)": lambda n: "a@" + "." * (n - 3) + "@",
    "integer (points)": lambda n: "1" * (n - 1) + "x",
    "decimal (balance)": lambda n: "1" * (n // 2) + "." + "1" * (n - n // 2 - 1),
    "date (birth_date)": lambda n: "2020-01-" + "1" * (n - 8),
    "boolean": lambda n: "t" * n,
    "text with pattern and max_length (phone)": lambda n: "0" * (n - 1) + "x",
    "text with max_length (note)": lambda n: "x" * n,
}


def column_check(column: str) -> ColumnCheck:
    spec, _ = COLUMNS[column]
    return ColumnCheck(spec if isinstance(spec, ColumnSpec)
                       else spec_named("customers").column(spec))


def ordinary_values(column: str, chars: int) -> tuple[str, ...]:
    """Sample customers' values of the column, adding up to ``chars`` characters."""
    _, position = COLUMNS[column]
    pool = ([row[position] or "x" for row in samples.customer_rows(500)] if position is not None
            else ["true", "false", "yes", "no", "1", "0"])
    out, total = [], 0
    for value in cycle(pool):
        if total >= chars:
            break
        out.append(value)
        total += len(value) + 1
    return tuple(out)


def problems(check: ColumnCheck, values: tuple[str, ...]) -> dict:
    """``problem()`` of each value."""
    found = sum(1 for v in values if check.problem(v))
    return {"outcome": f"{found} of {len(values)} values refused"}


def validated(check: ColumnCheck, values: tuple[str, ...]) -> dict:
    """What ``BatchValidator.check`` does with one column of a batch: ``batch_ok``,
    and ``problem()`` on each value when the batch is refused."""
    if check.batch_ok(values):
        return {"outcome": f"batch of {len(values)} accepted"}
    return problems(check, values)


def _per_value(column: str, n: int):
    return partial(problems, column_check(column), (WORST[column](n),))


def _per_value_ordinary(column: str, n: int):
    return partial(problems, column_check(column), ordinary_values(column, n))


def _batch(column: str, n: int):
    """Ordinary values of n/2 characters and one worst value of n/2 characters."""
    values = ordinary_values(column, n // 2) + (WORST[column](n // 2),)
    return partial(validated, column_check(column), values)


def _batch_ordinary(column: str, n: int):
    return partial(validated, column_check(column), ordinary_values(column, n))


def _many_emails(n: int):
    """Values of 254 characters (the customers spec's max_length) filling n characters."""
    return partial(validated, column_check("email (max_length 254)"),
                   (WORST["email (max_length 254)"](254),) * max(1, n // 255))


def checks_cases(quick: bool) -> list[Case]:
    short = (2_500, 5_000) if quick else (10_000, 20_000)
    long = (250_000, 500_000) if quick else (1_000_000, 2_000_000)
    cases = []
    for column in COLUMNS:
        sizes = short if column.startswith("email") else long
        cases.append(Case("column checks", f"{column}: problem() of one value",
                          partial(_per_value, column), partial(_per_value_ordinary, column),
                          sizes, "chars"))
        cases.append(Case("column checks", f"{column}: a batch holding one such value",
                          partial(_batch, column), partial(_batch_ordinary, column),
                          sizes, "chars"))
    many = (256_000, 512_000) if quick else (1_024_000, 2_048_000)
    cases.append(Case("column checks", "email (max_length 254): a batch of 254-char "
                      "'a@...@' values", _many_emails,
                      partial(_batch_ordinary, "email (max_length 254)"), many, "chars"))
    return cases
