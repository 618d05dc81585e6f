"""Rounds and the local loop, wired with the in-memory adapters."""
import io
import json
import logging
import threading

import pytest

from autoscaler import logformat
from autoscaler.rounds import decisions_in
from autoscaler.decide import Depths, Policy, PoolState
from autoscaler.loop import LocalLoop, run_forever, run_once
from autoscaler.queues import MemoryQueueDepth
from autoscaler.rounds import Autoscaler, Pool
from autoscaler.scalers import MemoryWorkerScaler, WorkerScaler
from autoscaler.state import KEEP_DECISIONS, MemoryStateStore
from autoscaler.wake import READY, REPORT, WAKE, Signal
from stack.services import wait_for

KEYS = {"pool", "visible", "in_flight", "delayed", "current", "desired", "reason", "dry_run"}


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


class BrokenScaler(WorkerScaler):
    def current(self):
        raise RuntimeError("ECS is down")


def wire(depth=None, dry_run=False, **scalers):
    lines = []
    pools = tuple(Pool(name, Policy(cooldown=60), (f"q-{name}",), scaler)
                  for name, scaler in scalers.items())
    scaler = Autoscaler(pools=pools, depth=depth or MemoryQueueDepth(),
                        store=MemoryStateStore(), dry_run=dry_run, emit=lines.append)
    return scaler, lines


def test_a_round_applies_each_pools_decision_and_logs_one_json_line_each():
    depth = MemoryQueueDepth({"q-pdf": Depths(visible=5)})
    pdf, imports = MemoryWorkerScaler(), MemoryWorkerScaler()
    scaler, lines = wire(depth, pdf=pdf, imports=imports)
    records = run_once(scaler, Clock())
    assert (pdf.count, imports.count) == (3, 0)
    assert imports.requests == [], "an unchanged count is not re-applied"
    assert [json.loads(line) for line in lines] == records
    assert all(KEYS <= set(r) for r in records)
    assert records[0] == {"pool": "pdf", "visible": 5, "in_flight": 0, "delayed": 0,
                          "current": 0, "desired": 3, "reason": "wake: 5 messages on an idle pool",
                          "dry_run": False, "applied": True}


def test_dry_run_logs_the_decision_but_changes_nothing():
    pdf = MemoryWorkerScaler()
    scaler, lines = wire(MemoryQueueDepth({"q-pdf": Depths(visible=5)}), dry_run=True, pdf=pdf)
    [record] = run_once(scaler, Clock())
    assert (record["desired"], record["dry_run"], record["applied"]) == (3, True, False)
    assert pdf.requests == [] and len(lines) == 1


def test_a_pool_adds_up_the_depths_of_all_its_queues():
    depth = MemoryQueueDepth({"a": Depths(visible=3), "b": Depths(in_flight=2, delayed=7)})
    bulk = MemoryWorkerScaler()
    scaler = Autoscaler(pools=(Pool("bulk", Policy(max=10), ("a", "b"), bulk),), depth=depth,
                        store=MemoryStateStore(), emit=lambda line: None)
    [record] = run_once(scaler, Clock())
    assert (record["visible"], record["in_flight"], record["delayed"]) == (3, 2, 7)
    assert bulk.count == 3


def test_rounds_remember_the_pools_state_and_scale_to_zero_after_the_cooldown():
    depth, pdf, clock = MemoryQueueDepth({"q-pdf": Depths(visible=2)}), MemoryWorkerScaler(), Clock()
    scaler, _ = wire(depth, pdf=pdf)
    run_once(scaler, clock)
    depth.set("q-pdf")
    clock.now += 59
    run_once(scaler, clock)
    clock.now += 1
    run_once(scaler, clock)
    assert pdf.requests == [1, 0]
    assert scaler.store.load()["pdf"] == PoolState(last_busy=1000.0, last_scale_out=1000.0,
                                                    asked_at=1000.0)


