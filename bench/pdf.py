"""PDF batch throughput: the product against warm in-process WeasyPrint.

In one run, on the shipped one-page Japanese statement:

* ``baseline``: warm in-process rendering of N documents with as many
  processes as the workers run (a multiprocessing pool, one Renderer each);
* ``product``: one pdf_batch job of N recipients (plus one with a missing
  variable) through the API, SQS, the workers, S3 and PostgreSQL, with the
  same number of worker processes; timed from the POST until the last
  document is settled, and until the job has finished (ZIP included);

and the POST's response time, each worker process's peak memory (VmHWM), the
size of the one-page PDF (whose text pdftotext must read back), and the CPU
seconds each part of the stack used in each phase (bench/cpu.py). The product's
times come from the timestamps the system records (each document's and the
job's ``finished_at``); the client only polls, twice a second, to know when to
stop.

    .venv/bin/python -m bench.pdf [--documents 500] [--out bench/results/pdf.json]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

from bench import cpu
from bench.harness import AUTH, RESULTS, peak_memory_mb, start_base, start_web, start_workers
from core import lifecycle
from core.settings import Settings
from stack import services
from tasks.pdf import samples


DEFAULT_OUT = RESULTS / "pdf.json"
WORKERS, CONCURRENCY = 1, 2  # two pool processes: this machine has two cores
OWNER = AUTH  # filled in by start_web
STACK_ROLES = ("worker pool", "worker main", "moto", "postgres", "web")
_renderer = None


def _warm() -> None:
    global _renderer
    from tasks.pdf.render import Renderer
    _renderer = Renderer()
    _renderer.render("statement", samples.STATEMENT)


def _render(n: int) -> int:
    return len(_renderer.render("statement", samples.statement(n)))


def baseline(documents: int, processes: int) -> dict:
    """Warm in-process rendering with a pool of ``processes``; documents per second."""
    me = os.getpid()
    roles = lambda pid, cmd: "bench" if pid == me else "render" if _parent(pid) == me else None
    with multiprocessing.get_context("fork").Pool(processes, initializer=_warm) as pool:
        pool.map(_render, range(processes))  # every process warm before the clock starts
        before = cpu.snapshot(roles)
        start = time.perf_counter()
        sizes = pool.map(_render, range(documents), chunksize=4)
        seconds = time.perf_counter() - start
        used = cpu.used(before, cpu.snapshot(roles))
    return {"documents": documents, "processes": processes, "seconds": round(seconds, 2),
            "documents_per_second": round(documents / seconds, 2), "pdf_bytes": sizes[0],
            "cpu_seconds": used}


def cpu_per_document(used: dict, roles: tuple[str, ...], documents: int) -> float:
    return sum(used.get(role, 0.0) for role in roles) / documents


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def stack_roles(settings: Settings, web: str, workers: list) -> cpu.Classifier:
    """Names the role of each process of the product's stack (see bench/cpu.py)."""
    mains, me = {child.pid for child in workers}, os.getpid()
    moto = f"moto.server -H 127.0.0.1 -p {urlsplit(settings.aws_endpoint_url).port}"
    web_bind, database = urlsplit(web).netloc, urlsplit(settings.database_url).path[1:]

    def classify(pid: int, cmd: str) -> str | None:
        if pid == me:
            return "bench client"
        if pid in mains or _parent(pid) in mains:
            return "worker main" if pid in mains else "worker pool"
        if moto in cmd:
            return "moto"
        if "gunicorn" in cmd and web_bind in cmd:
            return "web"
        if cmd.startswith("postgres:") and f" {database} " in cmd:
            return "postgres"
        return None
    return classify


def one_page_pdf(rounds: int = 20) -> dict:
    """Size of the one-page statement, whether pdftotext reads its Japanese back, and
    the median seconds a warm process takes per page with compact and with stock
    font subsets (tasks/pdf/fontsubset.py), rendered in turns."""
    from tasks.pdf.render import Renderer
    _warm()
    renderers = {"compact": _renderer, "stock": Renderer(pdf_options={"finisher": None})}
    pdfs, seconds = {}, {name: [] for name in renderers}
    for _ in range(rounds):
        for name, renderer in renderers.items():
            start = time.perf_counter()
            pdfs[name] = renderer.render("statement", samples.STATEMENT)
            seconds[name].append(time.perf_counter() - start)
    text = pdftotext(pdfs["compact"])
    return {"bytes": len(pdfs["compact"]), "stock_bytes": len(pdfs["stock"]),
            "text_extractable": "山田 太郎 様" in text and "請求書" in text,
            "seconds_per_page": round(statistics.median(seconds["compact"]), 3),
            "stock_seconds_per_page": round(statistics.median(seconds["stock"]), 3)}


def pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()


def start_stack(stack: contextlib.ExitStack) -> tuple[Settings, str, list]:
    """moto, PostgreSQL, the workers and gunicorn; returns (settings, web URL, workers)."""
    settings, logs, _ = start_base(stack, "pdf", worker_concurrency=CONCURRENCY,
                                   worker_queues=("pdf",))
    workers = start_workers(stack, settings, logs, count=WORKERS)
    return settings, start_web(stack, settings, logs), workers


