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
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.errors import ConfigurationError, InvalidRequest

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "datasets"
TYPES = {"text": "text", "email": "text", "integer": "bigint", "decimal": "numeric",
         "date": "date", "boolean": "boolean"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_COLUMN_KEYS = {"name", "type", "required", "max_length", "min_length", "min", "max",
                "choices", "pattern", "aliases", "description"}


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

    @property
    def sql_type(self) -> str:
        return TYPES[self.type]


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
    columns = tuple(_column(c, n) for n, c in enumerate(raw.get("columns") or []))
    if not columns:
        raise ValueError("declares no [[columns]]")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError("declares a column twice")
    key = head.get("key")
    key = (key,) if isinstance(key, str) else tuple(key or ())
    if not key or not set(key) <= set(names):
        raise ValueError(f"dataset.key must name declared columns, not {list(key)}")
    return DatasetSpec(name=name, table=table, key=key, columns=columns,
                       description=str(head.get("description", "")), source=source,
                       _headers=_header_map(columns))


def _ident(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{where} must be lower-case letters, digits and _ (got {value!r})")
    return value


def _column(raw: Any, n: int) -> ColumnSpec:
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
    return ColumnSpec(name=name, type=kind, required=bool(raw.get("required", False)),
                      max_length=raw.get("max_length"), min_length=raw.get("min_length"),
                      choices=tuple(map(str, raw.get("choices", ()))),
                      pattern=raw.get("pattern"), aliases=tuple(map(str, raw.get("aliases", ()))),
                      description=str(raw.get("description", "")), **bounds)


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
