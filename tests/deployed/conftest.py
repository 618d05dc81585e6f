"""The stack as deployed: every process started as AWS would start it, under its own role.

The template is created in the emulator; then the migration task, the web app,
Flower and one worker per pool on ECS run as subprocesses with exactly the command and
environment their task definitions declare (secrets fetched from the emulator's
Secrets Manager, where the test stored test values), and the Lambdas' handlers run
with exactly their functions' environment: a pool on Lambda in a warm process fed by
its queue as its event source mapping would feed it (``tests.support.event_source``).
What the test adds is what AWS itself would provide: the endpoint (the IAM gate in
front of the emulator), credentials of the process's role, a local port to listen on
instead of ECS's, and Lambda's runtime and pollers.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from core.settings import WORKLOADS
from stack import services
from tests.support import deployed
from tests.support.event_source import EventSource, WarmFunction
from tests.support.iam_gate import Evaluator, Gate, Principal

ROOT = deployed.ROOT
BIN = str(Path(sys.executable).parent)
SENDER = "jobs@example.com"
SENDER_DOMAIN = "example.com"
OPERATOR = ("ops", "ops@example.com", secrets.token_hex(12))


@dataclass
class Deployed:
    """The running stack: its processes, the gate they call AWS through, and their logs."""

    stack: deployed.Stack
    gate: Gate
    logs: Path
    processes: dict[str, deployed.Process] = field(default_factory=dict)
    children: list = field(default_factory=list)
    #: The event source of each pool on Lambda, by pool.
    event_sources: dict[str, EventSource] = field(default_factory=dict)
    web: str = ""
    flower: str = ""

    def env(self, process: deployed.Process, **extra) -> dict:
        """The process's declared environment, plus what AWS provides: endpoint and role."""
        principal = Principal(process.name, process.role_arn or
                              f"arn:aws:iam::123456789012:role/{process.name}-without-role",
                              process.policies)
        key = "AKIA" + process.name.upper().replace("-", "")[:12].ljust(12, "X")
        return {**process.environment, **self.gate.admit(key, principal),
                "AWS_ENDPOINT_URL": self.gate.endpoint, "PATH": f"{BIN}:/usr/bin:/bin",
                "HOME": str(self.logs), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
                **extra}

    def run(self, name: str, argv: list[str], timeout: float = 120, **extra):
        """Run a one-off task of ``name``'s definition with another command (ECS run-task)."""
        return subprocess.run(argv, env=self.env(self.processes[name], **extra), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, name: str, argv: list[str]):
        child = services.spawn(name, argv, env=self.env(self.processes[name]),
                               log_dir=self.logs, cwd=str(ROOT))
        self.children.append(child)
        return child

    def invoke(self, function: str, event: dict) -> dict:
        """Invoke a Lambda handler once with ``event``, as the Lambda runtime would."""
        process = self.processes[function]
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.lambda_run", process.handler],
            input=json.dumps(event), capture_output=True, text=True, timeout=120, cwd=ROOT,
            env=self.env(process, **deployed.lambda_runtime_env(self.stack, process)))
        assert result.returncode == 0, f"{function} failed:\n{result.stderr[-3000:]}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    def feed(self, pool: str) -> EventSource:
        """The event source mapping of a pool on Lambda, polling its queue for its function."""
        process = self.processes[f"worker-{pool}"]
        mapping = deployed.event_source_mapping(self.stack, process.name)
        # The emulator would invoke the function itself (in Docker) on every send, taking
        # a receive of the message; this event source stands in for its mapping.
        self.stack.client("lambda").update_event_source_mapping(UUID=mapping["UUID"],
                                                                Enabled=False)
        env = self.env(process, **deployed.lambda_runtime_env(self.stack, process))
        function = WarmFunction(process.handler, env, process.timeout,
                                self.logs / f"{process.name}.log", str(ROOT))
        source = EventSource(mapping["EventSourceArn"].rsplit(":", 1)[-1],
                             mapping["BatchSize"], function, env, self.gate.endpoint,
                             deployed.REGION)
        self.event_sources[pool] = source.start()
        return source

    def on_lambda(self, pool: str) -> bool:
        return self.processes[f"worker-{pool}"].handler is not None

    def stop(self) -> None:
        for source in self.event_sources.values():
            source.stop()
        for child in self.children:
            child.stop(timeout=20)


