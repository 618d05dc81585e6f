"""One regular expression for a clean row: every column's check as a sub-pattern.

Pure. ``row_shape`` turns the columns of a file (in the file's order) into a
pattern that matches a run of whole CSV records, each ended by a line break,
whose every value passes every check of its column. It may refuse values the
checks accept (a number near a bound, a leading zero, an unusual quoting): such
rows go through the exact checks, which say what is wrong, if anything. It
never accepts a value the checks refuse, nor one the database would read
otherwise than the checks do: a null spelling loads as NULL only where COPY's
NULL option is that spelling, a value a column trims has no whitespace around
it, and a timestamp without an offset is taken only where its column's time
zone is the session's. A column it cannot express makes it return None, and
the file is checked row by row.
"""
from __future__ import annotations

import re
from datetime import date
from typing import NamedTuple

from core.datasets import ColumnSpec
from tasks.imports.checks import OFFSET, TIME, ColumnCheck

PLAIN = r'[^",\r\n\x1f]'  # a character of an unquoted field: no delimiter, quote or break
_QUOTED_CHAR = r'(?:[^"\x1f\r]|\r(?=\n)|"")'  # one character of a quoted value
_UNQUOTED_END = r'(?![^",\r\n\x1f])'
# Addresses whose domain is dot-separated labels: a part of what the email check takes.
_EMAIL = (r'[^@\s\x1f\",;<>()\[\]]++@(?:[^@\s\x1f\",;<>()\[\].]++\.)++'
          r'[^@\s\x1f\",;<>()\[\].]++')
_BOOLEAN = r"(?i:true|false|t|f|yes|no|y|n|on|off|1|0)"
_DAYS = (r"(?:(?:0?[13578]|1[02])[-/](?:0?[1-9]|[12][0-9]|3[01])"
         r"|(?:0?[469]|11)[-/](?:0?[1-9]|[12][0-9]|30)|0?2[-/](?:0?[1-9]|1[0-9]|2[0-8]))")
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
# A pattern the fast check may embed: character classes (no negation, no escapes)
# and plain characters, each with an optional quantifier.
_ONE_CLASS = re.compile(r"(\[[^\]\\\[^][^\]\\\[]*\])[+*]")
_SAFE_PATTERN = re.compile(r"(?:(\[[^\]\\\[^][^\]\\\[]*\])|[A-Za-z0-9_ -])(?:[*+?]|\{\d+(?:,\d*)?\})?")
_QUOTED_SPAN = re.compile(r'"[^"]*"')


class RowShape(NamedTuple):
    """A pattern for runs of clean records, and the NULL option COPY reads them with."""

    pattern: re.Pattern
    null: str


def row_shapes(columns: list[ColumnSpec], copy_null: str | None = None,
               zone: str = "UTC") -> list[RowShape]:
    """Shapes of clean records of these columns: nulls written empty, and (if the dataset
    has another null spelling) nulls written ``copy_null``; none if a column cannot be
    expressed. ``zone`` is the database session's time zone."""
    shapes = []
    for null in ("", *([copy_null] if copy_null else [])):
        pattern = row_shape(columns, null, zone)
        if pattern is None:
            return []
        shapes.append(RowShape(pattern, null))
    return shapes


def row_shape(columns: list[ColumnSpec], null: str = "",
              zone: str = "UTC") -> re.Pattern | None:
    """A pattern matching a run of clean records of these columns (None: no fast check),
    read by a COPY whose NULL option is ``null`` in a session whose time zone is ``zone``."""
    fields = [field_pattern(column, null, zone) for column in columns]
    if None in fields:
        return None
    row = r"(?![\r\n])" + ",".join(fields) + r"\r?\n"
    return re.compile(f"(?:{row})*+")


def count_records(clean: str) -> tuple[int, int]:
    """Records and lines in text ``row_shape`` matched: every line break ends a record
    but those inside quoted values."""
    lines = clean.count("\n")
    if '"' not in clean:
        return lines, lines
    return lines - "".join(_QUOTED_SPAN.findall(clean)).count("\n"), lines


def field_pattern(spec: ColumnSpec, null: str = "", zone: str = "UTC") -> str | None:
    """One field of the column, quoted or not, whose value passes every check and which
    a COPY with the NULL option ``null`` reads as the checks do."""
    if spec.choices:
        alternatives = _choices(spec)
    elif spec.type == "text" and not spec.pattern:
        alternatives = _text(spec)
    elif spec.type in ("text", "email"):
        alternatives = _checked_text(spec)
    elif spec.pattern or spec.max_length or spec.min_length:
        return None
    else:
        value = _typed(spec, zone)
        alternatives = value and [value, f'"{value}"']
    if alternatives is None:
        return None
    values = f"(?:{'|'.join(alternatives) or '(?!)'})"
    taken = sorted({*spec.null, *([null] if null else [])})
    if taken:  # a null spelling is no value, and an unquoted ``null`` COPY reads as NULL
        words = "|".join(map(re.escape, taken))
        values = f'(?!(?:{words}){_UNQUOTED_END}|"(?:{words})"){values}'
    if spec.required:
        return values
    if not null:
        return f'(?:{values}|""|)'
    if null in spec.null:
        return f'(?:{re.escape(null)}{_UNQUOTED_END}|"{re.escape(null)}"|{values})'
    return values  # no way to write this column's null that COPY reads as NULL


def _lengths(spec: ColumnSpec) -> str:
    low = max(spec.min_length or 0, 1)
    return f"{{{low},{'' if spec.max_length is None else spec.max_length}}}"


def _choices(spec: ColumnSpec) -> list[str]:
    check = ColumnCheck(spec)
    good = [c for c in spec.choices if c and not re.search(r"[\r\x1f]", c) and not check.problem(c)]
    return ([re.escape(c) for c in good if not re.search(r'[",\n]', c)]
            + ['"' + re.escape(c.replace('"', '""')) + '"' for c in good])