def test_rounds_keep_each_pools_last_decisions_newest_first_for_the_operator_page():
    depth, pdf, clock = MemoryQueueDepth({"q-pdf": Depths(visible=2)}), MemoryWorkerScaler(), Clock()
    scaler, _ = wire(depth, pdf=pdf, broken=BrokenScaler())
    for _ in range(KEEP_DECISIONS + 2):
        run_once(scaler, clock)
        clock.now += 10
    recent = scaler.store.recent()
    assert len(recent["pdf"]) == KEEP_DECISIONS
    assert [r["at"] for r in recent["pdf"][:2]] == [1110.0, 1100.0]
    assert recent["pdf"][-1]["reason"].startswith("steady")
    assert recent["broken"][0]["error"] == "RuntimeError: ECS is down"


def test_a_broken_pool_is_logged_and_the_others_still_scale():
    pdf = MemoryWorkerScaler()
    scaler, lines = wire(MemoryQueueDepth({"q-pdf": Depths(visible=1)}),
                         broken=BrokenScaler(), pdf=pdf)
    records = run_once(scaler, Clock())
    assert records[0] == {"pool": "broken", "error": "RuntimeError: ECS is down",
                          "dry_run": False}
    assert pdf.count == 1 and len(lines) == 2


def test_a_round_folds_reports_into_the_pools_service_estimate_and_logs_it():
    depth, pdf = MemoryQueueDepth({"q-pdf": Depths(visible=4)}), MemoryWorkerScaler()
    scaler, lines = wire(depth, pdf=pdf, imports=MemoryWorkerScaler())
    reports = [Signal(REPORT, "pdf", 990.0, 10.0, 2), Signal(REPORT, "pdf", 995.0, 20.0, 1),
               Signal(REPORT, "exports", None, 99.0, 1)]
    pdf_record, imports_record = run_once(scaler, Clock(), reports)
    learned = scaler.store.load()["pdf"]
    assert (learned.service, learned.service_count) == (12.0, 3)
    assert pdf_record["service_s"] == 12.0 and "startup_s" not in pdf_record
    assert scaler.store.load()["imports"].service == 0, "no pool serves exports"
    assert "service_s" not in imports_record, "no estimate, no key: records stay as they were"


def test_a_ready_worker_measures_the_start_up_from_the_round_that_asked_for_it():
    clock = Clock()
    scaler, _ = wire(MemoryQueueDepth({"q-pdf": Depths(visible=1)}), pdf=MemoryWorkerScaler())
    [woke] = run_once(scaler, clock)
    assert woke["desired"] == 1 and scaler.store.load()["pdf"].asked_at == 1000.0
    clock.now = 1050.0
    [record] = run_once(scaler, clock, [Signal(READY, "pdf", 1040.0), Signal(WAKE, "pdf")])
    state = scaler.store.load()["pdf"]
    assert (state.startup, state.asked_at) == (40.0, None)
    assert record["startup_s"] == 40.0


def test_a_ready_of_unknown_time_counts_as_received_at_the_rounds_time():
    scaler, _ = wire(MemoryQueueDepth({"q-pdf": Depths(visible=1)}), pdf=MemoryWorkerScaler())
    run_once(scaler, Clock(1000.0))
    run_once(scaler, Clock(1030.0), [Signal(READY, "pdf")])
    assert scaler.store.load()["pdf"].startup == 30.0


def test_a_pool_that_fails_to_decide_still_keeps_what_its_workers_reported():
    scaler, _ = wire(broken=BrokenScaler())
    [record] = run_once(scaler, Clock(), [Signal(REPORT, "broken", None, 5.0, 1)])
    assert "error" in record and scaler.store.load()["broken"].service == 5.0


@pytest.fixture
def looping():
    loops = []

    def start(scaler, interval=3600):
        loop = LocalLoop(scaler, interval=interval)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        loops.append((loop, thread))
        return loop, thread

    yield start
    for loop, thread in loops:
        loop.stop()
        thread.join(10)


