"""Run the whole system on this machine and show it working.

Starts the SQS/SNS/S3 emulator, PostgreSQL (DATABASE_URL, else one of its own),
applies migrations, creates the queues and bucket, then starts the web app, the
pools as the stack deploys them (``POOL_RUNTIMES``: a Lambda pool is served by
``python -m worker.lambda_pool``, the local stand-in of its event source; an ECS
pool by worker processes the autoscaler starts and stops as work arrives and
leaves, from zero) and Flower, submits canary jobs and real work through the API
and shows which path each job took. Ctrl-C stops every process it started.
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

from autoscaler import config as pools_config
from autoscaler.errors import ConfigurationError as PoolsConfigurationError
from autoscaler.rounds import decisions_in
from core import aws, kinds, provision
from core.errors import ConfigurationError
from core.settings import Settings
from deploy import pools as deployed_pools
from stack import accounts, demo, services

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("RUN_DIR", ROOT / ".run"))
log = logging.getLogger("stack")
#: Where each pool runs, as the AWS stack deploys it; each can be changed from the environment.
POOL_RUNTIMES = {f"POOL_{pool.upper()}_RUNTIME": runtime
                 for pool, runtime in deployed_pools.DEFAULT_RUNTIME.items()}


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
            # The autoscaler stops its workers first (each may finish a task), and a
            # Lambda pool's loop finishes its invocations.
            busy = child.name == "autoscaler" or child.name.startswith("lambda-")
            child.stop(timeout=75 if busy else 30)
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
    demo.HTTP.headers["Authorization"] = f"Bearer {local['token']}"
    settings = Settings.from_env(env)
    # The autoscaler keeps its state and last decisions where the operator page reads them.
    env.setdefault("AUTOSCALER_STATE_BUCKET", settings.bucket)
    provision.apply(settings, aws.client(settings, "sqs"), aws.client(settings, "s3"))
    print(f"  queues       {', '.join(settings.queue_name(w) for w in settings.worker_queues)}"
          " (+ dead-letter queues)")
    start_schedules(stack, env)
    pools = start_pools(stack, env, settings)
    stack.spawn("web", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{web_port}",
                        "--workers", "2", "--threads", "4", "--access-logfile", "-",
                        "webapp:create_app()"], env)
    start_upload_notifications(stack, env)
    flower_auth = os.environ.get("FLOWER_BASIC_AUTH") or f"admin:{secrets.token_urlsafe(9)}"
    stack.spawn("flower", [sys.executable, "-m", "celery", "--app", "worker.flower:app", "flower",
                           "--address=127.0.0.1", f"--port={flower_port}",
                           f"--basic-auth={flower_auth}"], env)
    _wait_up(stack, web, any(not p.on_lambda for p in pools.pools))
    return {"web": web, "flower": flower, "flower_auth": flower_auth, "pools": pools,
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


def start_pools(stack: Stack, env: dict, settings: Settings) -> pools_config.Config:
    """The autoscaler for the ECS pools, and ``python -m worker.lambda_pool`` for each Lambda
    pool on its queues; returns the pools' configuration."""
    for name, runtime in POOL_RUNTIMES.items():
        env.setdefault(name, runtime)
    try:
        config = pools_config.load(env)
        for pool in (p for p in config.pools if p.on_lambda):
            kinds.check_fits(pool.queues, pools_config.LAMBDA_MAX_SECONDS, "AWS Lambda",
                             settings, pool=pool.name)
    except (ConfigurationError, PoolsConfigurationError) as exc:
        raise SystemExit(f"the pools cannot run as configured: {exc}") from None
    stack.spawn("autoscaler", [sys.executable, "-m", "autoscaler",
                               "--log-dir", str(stack.logs / "workers")],
                dict(env, AUTOSCALER_MODE="local"))
    for pool in (p for p in config.pools if p.on_lambda):
        stack.spawn(f"lambda-{pool.name}", [sys.executable, "-m", "worker.lambda_pool"],
                    dict(env, WORKER_QUEUES=",".join(pool.queues),
                         LAMBDA_CONCURRENCY=str(pool.lambda_concurrency)))
    for pool in config.pools:
        how = ("Lambda: python -m worker.lambda_pool, up to "
               f"{pool.lambda_concurrency} at once" if pool.on_lambda
               else "ECS: worker processes the autoscaler starts from zero")
        print(f"  pool {pool.name:<8}(queues {', '.join(pool.queues)}) on {how}")
    return config


def start_upload_notifications(stack: Stack, env: dict) -> services.Child:
    """The local stand-in for S3 → Lambda: uploads under imports/ start their import."""
    return stack.spawn("uploads", [sys.executable, "-m", "lambdas.local"], env)


def start_schedules(stack: Stack, env: dict) -> None:
    """The scheduler loop (EventBridge's stand-in), and where e-mails are captured."""
    env.setdefault("MAIL_DIR", str(STATE / "mail"))
    stack.spawn("scheduler", [sys.executable, "-m", "lambdas.scheduler"], env)
    print(f"  schedules    python -m lambdas.scheduler; e-mails as .eml files in {env['MAIL_DIR']}")


def _wait_up(stack: Stack, web: str, autoscaled: bool) -> None:
    def ready():
        for child in stack.children:
            if not child.alive():
                raise services.ChildExited(f"{child.name} exited; its log says:\n{child.tail()}")
        return requests.get(f"{web}/healthz", timeout=1).ok and (decisions(stack) or
                                                                 not autoscaled)

    services.wait_for(ready, 90, "the web app and the autoscaler", interval=0.2)


def decisions(stack: Stack) -> list[dict]:
    """The autoscaler's decision lines so far (one JSON object per pool and round)."""
    log_path = next(c.log_path for c in stack.children if c.name == "autoscaler")
    return [record for _, record in
            decisions_in(log_path.read_text(errors="replace").splitlines())]


def banner(urls: dict) -> None:
    print(f"""
The system is up.
  web app   {urls['web']}          sign in as demo / {urls['passwords']['demo']}
            (operator: admin / {urls['passwords']['admin']}; kept in {STATE / 'accounts.json'})
  API       {urls['web']}/api/jobs   token of demo: {urls['token']}
  health    {urls['web']}/healthz/pipeline   (operators: runs a canary end to end)
  Flower    {urls['flower']}          (user:password {urls['flower_auth']})
  operators {urls['web']}/operator/   (queues, worker pools, dead letters; sign in as admin)
  workers   ECS pools: started and stopped by the autoscaler; its decisions: {urls['autoscaler_log']}
            Lambda pools: python -m worker.lambda_pool each; logs: {STATE / 'logs'}/lambda-<pool>.log
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
        demo.canaries(lambda: decisions(stack), urls["web"], args.demo_jobs, urls["pools"])
        if args.demo_jobs:
            demo.work(urls["web"], urls["pools"])
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
