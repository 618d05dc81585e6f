"""Learning a pool's estimates from workers' reports, and pricing both runtimes."""
import pytest

from autoscaler import costs, estimates
from autoscaler.decide import PoolState


def test_the_first_sample_is_the_estimate_and_later_ones_move_it_a_fifth():
    assert estimates.moved(0, 10) == 10
    assert estimates.moved(10, 20) == pytest.approx(12)


def test_a_report_of_many_jobs_moves_the_estimate_as_that_many_samples_would():
    one_by_one = 10.0
    for _ in range(3):
        one_by_one = estimates.moved(one_by_one, 20)
    assert estimates.moved(10, 20, count=3) == pytest.approx(one_by_one)


def test_a_service_report_is_folded_and_counted():
    state = estimates.served(PoolState(), 6.0, 4)
    assert (state.service, state.service_count) == (6.0, 4)
    assert estimates.served(state, 0, 3) == state, "an empty report changes nothing"


def test_a_ready_worker_closes_the_start_up_measurement():
    state = estimates.ready(PoolState(asked_at=100.0), 142.0)
    assert (state.startup, state.asked_at) == (42.0, None)
    assert estimates.ready(state, 500.0) == state, "no ask outstanding: nothing measured"


def test_a_ready_long_after_the_ask_is_not_a_start_up():
    state = estimates.ready(PoolState(asked_at=0.0, startup=40.0), 5000.0)
    assert (state.startup, state.asked_at) == (40.0, None)


def test_learned_estimates_win_over_the_seeds():
    assert estimates.current(PoolState(), 5, 40) == estimates.Estimates(5, 40)
    assert estimates.current(PoolState(service=7, startup=30), 5, 40) == estimates.Estimates(7, 30)


def test_a_worker_second_is_the_fargate_price_of_the_default_worker_size():
    assert costs.DEFAULT.worker_second == pytest.approx(
        (costs.FARGATE_VCPU_HOUR + 2 * costs.FARGATE_GB_HOUR) / 3600)


def test_a_lambda_second_at_one_gigabyte_costs_about_1_2_worker_seconds():
    assert costs.DEFAULT.lambda_seconds(1, 1024) == pytest.approx(1.216, abs=0.001)
    assert costs.DEFAULT.lambda_seconds(0, 1024, requests=1_000_000) == pytest.approx(
        0.20 / costs.DEFAULT.worker_second)


def test_a_ready_sent_before_the_ask_leaves_the_measurement_open():
    state = PoolState(asked_at=100.0, startup=40.0)
    assert estimates.ready(state, 90.0) == state
