"""Adapters at their boundaries: RunTask batching, stored state, wake-queue messages, wiring."""
import pytest

from autoscaler import bootstrap, config, state
from autoscaler.decide import PoolState
from autoscaler.errors import AutoscalerError, ConfigurationError
from autoscaler.local import LocalProcessScaler
from autoscaler.scalers import EcsServiceScaler, EcsTaskScaler, awsvpc_network
from autoscaler.state import MemoryStateStore, S3StateStore
from autoscaler.wake import (READY, REPORT, WAKE, Signal, signal_in, signals_in,
                             signals_in_event, workloads_in, workloads_in_event)


class FakeEcs:
    """The two ECS calls EcsTaskScaler makes, answered from a list of task ARNs."""

    def __init__(self, running=0, capacity=1000, failure=None):
        self.tasks = [f"arn:task/{n}" for n in range(running)]
        self.capacity, self.failure, self.run_calls = capacity, failure, []

    def get_paginator(self, name):
        assert name == "list_tasks"
        return self

    def paginate(self, **filters):
        assert filters["desiredStatus"] == "RUNNING"
        return [{"taskArns": self.tasks[:100]}, {"taskArns": self.tasks[100:]}]

    def run_task(self, **arguments):
        self.run_calls.append(arguments)
        count = min(arguments["count"], self.capacity - len(self.tasks))
        started = [f"arn:task/{len(self.tasks) + n}" for n in range(count)]
        self.tasks += started
        failures = [{"arn": "arn:instance/1", "reason": self.failure}] if self.failure else []
        return {"tasks": [{"taskArn": a} for a in started], "failures": failures}


def test_run_task_scaler_starts_the_difference_in_batches_of_ten():
    ecs = FakeEcs(running=3)
    EcsTaskScaler(ecs, "jobsys", "fam").set_desired(25)
    assert [c["count"] for c in ecs.run_calls] == [10, 10, 2]
    assert len(ecs.tasks) == 25


def test_run_task_scaler_counts_tasks_across_pages():
    assert EcsTaskScaler(FakeEcs(running=130), "jobsys", "fam").current() == 130


def test_run_task_scaler_never_stops_tasks():
    ecs = FakeEcs(running=5)
    EcsTaskScaler(ecs, "jobsys", "fam").set_desired(0)
    assert ecs.run_calls == [] and len(ecs.tasks) == 5


def test_run_task_scaler_passes_the_launch_type_network_and_group():
    ecs = FakeEcs()
    network = awsvpc_network(["subnet-1"], ["sg-1"])
    EcsTaskScaler(ecs, "jobsys", "fam", "FARGATE", network, group="autoscaler:pdf").set_desired(1)
    assert ecs.run_calls == [{
        "cluster": "jobsys", "taskDefinition": "fam", "count": 1,
        "startedBy": "jobsys-autoscaler", "launchType": "FARGATE", "group": "autoscaler:pdf",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}}}]


def test_run_task_scaler_reports_why_ecs_started_nothing():
    ecs = FakeEcs(capacity=0, failure="RESOURCE:MEMORY")
    with pytest.raises(AutoscalerError, match="started no task of family 'fam'.*RESOURCE:MEMORY"):
        EcsTaskScaler(ecs, "jobsys", "fam").set_desired(2)


def test_no_subnets_means_no_network_configuration():
    assert awsvpc_network([], ["sg-1"]) is None


def test_stored_state_round_trips_and_unreadable_state_is_forgotten():
    states = {"pdf": PoolState(1.0, 2.0), "imports": PoolState()}
    assert state.decode(state.encode(states)) == states
    assert state.decode(b"not json") == {}
    assert state.decode(b'{"pools": 3}') == {}


@pytest.mark.parametrize("bodies, workloads", [
    (['{"wake": "pdf"}', '{"wake": "imports"}', '{"wake": "pdf"}'], ["pdf", "imports"]),
    (["garbage", "[1]", '{"wake": 3}', '{"other": "pdf"}'], []),
])
def test_wake_bodies_name_their_workloads(bodies, workloads):
    assert workloads_in(bodies) == workloads


def test_a_lambda_sqs_event_names_its_workloads_and_a_schedule_names_none():
    event = {"Records": [{"eventSource": "aws:sqs", "body": '{"wake": "pdf"}'}]}
    assert workloads_in_event(event) == ["pdf"]
    assert workloads_in_event({"source": "aws.events", "detail-type": "Scheduled Event"}) == []


