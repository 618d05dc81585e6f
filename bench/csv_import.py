"""CSV import benchmark: 1,000,000 realistic customers against `psql \\copy`.

    .venv/bin/python -m bench.csv_import [--rows 1000000] [--orm-rows 100000]
    .venv/bin/python -m bench.csv_import --dataset flights [--rows 1000000]

``--dataset flights`` measures an R-style file instead (NA cells, New York
timestamps, times of day; datasets/flights.toml) against ``\copy … NULL 'NA'``
with the same session time zone, and skips the ORM step.

In one run, against the same PostgreSQL and table definition:
1. baseline: ``psql -c "\\copy customers … CSV HEADER"`` into the empty table;
2. the product: the csv_import job (API path, a real worker) from the object in the
   bucket to committed rows, checks and upsert included, into the empty table;
3. the product importing the same file again into the full table (rows written: 0);
   then the same file through a presigned POST, started by the bucket's notification
   (no API call after the upload) — the path is shown working at full size;
4. for reference, SQLAlchemy ORM inserts in batches of 1,000 on ``--orm-rows`` rows.
Prints rows/s, seconds, ratios to (1) and the worker's peak memory; writes
bench/results/csv_import.json.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import subprocess
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import requests
from sqlalchemy import Table, create_engine, text
from sqlalchemy.orm import Session, registry

from bench import harness
from core import aws
from core.datasets import spec_named
from stack import services
from tasks.imports import samples


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


WRITERS = {"customers": samples.write_customers, "flights": samples.write_flights}


def generate(path: Path, rows: int, dataset: str = "customers") -> float:
    began = time.perf_counter()
    with open(path, "w", newline="", encoding="utf-8") as out:
        WRITERS[dataset](out, rows)
    return time.perf_counter() - began


def psql_copy(settings, spec, path: Path, columns=None) -> float:
    """``\\copy`` of the file, with the dataset's null spelling and time zone if it has them."""
    cols = ", ".join(columns or spec.column_names)
    null = f" NULL '{spec.copy_null}'" if spec.copy_null else ""
    began = time.perf_counter()
    subprocess.run(["psql", plain(settings.database_url), "-v", "ON_ERROR_STOP=1",
                    "-c", f"SET TimeZone = '{spec.session_zone}'",
                    "-c", f"\\copy {spec.table} ({cols}) FROM '{path}' CSV HEADER{null}"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[1]) == parent:
                    found.append(int(entry))
                    frontier.append(int(entry))
    return found


def memory_mb(pid: int, field: str = "VmHWM") -> dict[int, float]:
    """``field`` (high-water or current RSS, MB) of the worker and each pool process."""
    found = {}
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    found[p] = round(int(line.split()[1]) / 1024, 1)
    return found


def ask_upload(session, web: str, path: Path, dataset: str = "customers") -> dict:
    """The API's answer to a request for a presigned upload of ``path``."""
    answer = session.post(f"{web}/api/imports/uploads", json={"dataset": dataset,
                                                               "filename": path.name}, timeout=30)
    answer.raise_for_status()
    return answer.json()


def product_import(web: str, settings, path: Path, engine, dataset: str = "customers") -> dict:
    session = requests.Session()
    session.headers.update(harness.AUTH)
    key = ask_upload(session, web, path, dataset)["key"]
    aws.client(settings, "s3").upload_file(str(path), settings.bucket, key)
    began = time.perf_counter()
    job = session.post(f"{web}/api/imports", json={"key": key}, timeout=30).json()
    final = services.wait_for(lambda: _finished(session, web, job["id"]), 900, "the import",
                              interval=0.2)
    wall = time.perf_counter() - began
    if final["status"] != "succeeded":
        raise SystemExit(f"the import {final['status']}: {final['error']}")
    with engine.connect() as conn:
        ran = conn.execute(text("SELECT extract(epoch FROM finished_at - started_at) FROM jobs "
                                "WHERE id = :id"), {"id": job["id"]}).scalar()
    return {"seconds": round(float(ran), 3), "wall_seconds_from_api_call": round(wall, 3),
            "rows_written": final["result"]["rows_written"], "load": final["result"]["load"],
            "rows": final["result"]["rows"]}


def notified_import(web: str, settings, path: Path, engine) -> dict:
    """Presigned POST straight to the bucket; the notification loop starts the import."""
    from core import provision
    from lambdas import local

    session = requests.Session()
    session.headers.update(harness.AUTH)
    upload = ask_upload(session, web, path)
    post = upload["upload"]
    with open(path, "rb") as body:
        requests.post(post["url"], data=post["fields"], files={"file": (path.name, body)},
                      timeout=600).raise_for_status()
    sqs = aws.client(settings, "sqs")
    url = sqs.get_queue_url(QueueName=provision.uploads_queue_name(settings))["QueueUrl"]
    began = time.perf_counter()
    with engine.connect() as conn:
        def job_id():
            local.run_once(settings, sqs, url, wait=1)
            return conn.execute(text("SELECT id FROM jobs WHERE params->>'key' = :k"),
                                {"k": upload["key"]}).scalar()
        found = services.wait_for(job_id, 120, "the notification to start the import")
    final = services.wait_for(lambda: _finished(session, web, found), 900, "the import",
                              interval=0.2)
    return {"status": final["status"], "rows": final["result"]["rows"],
            "rows_written": final["result"]["rows_written"],
            "wall_seconds_after_upload": round(time.perf_counter() - began, 3)}


def _finished(session, web, job_id):
    job = session.get(f"{web}/api/jobs/{job_id}", timeout=10).json()
    return job if job["status"] not in ("queued", "running") else None


def orm_inserts(engine, spec, path: Path, rows: int) -> float:
    with engine.begin() as conn:
        conn.execute(text(spec.create_table_sql().replace(spec.table, "customers_orm", 1)))
    table = Table("customers_orm", registry().metadata, autoload_with=engine)
    Customer = type("Customer", (), {})
    registry().map_imperatively(Customer, table)
    convert = [_converter(c.type) for c in spec.columns]
    with open(path, newline="", encoding="utf-8") as f, Session(engine) as session:
        reader = csv.reader(f)
        next(reader)
        began = time.perf_counter()
        for batch in iter(lambda: list(itertools.islice(reader, 1000)), []):
            session.add_all(_customer(Customer, spec, convert, r) for r in batch)
            session.commit()
            rows -= len(batch)
            if rows <= 0:
                break
        return time.perf_counter() - began


def _converter(kind: str):
    if kind == "integer":
        return int
    if kind == "decimal":
        return Decimal
    if kind == "date":
        return lambda v: date(*map(int, v.replace("/", "-").split("-")))
    return str


def _customer(cls, spec, convert, row):
    obj = cls()
    for column, conv, value in zip(spec.columns, convert, row):
        setattr(obj, column.name, conv(value) if value != "" else None)
    return obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orm-rows", type=int, default=100_000)
    parser.add_argument("--dataset", choices=sorted(WRITERS), default="customers")
    args = parser.parse_args(argv)
    if args.dataset != "customers":
        return typed_file(args)
    spec = spec_named("customers")
    with contextlib.ExitStack() as stack:
        # The worker serves the imports queue only, as the imports pool's workers do.
        settings, logs, where = harness.start_base(stack, "csv-import", worker_queues=("imports",))
        scratch = logs.parent
        path = scratch / "customers.csv"
        generated = generate(path, args.rows)
        size = path.stat().st_size
        print(f"generated {args.rows:,} rows, {size / 1e6:.1f} MB in {generated:.1f}s ({where})")
        engine = create_engine(settings.database_url)
        with engine.begin() as conn:
            conn.execute(text(spec.create_table_sql()))
        baseline = psql_copy(settings, spec, path)
        print(f"1. psql \\copy: {baseline:.2f}s")
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {spec.table}"))
        worker = harness.start_workers(stack, settings, logs)[0]
        web = harness.start_web(stack, settings, logs)
        before = memory_mb(worker.pid, "VmRSS")
        first = product_import(web, settings, path, engine)
        print(f"2. import into the empty table: {first}")
        again = product_import(web, settings, path, engine)
        print(f"3. import again into the full table: {again}")
        after = memory_mb(worker.pid)
        notified = notified_import(web, settings, path, engine)
        print(f"5. presigned upload, started by its notification: {notified}")
        peak = {"peak_rss_mb": max(after.values()), "rss_before_import_mb": max(before.values()),
                "largest_growth_mb": round(max(after[p] - before.get(p, 0) for p in after), 1)}
        orm = orm_inserts(engine, spec, path, args.orm_rows)
        print(f"4. ORM inserts of {args.orm_rows:,} rows: {orm:.2f}s")
        engine.dispose()
    result = _result(args, size, baseline, first, again, orm, peak, where)
    result["upload_notification_path"] = notified
    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS / "csv_import.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def typed_file(args) -> int:
    """Steps 1-3 on another dataset's sample file (the flights: NA cells, timestamps)."""
    spec = spec_named(args.dataset)
    with contextlib.ExitStack() as stack:
        settings, logs, where = harness.start_base(stack, "csv-import", worker_queues=("imports",))
        path = logs.parent / f"{args.dataset}.csv"
        generate(path, args.rows, args.dataset)
        size = path.stat().st_size
        print(f"generated {args.rows:,} {args.dataset} rows, {size / 1e6:.1f} MB ({where})")
        engine = create_engine(settings.database_url)
        with path.open(encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        with engine.begin() as conn:
            conn.execute(text(spec.create_table_sql()))
        baseline = psql_copy(settings, spec, path, header)
        print(f"1. psql \\copy (NULL '{spec.copy_null}'): {baseline:.2f}s")
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {spec.table}"))
        harness.start_workers(stack, settings, logs)
        web = harness.start_web(stack, settings, logs)
        first = product_import(web, settings, path, engine, args.dataset)
        print(f"2. import into the empty table: {first}")
        again = product_import(web, settings, path, engine, args.dataset)
        print(f"3. import again into the full table: {again}")
        engine.dispose()
    result = {"dataset": args.dataset, "rows": args.rows, "file_mb": round(size / 1e6, 1),
              "database": where, "copy_baseline_seconds": round(baseline, 3),
              "import_empty": {**first, "ratio_to_copy": round(first["seconds"] / baseline, 2)},
              "reimport_full": {**again, "ratio_to_copy": round(again["seconds"] / baseline, 2)}}
    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS / f"csv_import_{args.dataset}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def _result(args, size, baseline, first, again, orm, peak, where) -> dict:
    per_s = lambda rows, s: round(rows / s)  # noqa: E731
    orm_per_s = args.orm_rows / orm
    return {
        "rows": args.rows, "file_mb": round(size / 1e6, 1), "database": where,
        "cpus": os.cpu_count(),
        "copy_baseline": {"seconds": round(baseline, 3), "rows_per_s": per_s(args.rows, baseline)},
        "import_empty": {**first, "rows_per_s": per_s(args.rows, first["seconds"]),
                         "ratio_to_copy": round(first["seconds"] / baseline, 2)},
        "reimport_full": {**again, "rows_per_s": per_s(args.rows, again["seconds"]),
                          "ratio_to_copy": round(again["seconds"] / baseline, 2)},
        "orm_batches_of_1000": {"rows": args.orm_rows, "seconds": round(orm, 3),
                                "rows_per_s": round(orm_per_s),
                                "ratio_to_copy_per_row": round((args.rows / baseline) / orm_per_s,
                                                               1)},
        "worker_memory": peak,
        "goals": {"import_within_1.5x_copy": first["seconds"] <= 1.5 * baseline,
                  "reimport_within_2x_copy": again["seconds"] <= 2 * baseline,
                  "reimport_writes_nothing": again["rows_written"] == 0,
                  "peak_under_200_mb": peak["peak_rss_mb"] < 200},
    }


if __name__ == "__main__":
    raise SystemExit(main())
