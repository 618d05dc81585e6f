"""The export job, without its machinery: its parameters, its query and its file.

Pure: the web app validates requests with it and the workers build their
query with it. Column names come only from the dataset's spec (whitelisted,
quoted with ``psycopg.sql``); filter values are always bound parameters.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from psycopg import sql

from core import filekeys
from core.errors import ConfigurationError, InvalidRequest
from core.exportspecs import ExportSpec, SpecColumn, available, load_export_spec

KIND = "export"
ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
UNENCODABLE = ("error", "replace")
MAX_FILTERS = 20
MAX_IN_VALUES = 1000
MAX_VALUE_CHARS = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PARAMS = {"dataset", "columns", "filters", "encoding", "unencodable", "gzip",
           "neutralize_formulas"}


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any


def validate(params: Mapping[str, Any]) -> dict:
    """Check an export request against its dataset's spec; returns it normalised."""
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise InvalidRequest(f"params.{unknown[0]}", "is not a parameter of an export job "
                             f"(it takes {', '.join(sorted(_PARAMS))})")
    spec = _spec(params.get("dataset"))
    filters = params.get("filters", [])
    parse_filters(spec, filters)
    out = {"dataset": spec.name, "columns": _columns(spec, params.get("columns")),
           "filters": list(filters),
           "encoding": _choice(params, "encoding", ENCODINGS, "utf-8"),
           "unencodable": _choice(params, "unencodable", UNENCODABLE, "error"),
           "gzip": _flag(params, "gzip", False)}
    if params.get("neutralize_formulas") is not None:
        out["neutralize_formulas"] = _flag(params, "neutralize_formulas", True)
    return out


def _spec(name: Any) -> ExportSpec:
    names = available()
    if not isinstance(name, str) or name not in names:
        raise InvalidRequest("params.dataset", f"must be one of: {', '.join(names)}")
    try:
        return load_export_spec(name)
    except ConfigurationError as exc:
        raise InvalidRequest("params.dataset", f"cannot be exported now: {exc}") from None


def _columns(spec: ExportSpec, columns: Any) -> list[str]:
    if columns is None:
        return list(spec.column_names)
    if not isinstance(columns, list) or not columns:
        raise InvalidRequest("params.columns", "must be a non-empty list of column names")
    for n, name in enumerate(columns):
        if not isinstance(name, str) or spec.column(name) is None:
            raise InvalidRequest(f"params.columns[{n}]", f"{name!r} is not a column of "
                                 f"{spec.name}; one of: {', '.join(spec.column_names)}")
    if len(set(columns)) != len(columns):
        raise InvalidRequest("params.columns", "names a column twice")
    return list(columns)


def _choice(params, name, choices, default):
    value = params.get(name, default)
    if value not in choices:
        raise InvalidRequest(f"params.{name}", f"must be one of: {', '.join(choices)}")
    return value


def _flag(params, name, default) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"params.{name}", "must be true or false")
    return value


def parse_filters(spec: ExportSpec, filters: Any) -> list[Filter]:
    """The request's filters as typed values; an error names the filter and what is wrong."""
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise InvalidRequest("params.filters", f"must be a list of at most {MAX_FILTERS} "
                             'filters such as {"column": "status", "op": "eq", "value": "active"}')
    return [_filter(spec, f, f"params.filters[{n}]") for n, f in enumerate(filters)]


def _filter(spec: ExportSpec, raw: Any, where: str) -> Filter:
    if not isinstance(raw, dict) or set(raw) != {"column", "op", "value"}:
        raise InvalidRequest(where, "must be an object with exactly column, op and value")
    column = spec.column(raw["column"]) if isinstance(raw["column"], str) else None
    if column is None or not column.filters:
        filterable = [c.name for c in spec.columns if c.filters]
        raise InvalidRequest(f"{where}.column", f"{raw['column']!r} cannot be filtered on; "
                             f"filterable columns: {', '.join(filterable)}")
    if raw["op"] not in column.filters:
        raise InvalidRequest(f"{where}.op", f"{raw['op']!r} is not allowed on {column.name}; "
                             f"use one of: {', '.join(column.filters)}")
    if raw["op"] == "in":
        values = raw["value"]
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_IN_VALUES:
            raise InvalidRequest(f"{where}.value", f"must be a list of 1-{MAX_IN_VALUES} values")
        value = [_typed(column, v, f"{where}.value[{i}]") for i, v in enumerate(values)]
    else:
        value = _typed(column, raw["value"], f"{where}.value")
    return Filter(column.name, raw["op"], value)


