"""Export throughput: the product's export job against ``psql \\copy``.

In one run, on a ``customers`` table of N generated rows (1,000,000 by default; the
table of the ``customers`` import spec, filled by ``stack/customers.py``):

* ``baseline``: ``psql -c "\\copy (SELECT … ORDER BY customer_code) TO 'file' CSV HEADER"``
  to a local file;
* ``baseline_to_bucket``: that file then uploaded to the same bucket with boto3
  (the hand-made way to get the same object, through the same emulator);
* ``stream_without_upload``: the worker's streaming code in this process into
  a sink that discards the bytes: the export's own cost, without the S3
  emulator's;
* ``product``: an export job of the same rows and columns through the API,
  SQS and a real worker into the bucket (UTF-8, formula neutralisation on),
  timed from the POST until the job has succeeded, and inside the worker
  (started → finished); then the same export gzip'd as UTF-8 with BOM (the
  nightly schedule's format);

with the worker processes' peak memory (VmHWM) and the exported object's
row count, read back from the bucket.

    .venv/bin/python -m bench.export [--rows 1000000] [--out bench/results/export.json]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine

from bench.harness import AUTH, RESULTS, peak_memory_mb, start_base, start_web, start_workers
from core import aws, lifecycle
from core.settings import Settings
from stack import customers, services

DEFAULT_OUT = RESULTS / "export.json"
OWNER = AUTH  # filled in by start_web


def fill(settings: Settings, rows: int) -> float:
    began = time.perf_counter()
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        customers.fill(conn, rows)
    engine.dispose()
    return round(time.perf_counter() - began, 2)


def baseline(settings: Settings, scratch: Path) -> dict:
    """``psql \\copy`` of the same SELECT to a local file."""
    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    out = scratch / "baseline.csv"
    spec = customers.spec()
    command = (f"\\copy (SELECT {', '.join(spec.column_names)} FROM {spec.table} "
               f"ORDER BY {', '.join(spec.key)}) TO '{out}' WITH (FORMAT csv, HEADER)")
    began = time.perf_counter()
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True)
    seconds = time.perf_counter() - began
    with out.open(newline="", encoding="utf-8") as f:
        rows = sum(1 for _ in csv.reader(f)) - 1
    return {"command": f'psql -c "{command}"', "seconds": round(seconds, 2), "rows": rows,
            "bytes": out.stat().st_size, "rows_per_second": round(rows / seconds)}


def baseline_to_bucket(settings: Settings, scratch: Path, copy: dict) -> dict:
    """The hand-made way to the bucket: the baseline's file, then uploaded to the same
    S3 endpoint (boto3's multipart upload, 8 MiB parts, its default 10 threads).
    Timed as the \\copy plus the upload, so the emulator's share shows on both sides."""
    from boto3.s3.transfer import TransferConfig
    s3 = aws.client(settings, "s3")
    began = time.perf_counter()
    s3.upload_file(str(scratch / "baseline.csv"), settings.bucket, "bench/baseline.csv",
                   Config=TransferConfig(multipart_chunksize=8 << 20))
    upload = time.perf_counter() - began
    seconds = copy["seconds"] + upload
    return {"upload_seconds": round(upload, 2), "seconds": round(seconds, 2),
            "rows_per_second": round(copy["rows"] / seconds)}


def export(web: str, params: dict) -> dict:
    """POST an export and wait for it; timings from the POST and inside the worker."""
    began = time.perf_counter()
    response = requests.post(f"{web}/api/jobs", headers=OWNER, timeout=30,
                             json={"kind": "export", "params": params})
    response.raise_for_status()
    job_id = response.json()["id"]
    job = services.wait_for(lambda: _finished(web, job_id), 900, f"export {job_id}",
                            interval=0.1)
    seconds = time.perf_counter() - began
    if job["status"] != lifecycle.SUCCEEDED:
        raise SystemExit(f"the export {job_id} {job['status']}: {job['error']}")
    inside = (datetime.fromisoformat(job["finished_at"])
              - datetime.fromisoformat(job["started_at"])).total_seconds()
    rows = job["result"]["rows"]
    return {"job": job, "seconds": round(seconds, 2), "worker_seconds": round(inside, 2),
            "rows": rows, "bytes": job["result"]["bytes"],
            "rows_per_second": round(rows / seconds)}


def _finished(web: str, job_id: str):
    job = requests.get(f"{web}/api/jobs/{job_id}", headers=OWNER, timeout=10).json()
    return job if job["status"] in lifecycle.FINISHED else None


class _Discard:
    """A sink that keeps nothing: the export's own cost, without S3's."""

    written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)


