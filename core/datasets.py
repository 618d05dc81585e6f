"""Dataset specs: what a table holds, declared in a TOML file, not in code.

A spec names the target table, its columns with their types and checks, the
unique key that imports upsert on, and the headers a file may use for each
column. ``load_specs`` reads every ``*.toml`` in a folder (``datasets/`` by
default); ``load_spec`` reads one file; ``spec_named`` picks one by name.
Imports use a spec to check and load rows; exports may use it to know which
tables exist and how their columns are called. Format: docs/datasets.md.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigurationError, InvalidRequest

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "datasets"
TYPES = {"text": "text", "email": "text", "integer": "bigint", "decimal": "numeric",
         "date": "date", "boolean": "boolean", "timestamp": "timestamptz", "time": "time"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Keys a [dataset] may give every column, which a column may override.
_SHARED_KEYS = {"null", "trim", "timezone"}
_COLUMN_KEYS = {"name", "type", "required", "max_length", "min_length", "min", "max",
                "choices", "pattern", "aliases", "description", "default", *_SHARED_KEYS}
# A null spelling goes into COPY's NULL option and into patterns: no delimiter, quote,
# line break or control character, and short.
_SPELLING = re.compile(r'[^",\x00-\x1f\x7f]{1,32}')


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its type, whether it is required, its checks and header aliases."""

    name: str
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    min_length: int | None = None
    min: Any = None
    max: Any = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    null: tuple[str, ...] = ()  # values, besides the empty one, that mean no value
    trim: bool = False  # surrounding whitespace is dropped before anything else
    timezone: str = "UTC"  # where a timestamp without an offset was written
    default: str | None = None  # the value of a file that has no header for the column

    @property
    def sql_type(self) -> str:
        return TYPES[self.type]

    @property
    def nulls(self) -> frozenset[str]:
        """Every value that means no value here, the empty one included."""
        return frozenset(("", *self.null))


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its target table, columns and unique key."""

    name: str
    table: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    source: str = ""
    _headers: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create_table_sql(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for the target table, its key as primary key."""
        cols = ",\n    ".join(
            f"{c.name} {c.sql_type}{' NOT NULL' if c.required or c.name in self.key else ''}"
            for c in self.columns)
        return (f"CREATE TABLE IF NOT EXISTS {self.table} (\n    {cols},\n"
                f"    PRIMARY KEY ({', '.join(self.key)})\n)")

    def match_headers(self, headers: Iterable[str]) -> list[str | None]:
        """The column each file header names (None for a header the spec does not know)."""
        return [self._headers.get(header_key(h)) for h in headers]

    @property
    def session_zone(self) -> str:
        """The time zone the database reads timestamps without an offset in: the first
        timestamp column's (others' values are given an offset before they go)."""
        return next((c.timezone for c in self.columns if c.type == "timestamp"), "UTC")

    @property
    def copy_null(self) -> str | None:
        """The one spelling of no value, besides the empty one, that clean rows may go to
        COPY with as they are (its NULL option takes one string): the dataset's first."""
        return next((s for c in self.columns for s in c.null), None)