def describe(stack: deployed.Stack) -> dict[str, deployed.Process]:
    """Every process of the stack, by name."""
    found = {"migrate": deployed.task_process(stack, "migrate",
                                              stack.outputs["MigrateTaskDefinition"]),
             "web": deployed.service_process(stack, "web"),
             "flower": deployed.service_process(stack, "flower")}
    for pool in WORKLOADS:
        found[f"worker-{pool}"] = deployed.pool_process(stack, pool)
    for function in ("autoscaler", "import-upload", "nightly-export"):
        found[function] = deployed.function_process(stack, function)
    return found


def replaced(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value (``--opt v`` or ``--opt=v``) replaced."""
    out = list(argv)
    for i, word in enumerate(out):
        if word == option:
            out[i + 1] = value
        elif word.startswith(option + "="):
            out[i] = f"{option}={value}"
    return out


@pytest.fixture(scope="session")
def iam_evaluator():
    evaluator = Evaluator()
    yield evaluator
    evaluator.close()


@pytest.fixture(scope="module")
def stack_db(pg_admin_url):
    """An empty database: the stack's migration task makes its schema."""
    name, url = services.scratch_database(pg_admin_url, prefix="jobsys_deployed")
    yield url
    services.drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def live_stack(moto_endpoint, stack_db, iam_evaluator, tmp_path_factory):
    stack = deployed.create_stack(
        moto_endpoint,
        {"DatabaseUrlSecretArn": stack_db, "FlowerSecretArn": f"admin:{secrets.token_hex(8)}",
         "WebSecretKeyArn": secrets.token_hex(32)},
        AllowPlainHttp="true", MailFrom=SENDER, SenderIdentity=SENDER_DOMAIN)
    # The operator verifies the sender's domain in SES before the first deploy.
    stack.client("ses").verify_domain_identity(Domain=SENDER_DOMAIN)
    gate = Gate(moto_endpoint, iam_evaluator)
    gate.verified_identities = {SENDER_DOMAIN}
    running = Deployed(stack, gate, tmp_path_factory.mktemp("deployed"))
    running.processes = describe(stack)
    try:
        boot(running)
        refused = gate.denials()
        assert not refused, "refused as AWS would, while the stack started:\n" + \
            "\n".join(map(str, refused))
        yield running
    finally:
        running.stop()
        gate.close()


def boot(running: Deployed) -> None:
    """Migrate, make the first operator, then start the services (what deploy.sh and
    the README's first steps do)."""
    migrate = running.processes["migrate"]
    done = running.run("migrate", [f"{BIN}/{migrate.command[0]}", *migrate.command[1:]])
    assert done.returncode == 0, f"the migration task failed:\n{done.stderr[-3000:]}"
    user, email, password = OPERATOR
    made = running.run("migrate", [f"{BIN}/flask", "--app", "webapp", "users", "create", user,
                                   "--email", email, "--operator", "--password-env",
                                   "NEW_PASSWORD"], NEW_PASSWORD=password)
    assert made.returncode == 0, made.stderr[-3000:]

    web_port, flower_port = services.free_port(), services.free_port()
    web = running.processes["web"].command
    web_child = running.start("web", [f"{BIN}/{web[0]}",
                                      *replaced(web[1:], "--bind", f"127.0.0.1:{web_port}")])
    flower = running.processes["flower"].command
    flower_child = running.start("flower", [f"{BIN}/{flower[0]}",
                                            *replaced(flower[1:], "--port", str(flower_port)),
                                            "--address=127.0.0.1"])
    workers = []
    for pool in WORKLOADS:
        if running.on_lambda(pool):
            running.feed(pool)
            continue
        command = running.processes[f"worker-{pool}"].command
        python = sys.executable if command[0] == "python" else f"{BIN}/{command[0]}"
        workers.append(running.start(f"worker-{pool}", [python, *command[1:]]))
    running.web = f"http://127.0.0.1:{web_port}"
    running.flower = f"http://127.0.0.1:{flower_port}"
    services.wait_for(lambda: _answers(web_child, running.web + "/healthz"), 60, "the web app")
    services.wait_for(lambda: _answers(flower_child, running.flower + "/healthcheck"), 60,
                      "Flower")
    for child in workers:
        services.wait_for(lambda: _worker_ready(child), 90, f"{child.name} to be ready")


def _answers(child, url: str) -> bool:
    if not child.alive():
        raise services.ChildExited(f"{child.name} exited:\n{child.tail()}")
    return requests.get(url, timeout=2).status_code == 200


def _worker_ready(child) -> bool:
    if not child.alive():
        raise services.ChildExited(f"{child.name} exited:\n{child.tail()}")
    return " ready." in child.log_path.read_text(errors="replace")