def _typed(column: SpecColumn, value: Any, where: str) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise InvalidRequest(where, f"is {len(value):,} characters long; a filter value may "
                             f"have at most {MAX_VALUE_CHARS:,}")
    try:
        parsed = _PARSERS[column.type](value)
    except (TypeError, ValueError, InvalidOperation):
        parsed = None
    if parsed is None:
        raise InvalidRequest(where, f"{value!r} is not a {_WORDS[column.type]} "
                             f"(column {column.name})")
    return parsed


def _integer(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _numeric(v):
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    number = Decimal(str(v))
    return number if number.is_finite() else None


def _text(v):
    return v if isinstance(v, str) else None


_PARSERS = {
    "text": _text, "integer": _integer, "numeric": _numeric,
    "date": lambda v: date.fromisoformat(v) if isinstance(v, str) else None,
    "timestamp": lambda v: datetime.fromisoformat(v) if isinstance(v, str) else None,
    "time": lambda v: time.fromisoformat(v) if isinstance(v, str) else None,
    "boolean": lambda v: v if isinstance(v, bool) else None,
    "uuid": lambda v: uuid.UUID(v) if isinstance(v, str) else None,
}
_WORDS = {"text": "string", "integer": "whole number", "numeric": "number",
          "date": "date (YYYY-MM-DD)", "timestamp": "date and time (ISO 8601)", "time": "time of day (HH:MM:SS)",
          "boolean": "true or false", "uuid": "UUID"}


def export_key(job_id: str, dataset: str, gzip: bool) -> str:
    """Where a job's file lives in the bucket: the same key on every delivery."""
    return f"{filekeys.EXPORTS}{job_id}/{dataset}.csv{'.gz' if gzip else ''}"


_OPS = {"eq": "=", "gte": ">=", "lte": "<=", "like": "LIKE"}


def select_sql(spec: ExportSpec, columns: list[str], filters: list[Filter],
               neutralize: bool) -> tuple[sql.Composed, list]:
    """The SELECT of an export and its bound parameters, in the key's order."""
    exprs = [_expression(spec.column(c), neutralize) for c in columns]
    where, params = [], []
    for f in filters:
        ident = sql.Identifier(f.column)
        if f.op == "in":
            where.append(sql.SQL("{} = ANY(%s)").format(ident))
        else:
            where.append(sql.SQL("{} {} %s").format(ident, sql.SQL(_OPS[f.op])))
        params.append(f.value)
    source = (sql.Identifier(spec.table) if spec.table
              else sql.SQL("({}) AS export_source").format(sql.SQL(spec.view)))
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(exprs), source)
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(map(sql.Identifier, spec.key))
    return query, params


def _expression(column: SpecColumn, neutralize: bool) -> sql.Composable:
    ident = sql.Identifier(column.name)
    if not neutralize or column.type != "text":
        return ident
    # A spreadsheet runs a cell starting with one of these as a formula; a
    # leading apostrophe makes it text. Typed columns (numbers, dates) are left
    # alone: -5 in a numeric column is a number, not a formula.
    # ascii() reads the first character's code without building a string: the
    # cheapest test PostgreSQL has (left(c, 1) IN (...) costs 3x as much per row).
    codes = sql.SQL(", ").join(sql.Literal(ord(c)) for c in FORMULA_STARTS)
    return sql.SQL("CASE WHEN ascii({c}) IN ({s}) THEN '''' || {c} ELSE {c} END").format(
        c=ident, s=codes)


def neutralize(value: str) -> str:
    """A cell as a spreadsheet will show it, never run it (the same rule as the SQL)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
