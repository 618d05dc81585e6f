"""Workers lost mid-job: SIGKILL of a whole worker during a large CSV import and
during a PDF batch, and SIGTERM (a scale-in) during a batch. A fresh worker must
finish the job once: the table holds exactly the file's rows, every recipient
has exactly one document in the bucket and in the ZIP.
"""
from __future__ import annotations

import io
import random
import signal
import time
import uuid
import zipfile
from pathlib import Path
from typing import Callable

from sqlalchemy import text

from bench.chaos_rig import OWNER, Bystanders, Outcome, Rig, seconds_between
from bench.faults import kill_worker
from core import lifecycle, pdfbatch
from core.datasets import spec_named
from stack import services
from store import db, uploadstore
from tasks.pdf import samples

# When to strike an attempt: (the job's row, seconds the attempt has run) -> now?
KillPoint = Callable[[dict, float], bool]


def at_fraction(fraction: float, total: int, extra: float = 0.0) -> KillPoint:
    """Once the job reports ``fraction`` of ``total`` done, and ``extra`` seconds more."""
    reached: list[float] = []

    def now(job: dict, running: float) -> bool:
        if not reached and job["done"] >= fraction * total:
            reached.append(running)
        return bool(reached) and running >= reached[0] + extra
    return now


def after_seconds(seconds: float) -> KillPoint:
    return lambda job, running: running >= seconds


def strike_when(rig: Rig, job_id: str, attempt: int, point: KillPoint,
                timeout: float = 600) -> dict | None:
    """Wait until attempt ``attempt`` runs and ``point`` says strike; the row, or None
    if the job finished first."""
    began = None

    def ready():
        nonlocal began
        job = rig.job(job_id)
        if job["status"] in lifecycle.FINISHED:
            return {"finished": job}
        if job["status"] != lifecycle.RUNNING or job["attempts"] < attempt:
            return None
        began = began or time.monotonic()
        return {"strike": job} if point(job, time.monotonic() - began) else None
    found = services.wait_for(ready, timeout, f"attempt {attempt} of job {job_id}", 0.05)
    return found.get("strike")


def upload_csv(rig: Rig, path: Path) -> str:
    """Upload a file to import as the API would: recorded as the rig's owner's upload."""
    key = f"imports/chaos/{uuid.uuid4().hex}/{path.name}"
    with db.unit_of_work(rig.sessions) as session:
        uploadstore.record_upload(session, key=key, owner=OWNER, dataset="customers",
                                  options={})
    rig.s3.upload_file(str(path), rig.direct.bucket, key)
    return key


def drop_customers(rig: Rig) -> None:
    with rig.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS customers CASCADE"))


def customers_wrong(rig: Rig, rows: int) -> tuple[int, int, dict]:
    """(rows missing or extra, duplicate keys, the counts) of the customers table."""
    key = ", ".join(spec_named("customers").key)
    with rig.engine.connect() as conn:
        found, distinct = conn.execute(text(
            f"SELECT count(*), count(DISTINCT ({key})) FROM customers")).one()
    return abs(found - rows), found - distinct, {"rows": found, "distinct_keys": distinct}


def import_under_kills(rig: Rig, path: Path, rows: int, points: list[KillPoint],
                       timeout: float = 900,
                       prepare: Callable[[Rig], None] = drop_customers) -> Outcome:
    """Experiment 1: SIGKILL the importing worker at each point; a fresh one finishes.

    ``prepare`` readies the target table (by default: none, so the import makes it)."""
    out = Outcome("import_sigkill", f"SIGKILL x{len(points)} during a {rows:,}-row import")
    prepare(rig)
    key = upload_csv(rig, path)
    rig.worker(("default",))  # the bystanders'
    with Bystanders(rig) as bystanders:
        victim = rig.worker(("imports",))
        job_id = rig.submit("csv_import", {"dataset": "customers", "key": key})
        kills = []
        for attempt, point in enumerate(points, start=1):
            struck = strike_when(rig, job_id, attempt, point, timeout)
            if struck is None:
                break
            kills.append({"at": kill_worker(victim), "attempt": attempt,
                          "done": struck["done"]})
            victim = rig.worker(("imports",))
        final = rig.finished(job_id, timeout)
    out.add_bystanders(bystanders.count())
    out.raw = {"kills": [{"attempt": k["attempt"], "rows_done_when_killed": k["done"]}
                         for k in kills], "attempts_expected": len(kills) + 1}
    judge_import(out, rig, final, rows, kills[-1]["at"] if kills else None)
    return out


