"""Local mode: worker processes started and stopped on this machine, the loop
driving them from a real queue on the moto server, and what real workers report to it."""
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from autoscaler.decide import Policy
from autoscaler.local import LocalProcessScaler
from autoscaler.loop import run_once
from autoscaler.queues import SqsQueueDepth
from autoscaler.rounds import Autoscaler, Pool, run_round
from autoscaler.scalers import MemoryWorkerScaler
from autoscaler.state import MemoryStateStore
from autoscaler.wake import READY, REPORT, SqsWakeListener
from core import lifecycle
from core.wake import wake_queue_name
from stack import services
from stack.services import wait_for
from tests.support.jobs import Sender, create, wait_status

ROOT = Path(__file__).resolve().parents[2]

# Stands in for `python -m worker`: reports its environment, and on SIGTERM
# "finishes its task" (writes a mark) before leaving, as a warm shutdown does.
FAKE_WORKER = """
import os, pathlib, signal, sys, time
out = pathlib.Path(os.environ["OUT_DIR"])
def leave(*_):
    (out / f"{os.getpid()}.term").write_text("finished")
    sys.exit(0)
signal.signal(signal.SIGTERM, leave if os.environ.get("IGNORE_TERM") != "1" else signal.SIG_IGN)
(out / f"{os.getpid()}.env").write_text(os.environ["WORKER_QUEUES"] + " " + os.environ["WORKER_NAME"])
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def make_scaler(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    made = []

    def make(**env):
        scaler = LocalProcessScaler(
            "pdf", [sys.executable, str(script)],
            {**os.environ, "OUT_DIR": str(tmp_path), "WORKER_QUEUES": "pdf", **env},
            log_dir=tmp_path / "logs")
        made.append(scaler)
        return scaler

    yield make
    for scaler in made:
        scaler.close(timeout=5)


def started(tmp_path, pids):
    return all((tmp_path / f"{pid}.env").exists() for pid in pids)


def test_starts_workers_each_in_its_own_process_group_with_the_pools_environment(
        make_scaler, tmp_path):
    scaler = make_scaler()
    scaler.set_desired(3)
    pids = scaler.pids()
    assert scaler.current() == 3
    wait_for(lambda: started(tmp_path, pids), 30, "three workers")
    assert all(os.getpgid(pid) == pid for pid in pids)
    queues_and_names = [(tmp_path / f"{pid}.env").read_text().split() for pid in pids]
    assert {q for q, _ in queues_and_names} == {"pdf"}
    assert len({n for _, n in queues_and_names}) == 3, "every worker has its own name"


def test_scale_in_sends_sigterm_to_the_newest_workers_first(make_scaler, tmp_path):
    scaler = make_scaler()
    scaler.set_desired(3)
    oldest, *newer = scaler.pids()
    wait_for(lambda: started(tmp_path, [oldest, *newer]), 30, "three workers")
    scaler.set_desired(1)
    assert scaler.pids() == [oldest]
    wait_for(lambda: all((tmp_path / f"{pid}.term").exists() for pid in newer), 30,
             "the newer workers to finish and leave")
    assert not (tmp_path / f"{oldest}.term").exists()


def test_a_worker_that_died_no_longer_counts(make_scaler, tmp_path):
    scaler = make_scaler()
    scaler.set_desired(2)
    first, second = scaler.pids()
    wait_for(lambda: started(tmp_path, [first, second]), 30, "two workers")
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: scaler.current() == 1, 30, "the dead worker to be noticed")
    scaler.set_desired(2)
    assert scaler.pids()[0] == first and scaler.current() == 2


def test_never_signals_a_process_it_did_not_start(make_scaler, tmp_path):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        scaler = make_scaler()
        scaler.set_desired(1)
        scaler.set_desired(0)
        scaler.close(timeout=5)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_close_kills_a_worker_that_ignores_sigterm_after_the_timeout(make_scaler, tmp_path):
    scaler = make_scaler(IGNORE_TERM="1")
    scaler.set_desired(1)
    [pid] = scaler.pids()
    wait_for(lambda: started(tmp_path, [pid]), 30, "the worker")
    process = scaler.running[0]
    scaler.close(timeout=0.5)
    assert process.returncode == -signal.SIGKILL


def test_the_loop_starts_a_worker_for_a_message_and_stops_it_once_the_queue_is_empty(
        make_scaler, tmp_path, moto_endpoint):
    sqs = boto3.session.Session().client("sqs", region_name="us-east-1",
                                         endpoint_url=moto_endpoint)
    queue = f"t{uuid.uuid4().hex[:8]}-pdf"
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="job")
    workers = make_scaler()
    autoscaler = Autoscaler(pools=(Pool("pdf", Policy(cooldown=0), (queue,), workers),),
                            depth=SqsQueueDepth(sqs), store=MemoryStateStore(),
                            emit=lambda line: None)
    [woke] = run_once(autoscaler, clock=lambda: 100.0)
    assert (woke["desired"], workers.current()) == (1, 1)
    [pid] = workers.pids()
    wait_for(lambda: started(tmp_path, [pid]), 30, "the worker")
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    [slept] = run_once(autoscaler, clock=lambda: 101.0)
    assert (slept["desired"], workers.current()) == (0, 0)
    wait_for(lambda: (tmp_path / f"{pid}.term").exists(), 30, "the worker to leave")


def test_python_m_autoscaler_wakes_on_a_wake_signal_and_stops_its_workers_on_sigterm(
        tmp_path, moto_endpoint):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    sqs = boto3.session.Session().client("sqs", region_name="us-east-1",
                                         endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"{prefix}pdf")["QueueUrl"]
    wake_url = sqs.create_queue(QueueName=f"{prefix}wake.fifo",
                                Attributes={"FifoQueue": "true"})["QueueUrl"]
    env = services.python_env(
        AWS_ENDPOINT_URL=moto_endpoint, QUEUE_PREFIX=prefix, AUTOSCALER_POOLS="pdf",
        AUTOSCALER_INTERVAL=3600, POOL_PDF_COMMAND=shlex.join([sys.executable, str(script)]),
        OUT_DIR=str(tmp_path))
    loop = services.spawn("autoscaler", [sys.executable, "-m", "autoscaler"], env=env,
                          log_dir=tmp_path / "logs", cwd=str(ROOT))
    try:
        wait_for(lambda: '"reason": "idle' in loop.tail(), 30, "the first round")
        sqs.send_message(QueueUrl=url, MessageBody="job")
        sqs.send_message(QueueUrl=wake_url, MessageBody='{"wake": "pdf"}',
                         MessageGroupId="pdf", MessageDeduplicationId="pdf-1")
        pid = wait_for(lambda: next(int(p.stem) for p in tmp_path.glob("*.env")), 30,
                       "a worker started by the wake signal")
        loop.popen.send_signal(signal.SIGTERM)
        assert loop.popen.wait(30) == 0
        assert (tmp_path / f"{pid}.term").exists(), "its worker was stopped with SIGTERM"
    finally:
        loop.stop()


def test_a_real_worker_reports_ready_and_its_jobs_run_time_and_a_round_learns_both(
        app, settings, queue_urls, sqs, engine, start_worker):
    wake_url = queue_urls[wake_queue_name(settings.queue_prefix)]
    pool = Pool("default", Policy(), (settings.queue_name("default"),), MemoryWorkerScaler(),
                workloads=("default",))
    autoscaler = Autoscaler(pools=(pool,), depth=SqsQueueDepth(sqs), store=MemoryStateStore(),
                            emit=lambda line: None)
    job_id = create(app, "canary", {"sleep_seconds": 0.3})
    Sender(settings, queue_urls).send("canary.run", job_id)
    [woke] = run_round(autoscaler, time.time())
    assert woke["desired"] == 1, "the round asks for the worker started next"

    start_worker(WORKER_QUEUES="default")
    done = wait_status(engine, job_id, lifecycle.SUCCEEDED)
    received = []
    listener = SqsWakeListener(sqs, wake_url, received.extend, wait_seconds=1)
    wait_for(lambda: listener.poll() is not None and {READY, REPORT} <= {s.kind for s in received},
             60, "the worker's ready message and its job's report")
    [record] = run_round(autoscaler, time.time(), received)

    assert sorted((s.kind, s.workload) for s in received) == [(READY, "default"),
                                                               (REPORT, "default")]
    learned = autoscaler.store.load()["default"]
    ran = (done["finished_at"] - done["started_at"]).total_seconds()
    assert ran >= 0.3 and abs(learned.service - ran) < 0.002 and learned.service_count == 1
    assert 0 < learned.startup < 60 and learned.asked_at is None
    assert (record["service_s"], record["startup_s"]) == (learned.service, learned.startup)