@pytest.mark.parametrize("body, signal", [
    ('{"wake": "pdf"}', Signal(WAKE, "pdf")),
    ('{"ready": "imports"}', Signal(READY, "imports")),
    ('{"report": "pdf", "service_seconds": 2.5, "jobs": 4}', Signal(REPORT, "pdf", None, 2.5, 4)),
    ('{"report": "pdf", "service_seconds": 3, "jobs": 1}', Signal(REPORT, "pdf", None, 3.0, 1)),
    ('{"report": "pdf", "service_seconds": 0, "jobs": 1}', None),
    ('{"report": "pdf", "service_seconds": -1, "jobs": 1}', None),
    ('{"report": "pdf", "service_seconds": NaN, "jobs": 1}', None),
    ('{"report": "pdf", "service_seconds": "2", "jobs": 1}', None),
    ('{"report": "pdf", "service_seconds": 2, "jobs": 0}', None),
    ('{"report": "pdf", "service_seconds": 2, "jobs": true}', None),
    ('{"report": "pdf", "service_seconds": 2, "jobs": 1.5}', None),
    ('{"report": "pdf"}', None),
    ('{"ready": ""}', None),
    ('{"ready": ["pdf"]}', None),
    ("[]", None),
    ("not json", None),
])
def test_wake_queue_bodies_are_wakes_readies_or_reports_and_malformed_ones_none(body, signal):
    assert signal_in(body) == signal


def test_a_received_messages_signals_carry_when_it_was_sent():
    messages = [{"Body": '{"ready": "pdf"}', "Attributes": {"SentTimestamp": "1700000000123"}},
                {"Body": '{"wake": "pdf"}',
                 "Attributes": {"ApproximateFirstReceiveTimestamp": "1700000001000"}},
                {"Body": '{"wake": "pdf"}'},
                {"Body": "garbage", "Attributes": {"SentTimestamp": "1"}}]
    assert [(s.kind, s.at) for s in signals_in(messages)] == [
        (READY, 1700000000.123), (WAKE, 1700000001.0), (WAKE, None)]


def test_a_lambda_sqs_event_carries_reports_and_readies_beside_its_wakes():
    event = {"Records": [
        {"body": '{"wake": "pdf"}', "attributes": {"SentTimestamp": "1000"}},
        {"body": '{"report": "pdf", "service_seconds": 2, "jobs": 3}',
         "attributes": {"SentTimestamp": "2000"}},
        {"body": '{"ready": "pdf"}', "attributes": {"SentTimestamp": "3000"}}]}
    assert signals_in_event(event) == [Signal(WAKE, "pdf", 1.0), Signal(REPORT, "pdf", 2.0, 2, 3),
                                       Signal(READY, "pdf", 3.0)]
    assert workloads_in_event(event) == ["pdf"]
    assert signals_in_event({"Records": "nonsense"}) == []


@pytest.mark.parametrize("mode, kind", [
    ("local", LocalProcessScaler),
    ("ecs-service", EcsServiceScaler),
    ("ecs-task", EcsTaskScaler),
])
def test_each_mode_gets_its_scaler(mode, kind):
    c = config.load({"AUTOSCALER_MODE": mode, "AUTOSCALER_SUBNETS": "subnet-1"})
    clients = bootstrap.Clients(sqs=object(), ecs=object())
    built = bootstrap.build(c, clients, environ={"PATH": "/bin"})
    assert {type(p.scaler) for p in built.pools} == {kind}
    assert built.pools[1].queues == ("jobsys-pdf",)


def test_a_pool_owns_the_signals_of_the_workloads_it_serves():
    c = config.load({"AUTOSCALER_POOLS": "bulk,pdf", "POOL_BULK_QUEUES": "imports,exports"})
    bulk, pdf = bootstrap.build(c, bootstrap.Clients(sqs=object()), environ={}).pools
    assert (bulk.serves("imports"), bulk.serves("exports"), bulk.serves("bulk")) == \
        (True, True, False)
    assert pdf.serves("pdf") and not pdf.serves("imports")


def test_local_workers_get_the_base_environment_and_their_pools_queues():
    c = config.load({"AUTOSCALER_POOLS": "bulk", "POOL_BULK_QUEUES": "imports,exports"})
    env = bootstrap.worker_env({"DATABASE_URL": "postgresql://x", "WORKER_QUEUES": "pdf"},
                               c.pool("bulk"))
    assert env == {"DATABASE_URL": "postgresql://x", "WORKER_QUEUES": "imports,exports"}


def test_state_lives_in_s3_only_when_a_bucket_is_configured():
    clients = bootstrap.Clients(sqs=object(), s3=object())
    assert isinstance(bootstrap.make_store(config.load({}), clients), MemoryStateStore)
    store = bootstrap.make_store(config.load({"AUTOSCALER_STATE_BUCKET": "b"}), clients)
    assert isinstance(store, S3StateStore) and (store.bucket, store.key) == (
        "b", "autoscaler/state.json")


def test_local_mode_will_not_start_workers_with_an_empty_environment():
    with pytest.raises(ConfigurationError, match="pass their base environment"):
        bootstrap.build(config.load({}), bootstrap.Clients(sqs=object()))
