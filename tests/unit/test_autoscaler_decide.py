"""The scaling decision, case by case (KEDA's SQS scaler semantics)."""
import pytest

from autoscaler.decide import Depths, Estimates, Policy, PoolState, decide

NOW = 10_000.0
LONG_AGO = PoolState(last_busy=NOW - 3600, last_scale_out=NOW - 3600)


def busy(seconds_ago: float, scaled_out_ago: float | None = None) -> PoolState:
    scaled = None if scaled_out_ago is None else NOW - scaled_out_ago
    return PoolState(last_busy=NOW - seconds_ago, last_scale_out=scaled)


CASES = [
    # (case, depths, current, policy, state, desired, reason)
    ("an idle pool with no messages stays at zero",
     Depths(), 0, Policy(), PoolState(), 0, "idle: 0 messages, wake at 1"),
    ("the first message wakes an idle pool",
     Depths(visible=1), 0, Policy(), PoolState(), 1, "wake: 1 message on an idle pool"),
    ("an idle pool stays asleep below the wake threshold",
     Depths(visible=2), 0, Policy(wake=3), PoolState(), 0, "idle: 2 messages, wake at 3"),
    ("an idle pool wakes at the wake threshold with the workers the backlog needs",
     Depths(visible=3), 0, Policy(wake=3), PoolState(), 2, "wake: 3 messages on an idle pool"),
    ("in-flight messages count towards the backlog",
     Depths(visible=2, in_flight=4), 3, Policy(), LONG_AGO, 3,
     "steady: 3 workers for 6 messages"),
    ("a backlog beyond the max is capped at the max",
     Depths(visible=100), 2, Policy(max=10), LONG_AGO, 10,
     "scale out: 100 messages need 50 workers, capped at max 10"),
    ("a scale-out moves at most the step limit",
     Depths(visible=100), 2, Policy(max=10, max_step_out=3), LONG_AGO, 5,
     "scale out: 100 messages need 50 workers, capped at max 10, step limit +3"),
    ("a wake from zero obeys the step limit too",
     Depths(visible=40), 0, Policy(max=10, max_step_out=2), PoolState(), 2,
     "wake: 40 messages on an idle pool, step limit +2"),
    ("a pool with a min keeps its min workers without messages",
     Depths(), 0, Policy(min=2), PoolState(), 2,
     "scale out: 0 messages need 0 workers, kept at min 2"),
    ("a pool never scales in below its min",
     Depths(), 3, Policy(min=2), LONG_AGO, 2,
     "scale in: 0 messages need 0 workers, kept at min 2"),
    ("a pool with a max of zero never wakes",
     Depths(visible=5), 0, Policy(max=0), PoolState(), 0, "steady: 0 workers for 5 messages"),
    ("an empty pool holds its workers until the cooldown has passed",
     Depths(), 2, Policy(cooldown=60), busy(18), 2,
     "hold: cooldown 42s left before scaling in to 0"),
    ("an empty pool scales to zero once the cooldown has passed",
     Depths(), 2, Policy(cooldown=60), busy(60), 0, "scale to zero: idle for 60s"),
    ("scale to zero also waits a cooldown after the last scale-out",
     Depths(), 2, Policy(cooldown=60), busy(100, scaled_out_ago=30), 2,
     "hold: cooldown 30s left before scaling in to 0"),
    ("workers found running with nothing remembered get a full cooldown",
     Depths(), 2, Policy(cooldown=60), PoolState(), 2,
     "hold: cooldown 60s left before scaling in to 0"),
    ("a partial scale-in waits a cooldown after the last scale-out",
     Depths(visible=2), 5, Policy(cooldown=60), busy(0, scaled_out_ago=10), 5,
     "hold: cooldown 50s left before scaling in to 1"),
    ("a partial scale-in happens once the cooldown after the last scale-out has passed",
     Depths(visible=2), 5, Policy(cooldown=60), busy(0, scaled_out_ago=60), 1,
     "scale in: 2 messages need 1 worker"),
    ("a scale-in keeps a worker for every in-flight message",
     Depths(in_flight=3), 5, Policy(target=10), LONG_AGO, 3,
     "scale in: 3 messages need 1 worker, 3 in flight"),
    ("in-flight messages on every worker stop a scale-in",
     Depths(in_flight=5), 4, Policy(target=10), LONG_AGO, 4,
     "hold: 5 messages in flight on 4 workers"),
    ("in-flight messages stop a scale to zero whatever the cooldown",
     Depths(in_flight=1), 1, Policy(target=10), LONG_AGO, 1,
     "steady: 1 worker for 1 message"),
    ("a scale-in moves at most the step limit",
     Depths(), 8, Policy(max=10, max_step_in=3), LONG_AGO, 5,
     "scale to zero: idle for 3600s, step limit -3"),
    ("delayed messages do not count by default",
     Depths(delayed=4), 0, Policy(), PoolState(), 0, "idle: 0 messages, wake at 1"),
    ("delayed messages count when the policy says so",
     Depths(delayed=4), 0, Policy(count_delayed=True), PoolState(), 2,
     "wake: 4 messages on an idle pool"),
    ("the target backlog per worker sets the count",
     Depths(visible=25), 1, Policy(target=10, max=10), LONG_AGO, 3,
     "scale out: 25 messages need 3 workers"),
]


@pytest.mark.parametrize("case, depths, current, policy, state, desired, reason", CASES,
                         ids=[c[0] for c in CASES])