def judge_import(out: Outcome, rig: Rig, final: dict | None, rows: int,
                 fault_at: float | None) -> None:
    """Exactly the file's rows, each key once; recovery from ``fault_at`` to the finish."""
    out.raw["rows_expected"] = rows
    if final is None:
        out.jobs_lost += 1
        return
    wrong, duplicates, counts = customers_wrong(rig, rows)
    out.wrong_results += wrong + (final["status"] != lifecycle.SUCCEEDED)
    out.jobs_run_twice += duplicates
    recovered = seconds_between(fault_at, final["finished_at"])
    # A job that ended before the fault was not hit by it: no recovery to time.
    out.recovery_seconds = recovered if recovered is None or recovered >= 0 else None
    out.raw.update(counts, finished_before_fault=recovered is not None and recovered < 0,
                   status=final["status"], error=final["error"], attempts=final["attempts"])


def statement_rows(documents: int) -> list[dict]:
    return [samples.statement(n) for n in range(documents)]


def batch_under_signal(rig: Rig, documents: int, sig: int, point: KillPoint,
                       timeout: float = 600) -> Outcome:
    """Experiments 2 and 3: ``sig`` to the rendering worker mid-batch; a fresh one finishes."""
    name = "pdf_sigkill" if sig == signal.SIGKILL else "pdf_sigterm"
    out = Outcome(name, f"{signal.Signals(sig).name} during a {documents}-document PDF batch")
    rig.worker(("default",))  # the bystanders'
    with Bystanders(rig) as bystanders:
        victim = rig.worker(("pdf",))
        job_id = rig.submit("pdf_batch", {"template": "statement",
                                          "rows": statement_rows(documents)})
        struck = strike_when(rig, job_id, 1, point, timeout)
        at = kill_worker(victim, sig) if struck else None
        out.raw = {"signal": signal.Signals(sig).name, "struck": struck is not None,
                   "documents_done_when_struck": struck and struck["done"],
                   "victim_exit_code": victim.popen.returncode,
                   "victim_seconds_to_exit": round(time.time() - at, 2) if at else None}
        rig.worker(("pdf",))
        final = rig.finished(job_id, timeout)
    out.add_bystanders(bystanders.count())
    judge_batch(out, rig, job_id, final, documents)
    if at and final:
        out.recovery_seconds = seconds_between(at, final["finished_at"])
    return out


def judge_batch(out: Outcome, rig: Rig, job_id: str, final: dict | None, documents: int) -> None:
    """Documents = recipients, in the table, the bucket and the ZIP; none counted twice."""
    if final is None:
        out.jobs_lost += 1
        out.raw["status"] = rig.job(job_id)["status"]
        return
    seen = documents_seen(rig, job_id, final, documents)
    wrong = sum(abs(documents - seen[k]) for k in ("rows_done", "pdfs_in_bucket", "zip_members"))
    wrong += seen["pdfs_at_unexpected_keys"]
    out.wrong_results += wrong + (final["status"] != lifecycle.SUCCEEDED)
    out.jobs_run_twice += (seen["zip_members"] - seen["zip_distinct"]) + \
        max(0, final["done"] + final["failed"] - seen["rows_settled"])
    out.raw.update(seen, status=final["status"], error=final["error"],
                   attempts=final["attempts"], job_done=final["done"])


def documents_seen(rig: Rig, job_id: str, final: dict, documents: int) -> dict:
    with rig.engine.connect() as conn:
        by_status = dict(conn.execute(text(
            "SELECT status, count(*) FROM pdf_documents WHERE job_id = :j GROUP BY status"),
            {"j": job_id}).all())
    listed = rig.s3.list_objects_v2(Bucket=rig.direct.bucket, Prefix=f"pdf/{job_id}/")
    pdfs = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".pdf")]
    members = []
    archive = ((final.get("result") or {}).get("archive") or {}).get("key")
    if archive:
        blob = rig.s3.get_object(Bucket=rig.direct.bucket, Key=archive)["Body"].read()
        members = zipfile.ZipFile(io.BytesIO(blob)).namelist()
    expected_keys = {pdfbatch.document_key(job_id, n) for n in range(documents)}
    return {"rows_done": by_status.get("done", 0),
            "rows_settled": by_status.get("done", 0) + by_status.get("failed", 0),
            "pdfs_in_bucket": len(pdfs), "pdfs_at_unexpected_keys": len(set(pdfs) - expected_keys),
            "zip_members": len(members), "zip_distinct": len(set(members))}


def random_points(rng: random.Random, count: int, total: int) -> list[KillPoint]:
    """``count`` kill points at random fractions of the work, with a random extra delay."""
    return [at_fraction(rng.uniform(0.05, 0.6), total, rng.uniform(0.0, 1.5))
            for _ in range(count)]
