"""The demo of ``make run``: canary jobs and real work through the API, and the path each
job took (a Lambda pool's event source, or a worker the autoscaler woke from zero)."""
from __future__ import annotations

import time
from typing import Callable

import requests

from autoscaler import config as pools_config
from stack import services

# The demo's calls to the API, as the local user ``demo`` (its token is set at start).
HTTP = requests.Session()


def canaries(decisions: Callable[[], list[dict]], web: str, count: int,
             pools: pools_config.Config) -> None:
    """Submit canary jobs through the API and show the path they take: a Lambda pool's
    event source, or the autoscaler waking a worker from zero; then each job's end."""
    if count <= 0:
        return
    seen = len(decisions())
    on_lambda = _pool_of(pools, "default").on_lambda
    print(f"\nSubmitting {count} canary jobs (POST {web}/api/jobs); the default pool "
          + ("runs on Lambda: its event source (here python -m worker.lambda_pool) hands "
             "each message to the handler, no worker to wake:" if on_lambda
             else "runs on ECS and its workers are at zero:"))
    began_all = time.perf_counter()
    ids = []
    for _ in range(count):
        began = time.perf_counter()
        response = HTTP.post(f"{web}/api/jobs", json={"kind": "canary", "params": {}},
                                 timeout=10)
        response.raise_for_status()
        ids.append(response.json()["id"])
        print(f"  {response.status_code} {response.headers['Location']} "
              f"in {(time.perf_counter() - began) * 1000:.0f} ms")
    if not on_lambda:
        woke = services.wait_for(
            lambda: next((d for d in decisions()[seen:] if d.get("applied")), None),
            60, "the autoscaler to start a worker")
        print(f"  autoscaler, {time.perf_counter() - began_all:.1f} s after the first job: "
              f"pool {woke['pool']} {woke['current']} -> {woke['desired']} ({woke['reason']})")
    for job_id in ids:
        job = services.wait_for(lambda: _finished(web, job_id), 60, f"canary {job_id}")
        result = job.get("result") or {}
        print(f"  {job_id} {job['status']}: queue wait {result.get('queue_wait_ms')} ms, "
              f"{ran_on(job.get('worker'))}")


def ran_on(worker: str | None) -> str:
    """Which path a job took, from the worker its row names."""
    if worker and worker.startswith("lambda:"):
        return f"ran on {worker} (a Lambda pool: python -m worker.lambda_pool)"
    return f"ran on {worker} (a worker process the autoscaler started)"


def _pool_of(pools: pools_config.Config, workload: str) -> pools_config.PoolConfig:
    return next(p for p in pools.pools if workload in p.queues)


def _finished(web: str, job_id: str):
    job = HTTP.get(f"{web}/api/jobs/{job_id}", timeout=5).json()
    return job if job["status"] not in ("queued", "running") else None


def work(web: str, pools: pools_config.Config) -> None:
    """Real work through the API: a CSV import, an export of what it loaded, a PDF batch,
    each on its pool's path (an ECS pool at zero is woken by the autoscaler first; its
    decisions are in the autoscaler's log)."""
    from tasks.imports.samples import customers_csv
    from tasks.pdf.samples import statement

    paths = "; ".join(f"{w} on {'Lambda' if _pool_of(pools, w).on_lambda else 'ECS'}"
                      for w in ("imports", "exports", "pdf"))
    print(f"\nReal work through the API ({paths}):")
    answer = HTTP.post(f"{web}/api/imports/direct",
                           params={"dataset": "customers", "filename": "demo-customers.csv"},
                           data=customers_csv(200), headers={"Content-Type": "text/csv"},
                           timeout=30)
    job = _follow(web, answer, "import of 200 customers (POST /api/imports/direct)")
    if job["status"] == "succeeded":
        answer = HTTP.post(f"{web}/api/jobs", timeout=30, json={
            "kind": "export", "params": {"dataset": "customers", "encoding": "utf-8-sig"}})
        job = _follow(web, answer, "export of the customers table (POST /api/jobs)")
        if job["status"] == "succeeded":
            print(f"    download: {web}/api/jobs/{job['id']}/download")
    answer = HTTP.post(f"{web}/api/jobs", timeout=30, json={
        "kind": "pdf_batch",
        "params": {"template": "statement", "rows": [statement(n) for n in range(10)]}})
    job = _follow(web, answer, "10 Japanese statements as PDFs (POST /api/jobs)")
    if job["status"] in ("succeeded", "partially_failed"):
        print(f"    documents: {web}/api/jobs/{job['id']}/documents   "
              f"ZIP: {web}/api/jobs/{job['id']}/archive")
    print("  E-mails about these jobs are in the mail folder printed above.")


def _follow(web: str, answer: requests.Response, what: str) -> dict:
    """Print a job's progress until it ends; returns the finished job."""
    if answer.status_code != 202:
        print(f"  {what}: {answer.status_code} {answer.text[:300]}")
        return {"status": "refused"}
    job_id = answer.json()["id"]
    print(f"  {what}: {job_id}")
    began, shown = time.perf_counter(), None
    deadline = began + 180
    while time.perf_counter() < deadline:
        job = HTTP.get(f"{web}/api/jobs/{job_id}", timeout=5).json()
        progress = job["progress"]
        state = (job["status"], progress["done"], progress["failed"], progress["total"])
        if state != shown:
            shown = state
            print(f"    {time.perf_counter() - began:5.1f} s  {job['status']:<16} "
                  f"done {progress['done']} / failed {progress['failed']} / total {progress['total']}")
        if job["status"] not in ("queued", "running"):
            if job.get("error"):
                print(f"    error: {job['error']}")
            print(f"    {ran_on(job.get('worker'))}")
            return job
        time.sleep(0.5)
    print(f"    still {shown[0]} after 180 s; see the logs")
    return {"status": "unfinished"}
