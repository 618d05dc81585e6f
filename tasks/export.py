"""The export job: a dataset streamed by PostgreSQL's COPY into an S3 multipart upload.

The query (whitelisted columns, bound filter values, formula neutralisation)
runs in a read-only transaction; PostgreSQL writes the CSV, this process only
re-encodes, compresses and uploads it a block at a time, so memory stays flat
whatever the row count. The file's key is the same on every delivery.
"""
from __future__ import annotations

import csv
import io
import logging

import psycopg
from psycopg import sql

from core import aws, exports
from core.datasets import load_specs
from core.errors import ConfigurationError, InvalidRequest, JobFailed
from core.exportspecs import ExportSpec, load_export_spec
from core.settings import Settings
from tasks.csvout import BackgroundUpload, Encoder, Gzip, Passthrough, to_cp932
from tasks import runtime, storage
from tasks.runtime import JobContext, job_task

log = logging.getLogger(__name__)
BLOCK_BYTES = 1 << 20
CANCEL_CHECK_BLOCKS = 64


@job_task("export.run")
def run(ctx: JobContext) -> dict:
    """Write the export's CSV to the bucket; the result holds its link and counts."""
    settings: Settings = runtime.current().settings
    params = ctx.params
    spec, filters = _request(params)
    neutralize = params.get("neutralize_formulas", settings.export_neutralize_formulas)
    query, args = exports.select_sql(spec, params["columns"], filters, neutralize)
    key = exports.export_key(str(ctx.job.id), spec.name, params["gzip"])
    s3 = storage.client(settings, "s3")
    out = BackgroundUpload(s3, settings.bucket, key, content_type=_content_type(params))
    try:
        rows = _stream(ctx, spec, params, query, args, out)
        out.complete()
    except BaseException:
        out.abort()
        raise
    ctx.progress(total=rows, done=rows)
    filename = f"{spec.name}-{ctx.job.id.hex[:8]}.csv{'.gz' if params['gzip'] else ''}"
    url, expires = presign(s3, settings, key, filename, _content_type(params))
    log.info("job %s: %d rows of %s, %d bytes, to %s", ctx.job.id, rows, spec.name,
             out.written, key)
    return {"dataset": spec.name, "rows": rows, "bytes": out.written, "key": key,
            "filename": filename, "encoding": params["encoding"], "gzip": params["gzip"],
            "neutralized_formulas": neutralize, "url": url, "url_expires_at": expires}


def _request(params: dict) -> tuple[ExportSpec, list[exports.Filter]]:
    try:
        spec = load_export_spec(params["dataset"])
        return spec, exports.parse_filters(spec, params.get("filters") or [])
    except (ConfigurationError, InvalidRequest) as exc:
        raise JobFailed(f"the export request no longer fits dataset "
                        f"{params.get('dataset')!r}: {exc}") from None


def _content_type(params: dict) -> str:
    if params["gzip"]:
        return "application/gzip"
    charset = "shift_jis" if params["encoding"] == "cp932" else "utf-8"
    return f"text/csv; charset={charset}"


def presign(s3, settings: Settings, key: str, filename: str, content_type: str):
    """A GET link to ``key`` that downloads as ``filename``, and when it expires."""
    return aws.presigned_get(s3, settings.bucket, key, filename, content_type,
                             settings.link_seconds(settings.export_link_seconds))


def _stream(ctx, spec: ExportSpec, params: dict, query, args, out) -> int:
    encoder = Encoder(params["encoding"],
                      "replace" if params["unencodable"] == "replace" else "strict")
    packer = Gzip() if params["gzip"] else Passthrough()
    headers = [spec.column(c).header for c in params["columns"]]
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow([exports.neutralize(h) for h in headers])
    with ctx.session.get_bind().connect() as conn:
        raw = conn.connection.driver_connection
        try:
            return _copy(ctx, raw, query, args, encoder, packer, out, line.getvalue())
        except UnicodeEncodeError:
            raw.rollback()
            raise JobFailed(_unencodable(raw, spec, params, query, args)) from None
        except psycopg.errors.UndefinedTable:
            raise JobFailed(_missing_table(spec)) from None
        finally:
            raw.rollback()


def _missing_table(spec: ExportSpec) -> str:
    """One sentence for an export whose table is not there (nothing imported yet)."""
    if spec.table is None:
        return (f"dataset {spec.name}: a table its view reads does not exist in this "
                "database yet")
    try:
        importers = sorted(d.name for d in load_specs().values() if d.table == spec.table)
    except ConfigurationError:
        importers = []
    if importers:
        return (f"the {spec.table} table does not exist yet: import a {importers[0]} "
                "file first")
    return f"the {spec.table} table does not exist in this database yet"


def _copy(ctx, raw, query, args, encoder, packer, out, header: str) -> int:
    with raw.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        cur.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        out.write(packer.encode(encoder.start() + encoder.encode(header.encode())))
        block, blocks = bytearray(), 0
        copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(query)
        with cur.copy(copy_sql, args) as copy:
            for data in copy:
                block += data
                if len(block) >= BLOCK_BYTES:
                    out.write(packer.encode(encoder.encode(bytes(block))))
                    block.clear()
                    blocks += 1
                    if blocks % CANCEL_CHECK_BLOCKS == 0:
                        ctx.check_cancelled()
        out.write(packer.encode(encoder.encode(bytes(block), final=True), final=True))
        return cur.rowcount


def _unencodable(raw, spec: ExportSpec, params: dict, query, args) -> str:
    """Find the first cell CP932 cannot hold (a second, slower pass) and say where it is."""
    keys = list(spec.key)
    located, located_args = exports.select_sql(spec, keys + params["columns"],
                                               exports.parse_filters(spec, params["filters"]),
                                               False)
    with raw.transaction(), raw.cursor(name="export_locate") as cur:
        cur.itersize = 2000
        cur.execute(located, located_args)
        for number, row in enumerate(cur, start=1):
            for column, value in zip(params["columns"], row[len(keys):]):
                if not isinstance(value, str):
                    continue
                try:
                    to_cp932(value)
                except UnicodeEncodeError as exc:
                    char = value[exc.start]
                    where = ", ".join(f"{k}={v}" for k, v in zip(keys, row))
                    return (f"row {number} ({where}), column {spec.column(column).header}: "
                            f"{char!r} (U+{ord(char):04X}) cannot be written in CP932; export "
                            "as utf-8 or utf-8-sig, or with \"unencodable\": \"replace\" "
                            "to write it as '?'")
    return "a character cannot be written in CP932; export as utf-8 or utf-8-sig"
