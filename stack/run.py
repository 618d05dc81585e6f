"""Run the whole system on this machine and show it working.

Starts the SQS/SNS/S3 emulator, PostgreSQL (DATABASE_URL, else one of its own),
applies migrations, creates the queues and bucket, then starts the web app,
the autoscaler (which starts and stops worker processes as work arrives and
leaves; every pool begins at zero) and Flower, submits canary jobs through the
API and shows them wake a worker and finish. Ctrl-C stops every process it
started.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import requests

from autoscaler.rounds import decisions_in
from core import aws, provision
from core.settings import Settings
from stack import accounts, services

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
# The demo's calls to the API, as the local user ``demo`` (its token is set at start).
HTTP = requests.Session()
log = logging.getLogger("stack")


def _port(name: str, default: int) -> int:
    port = int(os.environ.get(name, default))
    if not _port_free(port):
        raise SystemExit(f"port {port} on 127.0.0.1 is in use; stop what uses it or set {name}")
    return port


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    """The processes of a local run, stopped in reverse order of starting."""

    def __init__(self):
        self.children: list[services.Child] = []
        self.postgres: services.EmbeddedPostgres | None = None
        self.logs = STATE / "logs"

    def spawn(self, name: str, argv: list[str], env: dict) -> services.Child:
        child = services.spawn(name, argv, env=env, log_dir=self.logs, cwd=str(ROOT))
        self.children.append(child)
        return child

    def database(self) -> str:
        url = os.environ.get("DATABASE_URL")
        if url:
            print(f"  database     {url} (DATABASE_URL)")
            return url
        self.postgres = services.EmbeddedPostgres(STATE / "pgdata")
        url = services.ensure_database(self.postgres.start(), "jobsys")
        print(f"  database     {url} (embedded PostgreSQL, data in {STATE / 'pgdata'})")
        return url

    def stop(self) -> None:
        for child in reversed(self.children):
            # The autoscaler stops its workers first (each may finish a task).
            child.stop(timeout=75 if child.name == "autoscaler" else 30)
        self.children.clear()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None


def start(stack: Stack, args) -> dict:
    """Start everything; returns the URLs and credentials to print."""
    web_port, flower_port = _port("WEB_PORT", 8000), _port("FLOWER_PORT", 5555)
    emulator_port = _port("EMULATOR_PORT", 4566)
    # The emulator accepts any credentials; boto3 insists on having some.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    print(f"Starting the local stack (logs in {stack.logs}):")
    emulator, endpoint = services.start_moto(emulator_port, stack.logs)
    stack.children.append(emulator)
    print(f"  emulator     {endpoint} (SQS, SNS, S3)")
    database_url = stack.database()
    services.migrate(database_url)
    web, flower = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{flower_port}"
    env = services.python_env(DATABASE_URL=database_url, AWS_ENDPOINT_URL=endpoint,
                              SECRET_KEY=_secret_key(), COOKIE_SECURE="off",
                              FLOWER_URL=os.environ.get("FLOWER_URL") or flower)
    local = accounts.ensure(database_url, STATE / "accounts.json")
    HTTP.headers["Authorization"] = f"Bearer {local['token']}"
    settings = Settings.from_env(env)
    # The autoscaler keeps its state and last decisions where the operator page reads them.
    env.setdefault("AUTOSCALER_STATE_BUCKET", settings.bucket)
    provision.apply(settings, aws.client(settings, "sqs"), aws.client(settings, "s3"))
    print(f"  queues       {', '.join(settings.queue_name(w) for w in settings.worker_queues)}"
          " (+ dead-letter queues)")
    start_schedules(stack, env)
    stack.spawn("web", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{web_port}",
                        "--workers", "2", "--threads", "4", "--access-logfile", "-",
                        "webapp:create_app()"], env)
    stack.spawn("autoscaler", [sys.executable, "-m", "autoscaler",
                               "--log-dir", str(stack.logs / "workers")],
                dict(env, AUTOSCALER_MODE="local"))
    start_upload_notifications(stack, env)
    flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or f"admin:{secrets.token_urlsafe(9)}"
    stack.spawn("flower", [sys.executable, "-m", "celery", "--app", "worker.flower:app", "flower",
                           "--address=127.0.0.1", f"--port={flower_port}",
                           f"--basic-auth={flower_auth}"], env)
    _wait_up(stack, web)
    return {"web": web, "flower": flower, "flower_auth": flower_auth,
            "autoscaler_log": stack.logs / "autoscaler.log", "passwords": local["passwords"],
            "token": local["token"]}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one kept in the run folder (sign-ins survive restarts)."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = STATE / "secret_key"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def start_upload_notifications(stack: Stack, env: dict) -> services.Child:
    """The local stand-in for S3 → Lambda: uploads under imports/ start their import."""
    return stack.spawn("uploads", [sys.executable, "-m", "lambdas.local"], env)


def start_schedules(stack: Stack, env: dict) -> None:
    """The scheduler loop (EventBridge's stand-in), and where e-mails are captured."""
    env.setdefault("MAIL_DIR", str(STATE / "mail"))
    stack.spawn("scheduler", [sys.executable, "-m", "lambdas.scheduler"], env)
    print(f"  schedules    python -m lambdas.scheduler; e-mails as .eml files in {env['MAIL_DIR']}")


def _wait_up(stack: Stack, web: str) -> None:
    def ready():
        for child in stack.children:
            if not child.alive():
                raise services.ChildExited(f"{child.name} exited; its log says:\n{child.tail()}")
        return requests.get(f"{web}/healthz", timeout=1).ok and decisions(stack)

    services.wait_for(ready, 90, "the web app and the autoscaler", interval=0.2)


def decisions(stack: Stack) -> list[dict]:
    """The autoscaler's decision lines so far (one JSON object per pool and round)."""
    log_path = next(c.log_path for c in stack.children if c.name == "autoscaler")
    return [record for _, record in
            decisions_in(log_path.read_text(errors="replace").splitlines())]


def demo(stack: Stack, web: str, count: int) -> None:
    """Submit canary jobs through the API and show them wake a worker and finish."""
    if count <= 0:
        return
    seen = len(decisions(stack))
    print(f"\nSubmitting {count} canary jobs (POST {web}/api/jobs); the workers are at zero:")
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
    woke = services.wait_for(
        lambda: next((d for d in decisions(stack)[seen:] if d.get("applied")), None),
        60, "the autoscaler to start a worker")
    print(f"  autoscaler, {time.perf_counter() - began_all:.1f} s after the first job: "
          f"pool {woke['pool']} {woke['current']} -> {woke['desired']} ({woke['reason']})")
    for job_id in ids:
        job = services.wait_for(lambda: _finished(web, job_id), 60, f"canary {job_id}")
        result = job.get("result") or {}
        print(f"  {job_id} {job['status']}: queue wait {result.get('queue_wait_ms')} ms, "
              f"ran on {result.get('worker')}")


def _finished(web: str, job_id: str):
    job = HTTP.get(f"{web}/api/jobs/{job_id}", timeout=5).json()
    return job if job["status"] not in ("queued", "running") else None


def demo_work(web: str) -> None:
    """Real work through the API: a CSV import, an export of what it loaded, a PDF batch.

    Each job's pool is at zero, so the autoscaler wakes it first (its decisions are
    in the autoscaler's log).
    """
    from tasks.imports.samples import customers_csv
    from tasks.pdf.samples import statement

    print("\nReal work through the API (each pool wakes from zero):")
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
            return job
        time.sleep(0.5)
    print(f"    still {shown[0]} after 180 s; see the logs")
    return {"status": "unfinished"}


def banner(urls: dict) -> None:
    print(f"""
The system is up.
  web app   {urls['web']}          sign in as demo / {urls['passwords']['demo']}
            (operator: admin / {urls['passwords']['admin']}; kept in {STATE / 'accounts.json'})
  API       {urls['web']}/api/jobs   token of demo: {urls['token']}
  health    {urls['web']}/healthz/pipeline   (operators: runs a canary end to end)
  Flower    {urls['flower']}          (user:password {urls['flower_auth']})
  operators {urls['web']}/operator/   (queues, worker pools, dead letters; sign in as admin)
  workers   started and stopped by the autoscaler; its decisions: {urls['autoscaler_log']}
Try:
  curl -s -X POST {urls['web']}/api/jobs -H 'Content-Type: application/json' \\
       -H 'Authorization: Bearer {urls['token']}' \\
       -d '{{"kind": "canary", "params": {{"sleep_seconds": 2}}}}'
Press Ctrl-C to stop everything.""")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the job system locally.")
    parser.add_argument("--demo-jobs", type=int, default=3, help="canaries to submit (0: none)")
    parser.add_argument("--exit-after-demo", action="store_true",
                        help="stop everything once the demo jobs finish")
    args = parser.parse_args(argv)
    # Ctrl-C must work even when a shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(0))
    stack = Stack()
    try:
        urls = start(stack, args)
        demo(stack, urls["web"], args.demo_jobs)
        if args.demo_jobs:
            demo_work(urls["web"])
        banner(urls)
        while not args.exit_after_demo:
            _watch(stack)
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nStopping…")
    except services.ChildExited as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _still_stopping)  # a second Ctrl-C must not orphan anything
        stack.stop()
        print("Stopped every process this run started.")
    return 0


def _still_stopping(*_) -> None:
    print("Still stopping: each process gets its time to finish (the workers up to 75 s).",
          flush=True)


def _watch(stack: Stack) -> None:
    for child in stack.children:
        if not child.alive():
            raise services.ChildExited(
                f"{child.name} stopped unexpectedly (exit {child.popen.returncode}); "
                f"its log says:\n{child.tail()}")
