"""Export specs: the datasets a user may export.

Every dataset with an import spec (``datasets/<name>.toml``, ``core.datasets``)
may be exported as it is: its table, its columns in the spec's order under
their own names, filters that fit each column's type, rows in its key's order.
An explicit ``datasets/exports/<name>.toml`` wins over that: it names a table
(or declares a read-only SQL ``view``), the columns that may be exported (in
order, with headers and types) and the filters each column allows.
``load_export_spec`` and ``available`` are the one way in.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.datasets import DatasetSpec, load_specs
from core.errors import ConfigurationError

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "datasets" / "exports"
TYPES = ("text", "integer", "numeric", "date", "timestamp", "time", "boolean", "uuid")
OPERATORS = ("eq", "in", "gte", "lte", "like")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# An import spec's column types as export types, and the filters each allows.
FROM_IMPORT_TYPES = {"text": "text", "email": "text", "integer": "integer",
                     "decimal": "numeric", "date": "date", "boolean": "boolean",
                     "timestamp": "timestamp", "time": "time"}
FILTERS_BY_TYPE = {"text": ("eq", "in", "like"), "integer": ("eq", "in", "gte", "lte"),
                   "numeric": ("eq", "in", "gte", "lte"), "date": ("eq", "in", "gte", "lte"),
                   "timestamp": ("gte", "lte"), "time": ("eq", "in", "gte", "lte"),
                   "boolean": ("eq",)}


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
    operators_only: bool = False

    def column(self, name: str) -> SpecColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def available(folder: Path | str | None = None,
              datasets_dir: Path | str | None = None) -> list[str]:
    """The names of the datasets that may be exported: export specs and import specs.

    ``folder`` holds the export specs (``datasets/exports/``), ``datasets_dir``
    the import specs (``datasets/``).
    """
    explicit = {p.stem for p in Path(folder or DEFAULT_DIR).glob("*.toml")}
    return sorted(explicit | set(load_specs(datasets_dir)))


def load_export_spec(name: str, folder: Path | str | None = None,
                     datasets_dir: Path | str | None = None) -> ExportSpec:
    """The spec of dataset ``name``: its export spec file, else derived from its import spec.

    A ``ConfigurationError`` names a malformed file, or says there is no such dataset.
    """
    if not IDENTIFIER.match(name or ""):
        raise ConfigurationError(f"{name!r} is not a dataset name")
    path = Path(folder or DEFAULT_DIR) / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        imported = load_specs(datasets_dir).get(name)
        if imported is None:
            raise ConfigurationError(f"no dataset {name!r}: neither an export spec {path} "
                                     "nor an import spec declares it") from None
        return _from_import_spec(imported)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
    return _parse(name, raw, path)


def _from_import_spec(spec: DatasetSpec) -> ExportSpec:
    """The export of an import spec's table: every column in order, headed by its name."""
    columns = []
    for column in spec.columns:
        kind = FROM_IMPORT_TYPES[column.type]
        columns.append(SpecColumn(name=column.name, header=column.name, type=kind,
                                  filters=FILTERS_BY_TYPE[kind]))
    return ExportSpec(name=spec.name, columns=tuple(columns), key=spec.key, table=spec.table,
                      description=spec.description)


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
    operators_only = raw.get("operators_only", False)
    if not isinstance(operators_only, bool):
        raise ConfigurationError(f"{path}: operators_only must be true or false")
    return ExportSpec(name=name, columns=columns, key=key, table=table, view=view,
                      description=str(raw.get("description", "")),
                      operators_only=operators_only)


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