def header_key(header: str) -> str:
    """How headers are compared: NFKC, case-folded, without surrounding spaces."""
    return unicodedata.normalize("NFKC", header).strip().casefold()


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and check one spec file; errors name the file and what to fix."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"dataset spec {path}: cannot be read ({exc})") from None
    try:
        return _build(raw, str(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"dataset spec {path}: {exc}") from None


def load_specs(directory: str | Path | None = None) -> dict[str, DatasetSpec]:
    """Every spec in ``directory`` (``datasets/`` by default), by dataset name."""
    folder = Path(directory) if directory else DEFAULT_DIR
    specs: dict[str, DatasetSpec] = {}
    for path in sorted(folder.glob("*.toml")):
        spec = load_spec(path)
        if spec.name in specs:
            raise ConfigurationError(f"dataset {spec.name!r} is declared twice: "
                                     f"{specs[spec.name].source} and {path}")
        specs[spec.name] = spec
    return specs


def spec_named(name: Any, directory: str | Path | None = None,
               field_name: str = "params.dataset") -> DatasetSpec:
    """The spec called ``name``, or an error that lists the datasets there are."""
    specs = load_specs(directory)
    if isinstance(name, str) and name in specs:
        return specs[name]
    raise InvalidRequest(field_name, f"{name!r} is not a dataset; one of: "
                                     f"{', '.join(sorted(specs)) or '(none declared)'}")


def _build(raw: dict, source: str) -> DatasetSpec:
    head = raw.get("dataset")
    if not isinstance(head, dict):
        raise ValueError("needs a [dataset] table with name, table and key")
    name, table = _ident(head.get("name"), "dataset.name"), _ident(head.get("table"),
                                                                   "dataset.table")
    shared = _shared(head, "dataset", {"null": (), "trim": False, "timezone": "UTC"})
    columns = tuple(_column(c, n, shared) for n, c in enumerate(raw.get("columns") or []))
    if not columns:
        raise ValueError("declares no [[columns]]")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError("declares a column twice")
    key = head.get("key")
    key = (key,) if isinstance(key, str) else tuple(key or ())
    if not key or not set(key) <= set(names):
        raise ValueError(f"dataset.key must name declared columns, not {list(key)}")
    defaulted = [c.name for c in columns if c.default is not None and (c.required or c.name in key)]
    if defaulted:
        raise ValueError(f"column {defaulted[0]}: a default is for optional columns a file may "
                         "leave out; a required or key column must come from the file")
    return DatasetSpec(name=name, table=table, key=key, columns=columns,
                       description=str(head.get("description", "")), source=source,
                       _headers=_header_map(columns))


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{where} must be lower-case letters, digits and _ (got {value!r})")
    return value


def _shared(raw: dict, where: str, inherited: dict) -> dict:
    """``null``, ``trim`` and ``timezone`` as ``raw`` gives them, else as inherited."""
    out = dict(inherited)
    if "null" in raw:
        spellings = raw["null"]
        if not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
            raise ValueError(f'{where}: null must be a list of strings, such as ["", "NA"]')
        bad = [s for s in spellings if s and not _SPELLING.fullmatch(s)]
        if bad:
            raise ValueError(f"{where}: null spelling {bad[0]!r} may hold no comma, quote, "
                             "line break or control character and at most 32 characters")
        out["null"] = tuple(dict.fromkeys(s for s in spellings if s))
    if "trim" in raw:
        if not isinstance(raw["trim"], bool):
            raise ValueError(f"{where}: trim must be true or false")
        out["trim"] = raw["trim"]
    if "timezone" in raw:
        out["timezone"] = _zone(raw["timezone"], where)
    return out


def _zone(name: Any, where: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{where}: timezone {name!r} is not an IANA time zone name "
                         "(such as UTC, Asia/Tokyo or America/New_York)") from None
    return name


def _column(raw: Any, n: int, shared: dict) -> ColumnSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"columns[{n}] must be a table")
    unknown = sorted(set(raw) - _COLUMN_KEYS)
    if unknown:
        raise ValueError(f"columns[{n}] has unknown key {unknown[0]!r}; "
                         f"known: {', '.join(sorted(_COLUMN_KEYS))}")
    name = _ident(raw.get("name"), f"columns[{n}].name")
    kind = raw.get("type", "text")
    if kind not in TYPES:
        raise ValueError(f"column {name}: type {kind!r} is not one of {', '.join(TYPES)}")
    bounds = {k: _bound(kind, raw[k], name, k) for k in ("min", "max") if k in raw}
    if raw.get("pattern"):
        re.compile(raw["pattern"])
    own = _shared(raw, f"column {name}", shared)
    default = _default(kind, raw["default"], name, own["timezone"]) if "default" in raw else None
    return ColumnSpec(name=name, type=kind, required=bool(raw.get("required", False)),
                      max_length=raw.get("max_length"), min_length=raw.get("min_length"),
                      choices=tuple(map(str, raw.get("choices", ()))),
                      pattern=raw.get("pattern"), aliases=tuple(map(str, raw.get("aliases", ()))),
                      description=str(raw.get("description", "")), default=default,
                      **own, **bounds)


def _default(kind: str, value: Any, name: str, zone: str) -> str:
    """A column's default as the text COPY would read (a timestamp with its offset)."""
    try:
        text = _DEFAULTS[kind](value)
    except (TypeError, ValueError, InvalidOperation):
        text = None
    if text is None:
        raise ValueError(f"column {name}: default {value!r} is not a {kind} value")
    if kind == "timestamp" and "+" not in text[10:] and "-" not in text[10:]:
        text = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).isoformat()
    return text


def _native(kinds, parse):
    """A default given as a TOML value of ``kinds``, or as a string ``parse`` reads."""
    def convert(value):
        if isinstance(value, kinds) and not isinstance(value, bool):
            return value.isoformat() if hasattr(value, "isoformat") else str(value)
        return parse(value).isoformat() if isinstance(value, str) else None
    return convert


_DEFAULTS = {
    "text": lambda v: v if isinstance(v, str) else None,
    "email": lambda v: v if isinstance(v, str) and "@" in v else None,
    "integer": lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else None,
    "decimal": lambda v: (str(Decimal(str(v))) if isinstance(v, (int, float, str))
                          and not isinstance(v, bool) else None),
    "boolean": lambda v: ("true" if v else "false") if isinstance(v, bool) else None,
    "date": _native((date,), date.fromisoformat),
    "timestamp": _native((datetime,), datetime.fromisoformat),
    "time": _native((time,), time.fromisoformat),
}


def _bound(kind: str, value: Any, name: str, which: str):
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if kind in ("integer", "decimal") and isinstance(value, (int, float)):
        return value
    raise ValueError(f"column {name}: {which} applies to numbers and dates only")


def _header_map(columns: tuple[ColumnSpec, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for column in columns:
        for header in (column.name, *column.aliases):
            other = headers.setdefault(header_key(header), column.name)
            if other != column.name:
                raise ValueError(f"header {header!r} names both {other} and {column.name}")
    return headers
