"""Checking the values of a column, a batch at a time.

Pure. Each column's check has a fast path for a whole batch (one regular
expression over the batch's values joined, set lookups, memoised dates) and an
exact per-value path that says what is wrong; the exact path runs only on a
batch the fast path rejects, so a clean file costs a few C calls per batch.

No pattern sees a value longer than the column's ``max_length`` or, for every
column, than a record may hold (``max_chars``): lengths are looked at first, and
every shape is matched in time linear in the value.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from core.csvimport import MAX_RECORD_CHARS
from core.datasets import ColumnSpec

SEP = "\x1f"
# Time of day, and a UTC offset (Z, +09, +0900, +09:00): each part matched once, no repeat
# inside a repeat.
TIME = r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
OFFSET = r"(?:Z|[+-](?:0[0-9]|1[0-5])(?::?[0-5][0-9])?)"
_SHAPES = {
    "integer": r"[+-]?[0-9]{1,18}",
    "decimal": r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})",
    "date": r"[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}",
    "boolean": r"(?i:true|false|t|f|yes|no|y|n|on|off|1|0)",
    # Something, "@", then a domain with a dot neither first nor last; each part is
    # matched once (possessive: "a@" and many dots cannot make it try every split).
    "email": r"[^@\s\x1f\",;<>()\[\]]++@[^@\s\x1f\",;<>()\[\]][^@\s\x1f\",;<>()\[\].]*+"
             r"\.[^@\s\x1f\",;<>()\[\]]++",
    "text": r"[^\x1f]*",
    "timestamp": rf"[0-9]{{4}}[-/][0-9]{{1,2}}[-/][0-9]{{1,2}}(?:[T ]{TIME}{OFFSET}?)?",
    "time": TIME,
}
_WHAT = {"integer": "a whole number", "decimal": "a number", "date": "a date (YYYY-MM-DD)",
         "boolean": "true or false", "email": "an email address",
         "timestamp": "a date and time (YYYY-MM-DD HH:MM[:SS[.ffffff]], a T or a space "
                      "between them, optionally an offset such as Z or +09:00)",
         "time": "a time of day (HH:MM or HH:MM:SS[.ffffff], 00:00 to 23:59:59)"}
_STAMP = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[T ]([0-9]{1,2}):([0-9]{2})"
                    r"(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?")
_MEMO_LIMIT = 100_000
# A batch's dates: month and day in range (29 February is looked at apart).
_DATE_FAST = (r"[0-9]{4}[-/](?:(?:0?[13578]|1[02])[-/](?:0?[1-9]|[12][0-9]|3[01])"
              r"|(?:0?[469]|11)[-/](?:0?[1-9]|[12][0-9]|30)|0?2[-/](?:0?[1-9]|1[0-9]|2[0-9]))")
_LEAP_DAYS = re.compile(r"([0-9]{4})[-/]0?2[-/]29")
_YEARS = re.compile(r"(?:^|\x1f)([0-9]{4})")


# A pattern that may match the separator (any character, a negated class, an escape
# other than \d, \w and punctuation) is checked value by value, or its lookahead in the
# batch's pattern could run on across the values after its own.
_MAY_CROSS = re.compile(r"\.|\[\^|\\[^dw\W]")


class ColumnCheck:
    """The checks of one column, from its spec; no value longer than ``max_chars``
    (what a record may hold) passes, whatever the spec says."""

    def __init__(self, spec: ColumnSpec, max_chars: int = MAX_RECORD_CHARS):
        self.spec, self.max_chars = spec, max_chars
        self.longest = min(max_chars, spec.max_length if spec.max_length is not None
                           else max_chars)
        self.shape = re.compile(_SHAPES[spec.type], re.DOTALL)
        self.pattern = re.compile(spec.pattern, re.DOTALL) if spec.pattern else None
        self.choices = frozenset(spec.choices)
        self.pattern_apart = bool(spec.pattern and _MAY_CROSS.search(spec.pattern))
        # The batch's pattern bounds the length of each value before any other pattern...
        self._bounded = spec.type in ("text", "email") and (
            spec.max_length is not None and spec.max_length <= max_chars)
        # ...and a text value holding the separator would pass it as two shorter ones.
        self._one_each = spec.type == "text" and bool(
            spec.max_length or spec.min_length or (spec.pattern and not self.pattern_apart))
        self._batch = re.compile(self._batch_pattern(), re.DOTALL)
        self._good_dates: set[str] = set()
        self.nulls = spec.nulls
        self.zone = ZoneInfo(spec.timezone) if spec.type == "timestamp" else None
        # Whether values change on their way to the database (else a batch goes as it came).
        self.rewrites = spec.trim or bool(spec.null) or spec.type == "timestamp"

    def _batch_pattern(self) -> str:
        spec = self.spec
        one = {"date": _DATE_FAST, "timestamp": f"{_DATE_FAST}(?:[T ]{TIME}{OFFSET}?)?"}.get(
            spec.type, _SHAPES[spec.type])
        if spec.required and spec.type == "text":
            one = r"[^\x1f]+"
        if spec.pattern and not self.pattern_apart:
            one = f"(?=(?:{spec.pattern})(?:\\x1f|\\Z)){one}"
        if self._bounded or (spec.type in ("text", "email") and spec.min_length):  # first
            low, high = spec.min_length or 0, spec.max_length or ""
            one = f"(?=[^\\x1f]{{{low},{high}}}(?:\\x1f|\\Z)){one}"
        if not spec.required:
            one = f"(?:{one})?"
        # Each value is matched once, up to its separator: retrying every way the
        # values before a bad one can match would take exponential time.
        one = f"(?>{one}(?=\\x1f|\\Z))"
        return f"{one}(?:\\x1f{one})*+"

    def prepared(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """A batch's values trimmed (if the column says so) and each null spelling made
        empty, as ``batch_ok`` takes them."""
        if self.spec.trim:
            values = tuple(map(str.strip, values))
        if self.spec.null:
            nulls = self.nulls
            values = tuple("" if v in nulls else v for v in values)
        return values

    def finished(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """Prepared good values as they go to the database: a timestamp without an offset
        is given its column's (the database would read it in its session's zone)."""
        if self.zone is None:
            return values
        return tuple(self._with_offset(v) if v else v for v in values)

    def loaded(self, value: str) -> str:
        """One good value as it goes to the database."""
        return self.finished(self.prepared((value,)))[0]

    def _with_offset(self, value: str) -> str:
        parts = _STAMP.fullmatch(value).groups()
        if parts[7] is not None:
            return value
        return local_time(_naive(parts), self.zone).isoformat()

    def batch_ok(self, values: tuple[str, ...]) -> bool:
        """Whether every prepared value in the batch is good (False: look at each one)."""
        joined = SEP.join(values)
        if (not self._bounded and len(joined) > self.longest
                and max(map(len, values)) > self.longest):
            return False  # before any pattern: none runs on a value too long
        if self._one_each and values and joined.count(SEP) != len(values) - 1:
            return False
        if not self._batch.fullmatch(joined):
            return False
        spec = self.spec
        present = values if spec.required else [v for v in values if v]
        if self.choices and not self.choices.issuperset(present):
            return False
        if self.pattern_apart and not all(map(self.pattern.fullmatch, present)):
            return False
        if spec.type in ("date", "timestamp"):
            return self._dates_ok(joined, present)
        if spec.type in ("integer", "decimal") and present and (spec.min is not None
                                                                or spec.max is not None):
            return self._numbers_ok(present)
        return True

    def _dates_ok(self, joined: str, present) -> bool:
        if any(int(y) % 4 or (int(y) % 100 == 0 and int(y) % 400)
               for y in _LEAP_DAYS.findall(joined)):
            return False
        low, high = self.spec.min, self.spec.max
        if low is None and high is None:
            return True
        years = _YEARS.findall(joined)
        if years and (low is None or min(years) > f"{low.year:04d}") and (
                high is None or max(years) < f"{high.year:04d}"):
            return True
        fresh = set(present) - self._good_dates  # near a bound: look at each distinct date
        if any(self.problem(v) for v in fresh):
            return False
        if len(self._good_dates) < _MEMO_LIMIT:
            self._good_dates |= fresh
        return True

    def _numbers_ok(self, present) -> bool:
        if self.spec.type == "integer":
            numbers = list(map(int, present))
            return self._in_range(min(numbers)) and self._in_range(max(numbers))
        # Floats decide quickly unless a value is within rounding of a bound.
        floats = list(map(float, present))
        low, high = self.spec.min, self.spec.max
        margin = 1e-6 * max(abs(low or 0), abs(high or 0), 1)
        if (low is None or min(floats) > low + margin) and (high is None
                                                            or max(floats) < high - margin):
            return True
        return all(self._in_range(Decimal(v)) for v in present)

    def problem(self, value: str) -> str | None:
        """What is wrong with one value, or None."""
        spec = self.spec
        if spec.trim:
            value = value.strip()
        if value in self.nulls:
            if not spec.required:
                return None
            return "is required" if value == "" else (
                f"is {value!r}, which this dataset reads as no value, and the column is required")
        if len(value) > self.longest:  # before any pattern runs on it
            return self._too_long(len(value))
        if SEP in value and spec.type != "text":
            return f"is not {_WHAT[spec.type]}"
        if not self.shape.fullmatch(value):
            return f"is not {_WHAT.get(spec.type, 'text')}"
        if spec.min_length is not None and len(value) < spec.min_length:
            return f"is {len(value)} characters long; at least {spec.min_length} are needed"
        if self.pattern and not self.pattern.fullmatch(value):
            return f"does not match the pattern {spec.pattern}"
        if self.choices and value not in self.choices:
            return f"must be one of: {', '.join(spec.choices)}"
        return self._typed_problem(value)

    def _too_long(self, length: int) -> str:
        if self.spec.max_length is not None and self.spec.max_length <= self.max_chars:
            return f"is {length} characters long; at most {self.spec.max_length} are allowed"
        return (f"is {length:,} characters long; no value may be longer than "
                f"{self.max_chars:,} characters (the most a record may hold, "
                "IMPORT_MAX_RECORD_CHARS)")

    def _typed_problem(self, value: str) -> str | None:
        kind = self.spec.type
        if kind == "timestamp":
            try:
                _naive(_STAMP.fullmatch(value).groups())
            except ValueError:
                return "is not a date and time that exists"
            return None
        if kind == "date":
            try:
                parsed = date(*map(int, re.split("[-/]", value)))
            except ValueError:
                return "is not a date that exists"
            return None if self._in_range(parsed) else self._range_text()
        if kind in ("integer", "decimal"):
            try:
                number = int(value) if kind == "integer" else Decimal(value)
            except (ValueError, InvalidOperation):
                return f"is not {_WHAT[kind]}"
            return None if self._in_range(number) else self._range_text()
        return None

    def _in_range(self, value) -> bool:
        low, high = self.spec.min, self.spec.max
        return (low is None or value >= low) and (high is None or value <= high)

    def _range_text(self) -> str:
        low, high = self.spec.min, self.spec.max
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return f"must be at least {low}" if low is not None else f"must be at most {high}"


def _naive(parts: tuple) -> datetime:
    """The date and time a ``_STAMP`` match names, with its offset if it has one."""
    year, month, day, hour, minute, second, fraction, offset = parts
    moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                      int(second or 0), int((fraction or "0").ljust(6, "0")))
    if offset is None:
        return moment
    if offset == "Z":
        return moment.replace(tzinfo=timezone.utc)
    digits = offset[1:].replace(":", "").ljust(4, "0")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(tzinfo=timezone(-delta if offset[0] == "-" else delta))


def local_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as PostgreSQL reads it: a time a clock change skips
    or repeats takes the smaller of the two offsets (standard time)."""
    first, second = moment.replace(tzinfo=zone), moment.replace(tzinfo=zone, fold=1)
    return second if second.utcoffset() < first.utcoffset() else first