class _NoCancel:
    def __init__(self, session):
        self.session = session

    def check_cancelled(self) -> None:
        pass


def stream_only(settings: Settings) -> dict:
    """The worker's streaming code (COPY, neutralisation, encoding) into a discarding sink,
    in this process: what the export costs before the bytes reach S3 (here, moto)."""
    from core import exports
    from core.exportspecs import load_export_spec
    from store import db
    from tasks import export as task
    spec = load_export_spec("customers")
    params = exports.validate({"dataset": "customers"})
    query, args = exports.select_sql(spec, params["columns"], [], True)
    with db.sessions(settings.require_database())() as session:
        sink, began = _Discard(), time.perf_counter()
        rows = task._stream(_NoCancel(session), spec, params, query, args, sink)
        seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 2), "rows": rows, "bytes": sink.written,
            "rows_per_second": round(rows / seconds)}


def count_object_rows(settings: Settings, key: str, gzipped: bool, encoding: str) -> int:
    """CSV records of an object in the bucket, streamed (header excluded)."""
    body = aws.client(settings, "s3").get_object(Bucket=settings.bucket, Key=key)["Body"]
    raw = gzip.GzipFile(fileobj=body) if gzipped else body
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    return sum(1 for _ in csv.reader(text)) - 1


def run(rows: int) -> dict:
    with contextlib.ExitStack() as stack:
        print("Starting moto, PostgreSQL, a worker and the web app...", flush=True)
        settings, logs, where = start_base(stack, "export", worker_concurrency=1,
                                          worker_queues=("exports",))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-export-")))
        print(f"Filling customers with {rows} rows...", flush=True)
        fill_seconds = fill(settings, rows)
        print("Baseline: psql \\copy...", flush=True)
        base = baseline(settings, scratch)
        print("Baseline to the bucket: the same file uploaded to the emulator...", flush=True)
        to_bucket = baseline_to_bucket(settings, scratch, base)
        print("The export's streaming alone, into a discarding sink...", flush=True)
        alone = stream_only(settings)
        workers = start_workers(stack, settings, logs)
        web = start_web(stack, settings, logs)
        idle_memory = peak_memory_mb(workers)
        print("Product: an export job through the API and a worker...", flush=True)
        plain = export(web, {"dataset": "customers"})
        memory = peak_memory_mb(workers)
        print("Counting the exported object's rows...", flush=True)
        plain_rows = count_object_rows(settings, plain["job"]["result"]["key"], False, "utf-8")
        print("Product: the same export, gzip and UTF-8 with BOM...", flush=True)
        zipped = export(web, {"dataset": "customers", "encoding": "utf-8-sig", "gzip": True})
        zipped_rows = count_object_rows(settings, zipped["job"]["result"]["key"], True,
                                        "utf-8-sig")
        memory_after_gzip = peak_memory_mb(workers)
    ratio = plain["seconds"] / base["seconds"]
    peak = max(m["peak_mb"] for m in memory)
    return {
        "benchmark": "bench/export.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": where,
        "rows": rows,
        "fill_seconds": fill_seconds,
        "baseline": base,
        "baseline_to_bucket": to_bucket,
        "ratio_to_baseline_to_bucket": round(plain["seconds"] / to_bucket["seconds"], 3),
        "product": {k: v for k, v in plain.items() if k != "job"},
        "product_gzip_utf8_sig": {k: v for k, v in zipped.items() if k != "job"},
        "stream_without_upload": alone,
        "ratio_without_upload": round(alone["seconds"] / base["seconds"], 3),
        "ratio": round(ratio, 3),
        "ratio_worker_only": round(plain["worker_seconds"] / base["seconds"], 3),
        "ratio_goal": 1.5,
        "peak_memory_mb": peak,
        "peak_memory_goal_mb": 200,
        "worker_memory_before": idle_memory,
        "worker_memory_after": memory,
        "worker_memory_after_gzip": memory_after_gzip,
        "checks": {"object_rows": plain_rows, "object_rows_gzip": zipped_rows,
                   "rows_match": plain_rows == rows == base["rows"] == zipped_rows},
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.rows)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"Wrote {args.out}")
    return 0 if result["checks"]["rows_match"] else 1


if __name__ == "__main__":
    sys.exit(main())
