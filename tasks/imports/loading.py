"""Loading checked rows into PostgreSQL: COPY, then upsert, in one transaction.

Within the transaction the target table is locked against other writers
(readers go on), so imports into one table follow each other. Into an empty
table the rows are copied straight in; otherwise they are copied into a
temporary staging table and upserted, writing only rows that changed, so
importing an unchanged file again writes nothing: rows equal to the table's
are left out by one hash anti-join before the upsert (``ON CONFLICT`` alone
would lock, and so log, every row it compares). A crash anywhere before the
commit leaves the table as it was.

Chunks of clean rows may come with a NULL option of their own (a dataset's
null spelling, such as NA): each run of chunks with the same one is one COPY.
Timestamps without an offset are read in the dataset's session zone. Columns a
file leaves out that have a default take it from the table: into an empty table,
the target's column defaults are set to the spec's for the COPY and put back as
they were before the commit; otherwise through the staging table's.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from queue import Queue
from typing import Callable, Iterable, NamedTuple

import psycopg
from psycopg import errors, sql
from psycopg.copy import QueuedLibpqWriter

from core.datasets import DatasetSpec
from tasks.imports.reading import FileProblem

STAGING = "import_staging"
# The whole file is upserted at once by default: the anti-join hashes the target
# table once instead of once per group.
GROUP_CHUNKS: int | None = None
# Enough for the anti-join to hash a million rows in memory; JIT compilation
# costs more than it saves on these statements.
LOAD_SETTINGS = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off")
QUEUED_BUFFERS = 64  # of up to 128 KB each: what may wait for the server


class _BoundedWriter(QueuedLibpqWriter):
    """psycopg's threaded COPY writer with a short queue, so memory stays flat
    when the server is slower than the parser."""

    def __init__(self, cursor):
        super().__init__(cursor)
        self._queue = Queue(maxsize=QUEUED_BUFFERS)


class Chunk(NamedTuple):
    """CSV text for COPY, and the NULL option it is written with (plain text: "")."""

    text: str
    null: str = ""


@dataclass(frozen=True)
class Loaded:
    """What the load did: rows sent, rows written, and the way it went."""

    copied: int
    written: int
    path: str  # "copy" into an empty table, or "upsert" through staging
    committed: bool


def load(conn: psycopg.Connection, spec: DatasetSpec, columns: list[str],
         chunks: Iterable[str | Chunk], commit: Callable[[], bool],
         group_chunks: int | None = GROUP_CHUNKS) -> Loaded:
    """COPY the CSV text ``chunks`` (rows of ``columns``) and upsert them.

    ``commit()`` is asked once every chunk is sent; False rolls everything back.
    """
    defaults = [c for c in spec.columns if c.default is not None and c.name not in columns]
    table = sql.Identifier(spec.table)
    with conn.transaction():  # the table outlives a failed import
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (spec.table,))
        conn.execute(spec.create_table_sql())
    with conn.transaction() as tx, conn.cursor() as cur:
        cur.execute("SET LOCAL datestyle = 'ISO, YMD'")
        cur.execute(sql.SQL("SET LOCAL TimeZone = {}").format(sql.Literal(spec.session_zone)))
        for setting in LOAD_SETTINGS:
            cur.execute(setting)
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table))
        empty = cur.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(table)
                            ).fetchone()[0]
        if empty:
            kept = _lend_defaults(cur, spec, defaults)
            copied = written = _copy(cur, table, columns, chunks, spec)
            _restore_defaults(cur, spec, kept)
        else:
            copied, written = _upsert_groups(cur, table, chunks, spec, columns, defaults,
                                             group_chunks)
        if not commit():
            raise psycopg.Rollback(tx)
        return Loaded(copied, written, "copy" if empty else "upsert", True)
    return Loaded(copied, 0, "copy" if empty else "upsert", False)


def _lend_defaults(cur, spec: DatasetSpec, defaults) -> dict[str, str | None]:
    """Give the target's columns the spec's defaults for this transaction; returns each
    column's own default expression (None: none) to put back before the commit."""
    kept = {}
    for column in defaults:
        kept[column.name] = cur.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s::regclass AND a.attname = %s",
            (spec.table, column.name)).fetchone()[0]
        _set_default(cur, sql.Identifier(spec.table), column.name, _spec_default(column))
    return kept


