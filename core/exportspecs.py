"""Export specs: the datasets a user may export, declared as TOML files.

Each ``datasets/exports/<name>.toml`` names a table (or declares a read-only
SQL ``view``), the columns that may be exported (in order, with headers and
types) and the filters each column allows. ``load_export_spec`` and
``available`` are the one way in, so other declarations (import specs) can be
added here later without touching their callers.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigurationError

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "datasets" / "exports"
TYPES = ("text", "integer", "numeric", "date", "timestamp", "boolean", "uuid")
OPERATORS = ("eq", "in", "gte", "lte", "like")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class SpecColumn:
    """One exportable column: its name in the database, its CSV header, type and filters."""

    name: str
    header: str
    type: str
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportSpec:
    """A dataset that may be exported."""

    name: str
    columns: tuple[SpecColumn, ...]
    key: tuple[str, ...]
    table: str | None = None
    view: str | None = None
    description: str = ""

    def column(self, name: str) -> SpecColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def available(folder: Path | str | None = None) -> list[str]:
    """The names of the datasets that may be exported."""
    return sorted(p.stem for p in Path(folder or DEFAULT_DIR).glob("*.toml"))


def load_export_spec(name: str, folder: Path | str | None = None) -> ExportSpec:
    """The spec of dataset ``name``; a ``ConfigurationError`` names a malformed file."""
    if not IDENTIFIER.match(name or ""):
        raise ConfigurationError(f"{name!r} is not a dataset name")
    path = Path(folder or DEFAULT_DIR) / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"no export spec {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    return _parse(name, raw, path)


def _parse(name: str, raw: dict, path: Path) -> ExportSpec:
    table, view = raw.get("table"), raw.get("view")
    if (table is None) == (view is None):
        raise ConfigurationError(f"{path}: give exactly one of table or view")
    if table is not None and not IDENTIFIER.match(str(table)):
        raise ConfigurationError(f"{path}: table {table!r} is not a plain table name")
    if view is not None and (not isinstance(view, str) or not view.lstrip().lower()
                             .startswith(("select", "with"))):
        raise ConfigurationError(f"{path}: view must be one SELECT statement")
    columns = tuple(_column(c, n, path) for n, c in enumerate(raw.get("columns") or []))
    if not columns:
        raise ConfigurationError(f"{path}: declare at least one [[columns]]")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{path}: a column is declared twice")
    key = tuple(raw.get("key") or names[:1])
    missing = [k for k in key if k not in names]
    if missing:
        raise ConfigurationError(f"{path}: key column {missing[0]!r} is not a declared column")
    return ExportSpec(name=name, columns=columns, key=key, table=table, view=view,
                      description=str(raw.get("description", "")))


def _column(raw: dict, n: int, path: Path) -> SpecColumn:
    where = f"{path}: columns[{n}]"
    if not isinstance(raw, dict) or not IDENTIFIER.match(str(raw.get("name", ""))):
        raise ConfigurationError(f"{where}: name must be a lower-case column name")
    kind = raw.get("type", "text")
    if kind not in TYPES:
        raise ConfigurationError(f"{where}: type {kind!r} is not one of {', '.join(TYPES)}")
    filters = tuple(raw.get("filters") or ())
    bad = [f for f in filters if f not in OPERATORS or (f == "like" and kind != "text")]
    if bad:
        raise ConfigurationError(f"{where}: filter {bad[0]!r} is not allowed on a {kind} "
                                 f"column (operators: {', '.join(OPERATORS)}; like on text)")
    header = str(raw.get("header") or raw["name"])
    return SpecColumn(name=raw["name"], header=header, type=kind, filters=filters)