def test_decision(case, depths, current, policy, state, desired, reason):
    decision = decide(depths, current, policy, NOW, state)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_busy_pool_remembers_when_its_queues_were_last_non_empty():
    decision = decide(Depths(in_flight=1), 1, Policy(), NOW, busy(300))
    assert decision.state.last_busy == NOW


def test_an_empty_pool_keeps_the_time_it_was_last_busy():
    state = busy(30)
    assert decide(Depths(), 1, Policy(), NOW, state).state == state


def test_a_scale_out_is_remembered_and_a_scale_in_is_not():
    out = decide(Depths(visible=10), 1, Policy(), NOW, busy(0, scaled_out_ago=600))
    back = decide(Depths(), 5, Policy(), NOW, busy(600, scaled_out_ago=600))
    assert out.state.last_scale_out == NOW
    assert back.state.last_scale_out == NOW - 600


def test_scales_to_zero_only_after_the_cooldown_over_a_quiet_spell():
    policy, state, current, seen = Policy(cooldown=60), PoolState(), 0, []
    for now, depths in [(0, Depths(visible=3)), (10, Depths(in_flight=3)), (40, Depths()),
                        (69, Depths()), (70, Depths()), (80, Depths())]:
        decision = decide(depths, current, policy, now, state)
        state, current = decision.state, decision.desired
        seen.append(current)
    assert seen == [2, 2, 2, 2, 0, 0]


def test_depths_add_up_across_queues():
    total = Depths(1, 2, 3) + Depths(10, 20, 30)
    assert total == Depths(11, 22, 33)
    assert (total.backlog(), total.backlog(count_delayed=True)) == (33, 66)


def test_state_survives_the_trip_through_a_dict():
    state = PoolState(last_busy=1.5, last_scale_out=2.5)
    assert PoolState.from_dict(state.to_dict()) == state


def test_reasons_read_as_english_for_one_message():
    decision = decide(Depths(visible=1), 2, Policy(), NOW, LONG_AGO)
    assert decision.reason == "scale in: 1 message needs 1 worker"


# Cost-aware sizing: estimates of seconds per message (service) and per start-up.
FARGATE = Estimates(service=6, startup=40)
COST_CASES = [
    # (case, depths, current, policy, estimates, state, desired, reason)
    ("a burst starts no more workers than would each be busy for their start-up",
     Depths(visible=100), 0, Policy(max=10), FARGATE, PoolState(), 7,
     "wake: 100 messages on an idle pool"),
    ("a drain objective starts the workers it needs beyond that",
     Depths(visible=100), 1, Policy(max=10, drain=60), FARGATE, LONG_AGO, 10,
     "scale out: 100 messages (300 worker-s) need 13 workers: drained within 60s, "
     "capped at max 10"),
    ("a loose objective is met with fewer workers than the start-up rule allows",
     Depths(visible=100), 1, Policy(max=10, drain=600), FARGATE, LONG_AGO, 7,
     "scale out: 100 messages (300 worker-s) need 7 workers: each busy at least its "
     "40s start-up"),
    ("an objective the running workers meet alone adds none",
     Depths(visible=10), 1, Policy(max=10, drain=60), FARGATE, LONG_AGO, 1,
     "steady: 1 worker for 10 messages"),
    ("a lone short job still wakes one worker",
     Depths(visible=1), 0, Policy(), Estimates(service=2, startup=40), PoolState(), 1,
     "wake: 1 message on an idle pool"),
    ("an objective shorter than a start-up falls back to the target",
     Depths(visible=40), 1, Policy(max=10, drain=30), FARGATE, LONG_AGO, 10,
     "scale out: 40 messages (120 worker-s) need 20 workers: a 30s drain is out of reach, "
     "target 2 a worker, capped at max 10"),
    ("an objective never asks for more workers than there are messages to run",
     Depths(visible=4), 1, Policy(max=200, drain=41), Estimates(service=60, startup=40),
     LONG_AGO, 2, "scale out: 4 messages (120 worker-s) need 2 workers: a 41s drain is out "
     "of reach, target 2 a worker"),
    ("one worker a message at most, however long the messages",
     Depths(visible=3), 1, Policy(max=10, concurrency=1, target=1, drain=400),
     Estimates(service=300, startup=40), LONG_AGO, 3,
     "scale out: 3 messages (900 worker-s) need 3 workers: drained within 400s"),
    ("without a service estimate the target alone sizes the pool",
     Depths(visible=100), 0, Policy(max=10), Estimates(startup=40), PoolState(), 10,
     "wake: 100 messages on an idle pool"),
    ("an idle worker stays only as long as a restart would cost",
     Depths(), 2, Policy(cooldown=300), FARGATE, busy(40), 0,
     "scale to zero: idle for 40s"),
    ("before that it is kept",
     Depths(), 2, Policy(cooldown=300), FARGATE, busy(25), 2,
     "hold: cooldown 15s left before scaling in to 0"),
]


@pytest.mark.parametrize("case, depths, current, policy, estimates, state, desired, reason",
                         COST_CASES, ids=[c[0] for c in COST_CASES])
def test_cost_aware_decision(case, depths, current, policy, estimates, state, desired, reason):
    decision = decide(depths, current, policy, NOW, state, estimates)
    assert (decision.desired, decision.reason) == (desired, reason)


def test_a_scale_out_notes_when_workers_were_asked_for_until_one_is_ready():
    first = decide(Depths(visible=4), 0, Policy(), NOW, PoolState())
    again = decide(Depths(visible=9), 2, Policy(), NOW + 30, first.state)
    assert first.state.asked_at == NOW
    assert again.state.asked_at == NOW, "the start-up is measured from the first ask"