def _restore_defaults(cur, spec: DatasetSpec, kept: dict[str, str | None]) -> None:
    for name, expression in kept.items():
        _set_default(cur, sql.Identifier(spec.table), name,
                     None if expression is None else sql.SQL(expression))


def _spec_default(column) -> sql.Composed:
    return sql.SQL("{}::{}").format(sql.Literal(column.default), sql.SQL(column.sql_type))


def _set_default(cur, table: sql.Identifier, name: str, expression) -> None:
    """Set (or with None drop) the default of ``table``'s column ``name``."""
    column = sql.SQL("ALTER TABLE {} ALTER COLUMN {} ").format(table, sql.Identifier(name))
    cur.execute(column + (sql.SQL("DROP DEFAULT") if expression is None
                          else sql.SQL("SET DEFAULT {}").format(expression)))


def _upsert_groups(cur, table, chunks: Iterable[str | Chunk], spec: DatasetSpec,
                   columns: list[str], defaults, group_chunks: int | None) -> tuple[int, int]:
    """COPY into staging and upsert, a group of chunks at a time (all of them unless
    ``group_chunks`` says otherwise); ``defaults`` are columns the file leaves out."""
    staging = _staging(cur, table)
    for column in defaults:  # only the staging table's: the target's own stay as they are
        _set_default(cur, staging, column.name, _spec_default(column))
    statement = upsert_sql(spec, columns + [c.name for c in defaults])
    chunks, copied, written = iter(chunks), 0, 0
    while (first := next(chunks, None)) is not None:
        rest = chunks if group_chunks is None else itertools.islice(chunks, group_chunks - 1)
        copied += _copy(cur, staging, columns, itertools.chain([first], rest), spec)
        group_written = _upsert(cur, statement, spec)
        if group_written:  # nothing written: no key can be there twice with other values
            _refuse_repeated_keys(cur, staging, spec)
        written += group_written
        cur.execute(sql.SQL("TRUNCATE {}").format(staging))
    return copied, written


def _staging(cur, table) -> sql.Identifier:
    cur.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP")
                .format(sql.Identifier(STAGING), table))
    return sql.Identifier(STAGING)


def _copy(cur, dest, columns: list[str], chunks: Iterable[str | Chunk],
          spec: DatasetSpec) -> int:
    """COPY the chunks, one statement for each run of them with the same NULL option."""
    copied = 0
    for null, run in itertools.groupby(map(_chunk, chunks), key=lambda c: c.null):
        copied += _copy_run(cur, dest, columns, (c.text for c in run), spec, null)
    return copied


def _chunk(chunk: str | Chunk) -> Chunk:
    return chunk if isinstance(chunk, Chunk) else Chunk(chunk)


def copy_sql(dest, columns: list[str], spec: DatasetSpec, null: str) -> sql.Composed:
    """The COPY of CSV text whose no-values are written ``null``: unquoted anywhere, and
    quoted in the columns that read it as no value (an empty value is one everywhere)."""
    forced = [c for c in columns if null == "" or null in spec.column(c).null]
    options = sql.SQL("FORMAT csv")
    if null:
        options += sql.SQL(", NULL {}").format(sql.Literal(null))
    if forced:
        options += sql.SQL(", FORCE_NULL ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, forced)))
    return sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        dest, sql.SQL(", ").join(map(sql.Identifier, columns)), options)