def test_wake_makes_the_loop_decide_at_once_instead_of_after_its_interval(looping):
    depth, pdf = MemoryQueueDepth(), MemoryWorkerScaler()
    scaler, _ = wire(depth, pdf=pdf)
    loop, _ = looping(scaler, interval=3600)
    wait_for(lambda: loop.rounds == 1, 10, "the first round")
    depth.set("q-pdf", visible=1)
    loop.wake()
    wait_for(lambda: pdf.count == 1, 10, "a worker after the wake")


def test_reports_wait_for_the_next_round_and_a_wake_with_them_runs_it_at_once(looping):
    depth, pdf = MemoryQueueDepth(), MemoryWorkerScaler()
    scaler, _ = wire(depth, pdf=pdf)
    loop, _ = looping(scaler, interval=3600)
    wait_for(lambda: loop.rounds == 1, 10, "the first round")
    loop.wake([Signal(REPORT, "pdf", None, 3.0, 2)])
    assert not loop.woken.is_set(), "a report alone is no reason to decide now"
    depth.set("q-pdf", visible=1)
    loop.wake([Signal(WAKE, "pdf")])
    wait_for(lambda: loop.rounds == 2, 10, "a round after the wake")
    assert scaler.store.load()["pdf"].service == 3.0


def test_stop_ends_the_loop_without_waiting_for_the_interval(looping):
    scaler, _ = wire(pdf=MemoryWorkerScaler())
    loop, thread = looping(scaler, interval=3600)
    wait_for(lambda: loop.rounds == 1, 10, "the first round")
    loop.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_run_forever_stops_on_its_stop_event_and_wakes_on_its_wake_event():
    depth, pdf = MemoryQueueDepth(), MemoryWorkerScaler()
    scaler, lines = wire(depth, pdf=pdf)
    stop, wake = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_forever, args=(scaler, 3600, stop, wake), daemon=True)
    thread.start()
    wait_for(lambda: lines, 10, "the first round")
    depth.set("q-pdf", visible=1)
    wake.set()
    wait_for(lambda: pdf.count == 1, 10, "a worker after the wake")
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_a_failing_round_does_not_end_the_loop(looping):
    class FlakyStore(MemoryStateStore):
        failures = 1

        def load(self):
            if self.failures:
                self.failures -= 1
                raise ConnectionError("S3 is away")
            return super().load()

    pdf = MemoryWorkerScaler()
    scaler = Autoscaler(pools=(Pool("pdf", Policy(), ("q",), pdf),),
                        depth=MemoryQueueDepth({"q": Depths(visible=1)}), store=FlakyStore(),
                        emit=lambda line: None)
    loop, _ = looping(scaler, interval=0.01)
    wait_for(lambda: pdf.count == 1, 10, "a round after the failed one")


def test_decision_lines_are_read_back_from_a_log_with_their_prefix():
    lines = ['2026-11-23 10:04:02,490 autoscaler {"pool": "pdf", "current": 0, "desired": 1}',
             "2026-11-23 10:04:02,491 botocore something else",
             '2026-11-23 10:04:02,492 autoscaler {"pool": "pdf", "error": "TargetMissing: …"}',
             '2026-11-23 10:04:02,493 autoscaler {"pool": "cut off']

    assert decisions_in(lines) == [("2026-11-23 10:04:02,490 autoscaler ",
                                     {"pool": "pdf", "current": 0, "desired": 1})]


def test_decision_lines_are_read_back_from_a_json_log_with_their_time():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logformat.JsonLines("autoscaler"))
    log = logging.getLogger("autoscaler.test-json-lines")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    log.info("%s", json.dumps({"pool": "pdf", "current": 0, "desired": 1}))
    log.info("%s", json.dumps({"pool": "pdf", "error": "TargetMissing: …"}))

    [(prefix, record)] = decisions_in(out.getvalue().splitlines())
    assert record == {"pool": "pdf", "current": 0, "desired": 1}
    assert prefix.strip().endswith("+00:00"), "the line's UTC timestamp"