def _text(spec: ColumnSpec) -> list[str]:
    lengths = _lengths(spec)
    first, last = _edges(spec)
    return [f"{first}{PLAIN}{lengths}{last}", f'"{first}{_QUOTED_CHAR}{lengths}{last}"']


def _edges(spec: ColumnSpec) -> tuple[str, str]:
    """Around a value of a column that trims: no whitespace at either end (the checks
    would drop it and COPY would not)."""
    return (r"(?!\s)", r"(?<!\s)") if spec.trim else ("", "")


def _checked_text(spec: ColumnSpec) -> list[str] | None:
    """Text with a pattern, or an email: values without delimiters or quotes."""
    if spec.pattern and not _safe(spec.pattern):
        return None
    one_class = _ONE_CLASS.fullmatch(spec.pattern or "")
    first, last = _edges(spec)
    if one_class and spec.type == "text":  # "[...]+": the class and the lengths say it all
        value = lambda end: f"{first}{one_class.group(1)}{_lengths(spec)}{last}"  # noqa: E731
    else:
        body = _EMAIL if spec.type == "email" else f"{PLAIN}*"

        def value(end: str) -> str:
            pattern = f"(?=(?:{spec.pattern}){end})" if spec.pattern else ""
            return f"(?={PLAIN}{_lengths(spec)}{end}){pattern}{first}{body}{last}"

    return [value(_UNQUOTED_END), f'"{value(chr(34))}"']


def _safe(pattern: str) -> bool:
    """Whether ``pattern`` is made of pieces that cannot match a delimiter, a quote or a break."""
    pieces = list(_SAFE_PATTERN.finditer(pattern))
    if sum(len(m.group(0)) for m in pieces) != len(pattern):
        return False
    classes = [m.group(1) for m in pieces if m.group(1)]
    return not any(re.fullmatch(c, ch) for c in classes for ch in ',"\r\n\x1f')


def _typed(spec: ColumnSpec, zone: str = "UTC") -> str | None:
    if spec.type == "timestamp":
        # Without an offset, a value is read in the session's zone: only this column's.
        when = f"[T ]{TIME}{OFFSET}" + ("?" if spec.timezone == zone else "")
        return f"{_date(None, None)}(?:{when})" + ("?" if spec.timezone == zone else "")
    if spec.type == "time":
        return TIME
    if spec.type == "boolean":
        return _BOOLEAN
    if spec.type == "integer":
        return _number(spec, 18, "")
    if spec.type == "decimal":
        return _number(spec, 30, r"(?:\.[0-9]{1,20})?")
    if spec.type == "date":
        return _date(spec.min, spec.max)
    return None


def _number(spec: ColumnSpec, digits: int, fraction: str) -> str:
    """Numbers without leading zeros whose digit count alone keeps them within bounds."""
    low, high = spec.min, spec.max
    strict = bool(fraction)  # 10**d - 1 + a fraction stays below 10**d
    branches = []
    if high is None or high >= 0:
        width = _digits_within(high, digits, strict)
        at_least = _digits_reaching(low)
        if at_least is None:  # zero, and below one only when one is within bounds
            branches.append(f"0{fraction if high is None or high >= 1 else ''}")
            at_least = 1
        if width >= at_least:
            branches.append(f"[1-9][0-9]{{{at_least - 1},{width - 1}}}{fraction}")
    if (low is None or low < 0) and (high is None or high >= 0):
        width = _digits_within(None if low is None else -low, digits, strict)
        if width >= 1:
            branches.append(f"-[1-9][0-9]{{0,{width - 1}}}{fraction}")
    return f"(?:{'|'.join(branches) or '(?!)'})"


def _digits_within(bound, digits: int, strict: bool) -> int:
    """How many digits a number may have and stay at most ``bound`` (None: no bound)."""
    width = digits
    while bound is not None and width > 0 and (10 ** width - (0 if strict else 1)) > bound:
        width -= 1
    return width


def _digits_reaching(low) -> int | None:
    """Fewest digits (no leading zero) that keep a number at least ``low``; None: any."""
    if low is None or low <= 0:
        return None
    width = 1
    while 10 ** (width - 1) < low:
        width += 1
    return width


def _date(low: date | None, high: date | None) -> str:
    first = 1 if low is None else low.year + (low.timetuple().tm_yday > 1)
    last = 9999 if high is None else high.year - ((high.month, high.day) != (12, 31))
    if first > last:
        return "(?!)"
    years = _year_range(first, last)
    return f"(?:(?:{years})[-/]{_DAYS}|(?={_LEAP_YEAR}[-/])(?:{years})[-/]0?2[-/]29)"


def _year_range(first: int, last: int) -> str:
    """Four-digit years from ``first`` to ``last``."""
    return _digit_range(f"{first:04d}", f"{last:04d}")


def _digit_range(low: str, high: str) -> str:
    """Strings of digits as long as ``low`` from ``low`` to ``high`` (as numbers)."""
    if low == high:
        return low
    if len(low) == 1:
        return f"[{low}-{high}]"
    if low[0] == high[0]:
        return low[0] + _digit_range(low[1:], high[1:])
    rest = len(low) - 1
    parts, first, last = [], int(low[0]), int(high[0])
    if low[1:] != "0" * rest:
        parts.append(low[0] + _digit_range(low[1:], "9" * rest))
        first += 1
    tail = []
    if high[1:] != "9" * rest:
        tail.append(high[0] + _digit_range("0" * rest, high[1:]))
        last -= 1
    if first <= last:
        parts.append(f"[{first}-{last}]" + ("[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"))
    return f"(?:{'|'.join(parts + tail)})"