def _copy_run(cur, dest, columns: list[str], texts: Iterable[str], spec: DatasetSpec,
              null: str) -> int:
    try:
        with cur.copy(copy_sql(dest, columns, spec, null), writer=_BoundedWriter(cur)) as copy:
            for text in texts:
                copy.write(text)
    except errors.UniqueViolation as exc:
        raise FileProblem(f"{_key_detail(exc)} appears on more than one line of the file; "
                          f"each {', '.join(spec.key)} may appear once") from None
    except errors.DataError as exc:
        raise FileProblem(f"the database refused a value: {exc.diag.message_primary}") from None
    return cur.rowcount


def _key_detail(exc: errors.UniqueViolation) -> str:
    detail = exc.diag.message_detail or ""
    # "Key (customer_code)=(C1) already exists."
    return detail.split(" already exists")[0].replace("Key ", "the key ") or "a key"


def _upsert(cur, statement, spec: DatasetSpec) -> int:
    try:
        cur.execute(statement)
    except (errors.CardinalityViolation, errors.NotNullViolation):
        raise FileProblem(_REPEATED.format(key=", ".join(spec.key))) from None
    return cur.rowcount


def _refuse_repeated_keys(cur, staging, spec: DatasetSpec) -> None:
    """Fail when a key is on two lines with different values. Rows equal to the
    table's never reach the upsert, so its own conflict check cannot see such a
    pair when one of the two lines equals the table's row."""
    key = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    found = cur.execute(sql.SQL(
        "WITH twice AS (SELECT {k} FROM {s} GROUP BY {k} HAVING count(*) > 1) "
        "SELECT FROM {s} AS s JOIN twice USING ({k}) GROUP BY {k} "
        "HAVING count(DISTINCT s) > 1 LIMIT 1").format(k=key, s=staging)).fetchone()
    if found is not None:
        raise FileProblem(_REPEATED.format(key=", ".join(spec.key)))


_REPEATED = ("a {key} appears on more than one line of the file with different values; "
             "each {key} may appear once")


def upsert_sql(spec: DatasetSpec, columns: list[str]) -> sql.Composed:
    """INSERT … ON CONFLICT of the staged rows that differ from the table's, updating
    a row only when a value changed."""
    ident = lambda names: sql.SQL(", ").join(map(sql.Identifier, names))  # noqa: E731
    changing = [c for c in columns if c not in spec.key]
    head = sql.SQL("INSERT INTO {t} AS t ({cols}) SELECT {cols} FROM {s} AS s WHERE NOT EXISTS "
                   "(SELECT FROM {t} AS x WHERE {same}) ON CONFLICT ({k}) ").format(
        t=sql.Identifier(spec.table), cols=ident(columns), s=sql.Identifier(STAGING),
        k=ident(spec.key), same=_same_row(spec, changing))
    if not changing:
        return head + sql.SQL("DO NOTHING")
    # A row this transaction already wrote is a key repeated in the file (in an
    # earlier group): setting its key to NULL makes the statement fail, and say so.
    guard = sql.SQL("{k} = CASE WHEN t.xmin = pg_current_xact_id()::xid THEN NULL "
                    "ELSE EXCLUDED.{k} END, ").format(k=sql.Identifier(spec.key[0]))
    sets = guard + sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                                      for c in changing)
    old = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in changing)
    new = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in changing)
    wrap = (lambda x: sql.SQL("ROW({})").format(x)) if len(changing) == 1 else (
        lambda x: sql.SQL("({})").format(x))
    return head + sql.SQL("DO UPDATE SET {sets} WHERE {old} IS DISTINCT FROM {new}").format(
        sets=sets, old=wrap(old), new=wrap(new))


def _same_row(spec: DatasetSpec, changing: list[str]) -> sql.Composable:
    """``x`` (the table's row) has the key and every value of ``s`` (the staged row)."""
    pair = lambda c, op: sql.SQL("x.{c} {op} s.{c}").format(  # noqa: E731
        c=sql.Identifier(c), op=sql.SQL(op))
    return sql.SQL(" AND ").join([pair(k, "=") for k in spec.key]
                                 + [pair(c, "IS NOT DISTINCT FROM") for c in changing])