def product(settings: Settings, web: str, documents: int, on_settled=lambda: None) -> dict:
    """One batch through the whole system; timings, counts and the job.

    ``on_settled`` is called once the API first shows every document settled.
    """
    rows = [samples.statement(n) for n in range(documents)]
    broken = {k: v for k, v in samples.statement(documents).items() if k != "due_date"}
    rows.append({**broken, "name": "壊れた 行"})
    body = {"kind": "pdf_batch", "params": {"template": "statement", "rows": rows}}
    with requests.Session() as http:
        posted = time.time()
        start = time.perf_counter()
        answer = http.post(f"{web}/api/jobs", json=body, headers=OWNER, timeout=30)
        post_ms = (time.perf_counter() - start) * 1000
        answer.raise_for_status()
        job_id = answer.json()["id"]
        settled = False
        while True:
            job = http.get(f"{web}/api/jobs/{job_id}", headers=OWNER, timeout=10).json()
            progress, finished = job["progress"], job["status"] in lifecycle.FINISHED
            if not settled and (finished or progress["total"] and
                                progress["done"] + progress["failed"] == progress["total"]):
                settled = True
                on_settled()
            if finished:
                break
            time.sleep(0.5)
    settled, finished = recorded_times(settings, job_id)
    return {"job": job, "post_ms": round(post_ms, 1),
            "settled_seconds": round(settled - posted, 2),
            "finished_seconds": round(finished - posted, 2), "recipients": len(rows)}


def recorded_times(settings: Settings, job_id: str) -> tuple[float, float]:
    """(last document settled, job finished) as the system recorded them, epoch seconds."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            settled, finished = conn.execute(text(
                "SELECT (SELECT max(finished_at) FROM pdf_documents WHERE job_id = :j), "
                "finished_at FROM jobs WHERE id = :j"), {"j": job_id}).one()
    finally:
        engine.dispose()
    return settled.timestamp(), finished.timestamp()


def warm_up(http: requests.Session, web: str) -> None:
    """One small batch first: the web app connects to SQS on its first job."""
    body = {"kind": "pdf_batch", "params": {"template": "statement",
                                            "rows": [samples.statement(0)]}}
    job_id = http.post(f"{web}/api/jobs", json=body, headers=OWNER, timeout=30).json()["id"]
    services.wait_for(lambda: http.get(f"{web}/api/jobs/{job_id}", headers=OWNER, timeout=10)
                      .json()["status"] in lifecycle.FINISHED, 60, "the warm-up batch")


def verify(settings: Settings, web: str, job: dict) -> dict:
    """Every PDF read back by pdftotext, the ZIP, and the failed recipient by name."""
    wrong, checked, after = [], 0, -1
    while True:
        page = requests.get(f"{web}/api/jobs/{job['id']}/documents?status=done&limit=200"
                            f"&after={after}", headers=OWNER, timeout=30).json()
        for doc in page["documents"]:
            pdf = requests.get(doc["url"], timeout=30).content
            if f"{doc['recipient']} 様" not in pdftotext(pdf):
                wrong.append(doc["seq"])
            checked, after = checked + 1, doc["seq"]
        if not page["next"]:
            break
    failed = requests.get(f"{web}/api/jobs/{job['id']}/documents?status=failed",
                          headers=OWNER, timeout=30).json()["documents"]
    archive = requests.get(f"{web}/api/jobs/{job['id']}/archive", headers=OWNER, timeout=60)
    members = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    return {"pdfs_checked": checked, "pdfs_text_wrong": wrong, "zip_members": len(members),
            "zip_bytes": len(archive.content),
            "failed": [(d["recipient"], d["error"]) for d in failed]}


def run(documents: int) -> dict:
    processes = WORKERS * CONCURRENCY
    print(f"Baseline: {documents} documents, {processes} warm processes...", flush=True)
    base = baseline(documents, processes)
    size = one_page_pdf()
    with contextlib.ExitStack() as stack:
        print("Starting moto, PostgreSQL, the workers and the web app...", flush=True)
        settings, web, workers = start_stack(stack)
        print(f"Product: a batch of {documents} + 1 recipients through the API...", flush=True)
        with requests.Session() as http:
            warm_up(http, web)
        roles = stack_roles(settings, web, workers)
        before, after = cpu.snapshot(roles), {}
        result = product(settings, web, documents,
                         on_settled=lambda: after.update(cpu.snapshot(roles)))
        product_cpu = cpu.used(before, after)  # until settled, as the rate
        memory = peak_memory_mb(workers)
        print("Verifying every PDF with pdftotext...", flush=True)
        checks = verify(settings, web, result["job"])
    rate = result["recipients"] / result["settled_seconds"]
    return {
        "benchmark": "bench/pdf.py",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "baseline": base,
        "product": {"recipients": result["recipients"], "status": result["job"]["status"],
                    "progress": result["job"]["progress"], "post_ms": result["post_ms"],
                    "settled_seconds": result["settled_seconds"],
                    "finished_seconds": result["finished_seconds"],
                    "documents_per_second": round(rate, 2),
                    "documents_per_second_with_zip": round(
                        result["recipients"] / result["finished_seconds"], 2),
                    "workers": WORKERS, "worker_concurrency": CONCURRENCY,
                    "chunk_size": settings.pdf_chunk_size, "cpu_seconds": product_cpu},
        "ratio": round(rate / base["documents_per_second"], 3),
        # The same comparison in CPU seconds per document, which other users of
        # the machine do not move: rendering alone against the whole stack.
        "cpu_ratio": round(cpu_per_document(base["cpu_seconds"], ("render",), documents) /
                           cpu_per_document(product_cpu, STACK_ROLES, result["recipients"]), 3),
        "peak_memory": memory,
        "one_page_pdf": size,
        "checks": checks,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args.documents)
    print(json.dumps({k: v for k, v in result.items() if k != "checks"}, indent=2,
                     ensure_ascii=False))
    print("checks:", json.dumps({**result["checks"], "failed": result["checks"]["failed"]},
                                ensure_ascii=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
