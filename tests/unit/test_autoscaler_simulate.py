"""The simulation: a trace replayed through decide() in simulated time."""
import json
from pathlib import Path

import pytest

from autoscaler import costs, simulate as cli
from autoscaler import trace
from autoscaler.config import load
from autoscaler.sim import simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "autoscaler" / "traces" / "example.json"


def small_trace(**changes):
    data = {
        "duration": 1800, "decision_interval": 60, "wake_latency": 5,
        "worker": {"startup": 40, "concurrency": 2},
        "pools": {"default": {"max": 4, "cooldown": 60},
                  "pdf": {"max": 5, "target": 2, "cooldown": 60}},
        "arrivals": [
            {"at": 100, "queue": "default", "count": 1, "duration": 8},
            {"at": "00:10", "queue": "pdf", "count": 30, "duration": 6, "spread": 5},
            {"at": 900, "pool": "pdf", "count": 2, "duration": 120},
        ],
    }
    data.update(changes)
    return trace.parse(data)


def test_figures_are_consistent_ideal_within_used_within_always_on():
    result = simulate(small_trace())
    t = result.totals
    assert t["ideal"] <= t["used"] <= t["always_on_at_max"]
    assert t["used"] >= t["ideal"] + t["starting"] + t["idle"]
    assert t["used"] == sum(p["used"] for p in result.pools.values())
    assert {p: f["tasks"] for p, f in result.pools.items()} == {"default": 1, "pdf": 32}
    assert result.pools["pdf"]["peak_workers"] == 5


def test_a_lone_job_waits_for_the_wake_signal_and_a_workers_start_up():
    result = simulate(small_trace(arrivals=[
        {"at": 100, "queue": "default", "count": 1, "duration": 8}]))
    figures = result.pools["default"]
    assert figures["wait_max"] == 5 + 40
    assert (figures["starting"], figures["ideal"]) == (40, 8)


def test_without_a_wake_signal_a_job_waits_for_the_next_scheduled_decision():
    result = simulate(small_trace(wake_latency=None, arrivals=[
        {"at": 100, "queue": "default", "count": 1, "duration": 8}]))
    assert result.pools["default"]["wait_max"] == 20 + 40


def test_the_run_lasts_until_every_pool_is_idle_again():
    result = simulate(small_trace(duration=60, arrivals=[
        {"at": 30, "queue": "default", "count": 1, "duration": 600}]))
    assert result.span > 600
    assert result.series["default"].running[-1] == 0


def test_pools_the_trace_does_not_describe_come_from_the_configuration():
    parsed = trace.parse({"pools": {"pdf": {"max": 9}},
                          "arrivals": [{"at": 0, "queue": "imports", "duration": 1}]},
                         base=load({"POOL_IMPORTS_MAX": "7"}))
    assert {p.name: p.policy.max for p in parsed.pools} == {
        "default": 4, "pdf": 9, "imports": 7, "exports": 4}


@pytest.mark.parametrize("data, words", [
    ({"pools": {"pdf": {}}, "arrivals": [{"at": 0, "queue": "videos", "duration": 1}]},
     "arrival 1: no pool serves queue 'videos'"),
    ({"pools": {"pdf": {"maximum": 3}}}, "pools.pdf: unknown key(s) maximum"),
    ({"pools": {"pdf": {"min": 3, "max": 1}}}, "pools.pdf: need target > 0 and 0 <= min <= max"),
    ({"pools": {"pdf": {}}, "arrivals": [{"at": "noon", "queue": "pdf", "duration": 1}]},
     "arrival 1: 'noon' is not a time"),
    ({"pools": {"pdf": {}}, "arrivals": [{"at": 0, "queue": "pdf", "duration": 0}]},
     "arrival 1: count and duration must be above zero"),
    ({"pools": {}}, "the trace names no pools"),
])
def test_a_malformed_trace_says_where(data, words):
    with pytest.raises(trace.TraceError) as error:
        trace.parse(data)
    assert words in str(error.value)


@pytest.mark.parametrize("text, seconds", [("02:00", 7200), ("01:02:03", 3723), (90, 90.0)])
def test_times_are_seconds_or_clock_times(text, seconds):
    assert trace.seconds(text, "at") == seconds


def test_the_example_day_runs_and_its_figures_hold_together():
    data = json.loads(EXAMPLE.read_text())
    result = simulate(trace.parse(data, base=load({})))
    t = result.totals
    assert t["ideal"] <= t["used"] <= t["always_on_one_per_pool"]
    assert sum(p["tasks"] for p in result.pools.values()) == sum(
        a.get("count", 1) for a in data["arrivals"])


def test_the_command_prints_the_figures_and_writes_json_and_a_plot(tmp_path, capsys):
    import matplotlib  # noqa: F401  (pinned in requirements.txt)
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"pools": {"pdf": {}}, "duration": 600, "arrivals": [
        {"at": 10, "queue": "pdf", "count": 4, "duration": 30}]}))
    code = cli.main([str(path), "--json", str(tmp_path / "out.json"),
                     "--out", str(tmp_path / "plot.png")], environ={})
    assert code == 0
    assert "x the ideal" in capsys.readouterr().out
    figures = json.loads((tmp_path / "out.json").read_text())
    assert figures["pools"]["pdf"]["tasks"] == 4
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_names_a_broken_trace(tmp_path, capsys):
    path = tmp_path / "trace.json"
    path.write_text('{"pools": {"pdf": {"max": "x"}}}')
    assert cli.main([str(path)], environ={}) == 2
    assert "pools.pdf: policy values must be numbers" in capsys.readouterr().err


def test_runtask_workers_leave_on_their_own_after_the_idle_exit():
    result = simulate(small_trace(idle_exit=10, arrivals=[
        {"at": 100, "queue": "default", "count": 1, "duration": 8}]))
    figures = result.pools["default"]
    assert (figures["starting"], figures["idle"], figures["used"]) == (40, 10, 58)


@pytest.mark.parametrize("assignment, path, value", [
    ("worker.startup=10", ("worker", "startup"), 10),
    ("wake_latency=null", ("wake_latency",), None),
    ("description=quiet", ("description",), "quiet"),
])
def test_set_changes_one_value_of_the_trace(assignment, path, value):
    data = trace.override({"worker": {"startup": 40}}, assignment)
    for key in path:
        data = data[key]
    assert data == value


def test_set_with_a_star_changes_every_pool():
    data = trace.override({"pools": {"a": {"cooldown": 60}, "b": {}}}, "pools.*.cooldown=0")
    assert data["pools"] == {"a": {"cooldown": 0}, "b": {"cooldown": 0}}


def test_set_without_a_value_says_how_to_write_it():
    with pytest.raises(trace.TraceError, match="expected PATH=VALUE"):
        trace.override({}, "worker.startup")


def lambda_trace(arrivals, **pool):
    return trace.parse({"duration": 60, "pools": {"default": {
        "runtime": "lambda", "lambda_concurrency": 4, "cold_start": 4, "init": 2, **pool}},
        "arrivals": arrivals})


def test_a_lambda_pool_pays_a_cold_start_once_and_reuses_a_warm_environment():
    result = simulate(lambda_trace([{"at": 0, "queue": "default", "duration": 10},
                                    {"at": 100, "queue": "default", "duration": 10}]))
    figures = result.pools["default"]
    assert (figures["cold_starts"], figures["wait_max"]) == (1, 4)
    assert figures["runtime"] == "lambda" and figures["idle"] == 0


def test_an_environment_idle_longer_than_it_stays_warm_starts_cold_again():
    result = simulate(lambda_trace([{"at": 0, "queue": "default", "duration": 10},
                                    {"at": 400, "queue": "default", "duration": 10}],
                                   warm_for=300))
    assert result.pools["default"]["cold_starts"] == 2


def test_a_lambda_pool_runs_at_most_its_maximum_concurrency():
    result = simulate(lambda_trace([{"at": 0, "queue": "default", "count": 12, "duration": 10}]))
    figures = result.pools["default"]
    assert figures["peak_workers"] == 4
    assert figures["wait_max"] == 20 + 4, "three waves of four; the first starts cold"


def test_a_lambda_pool_bills_init_and_durations_and_its_ideal_only_durations():
    result = simulate(lambda_trace([{"at": 0, "queue": "default", "count": 2, "duration": 100}],
                                   lambda_memory=1024))
    figures = result.pools["default"]
    per_second = costs.DEFAULT.lambda_seconds(1, 1024)
    assert figures["ideal"] == round(costs.DEFAULT.lambda_seconds(200, 1024, requests=2))
    assert figures["used"] == round(costs.DEFAULT.lambda_seconds(204, 1024, requests=2))
    assert figures["starting"] == round(4 * per_second)


def test_an_ecs_pool_learns_its_service_time_and_start_up_as_it_runs():
    result = simulate(small_trace(arrivals=[
        {"at": 100, "queue": "pdf", "count": 4, "duration": 6}]))
    figures = result.pools["pdf"]
    assert (figures["service_estimate"], figures["startup_estimate"]) == (6, 40)


@pytest.mark.parametrize("path", sorted(EXAMPLE.parent.glob("*.json")), ids=lambda p: p.stem)
def test_every_shipped_trace_parses_and_runs_to_idle(path):
    parsed = trace.parse(json.loads(path.read_text()), base=load({}))
    result = simulate(parsed, step=5)
    assert sum(f["tasks"] for f in result.pools.values()) == sum(
        a.count for a in parsed.arrivals)


def test_the_event_source_adds_invocations_over_a_minute_or_at_its_end():
    burst = [{"at": 0, "queue": "default", "count": 12, "duration": 100}]
    smooth = simulate(lambda_trace(burst, lambda_concurrency=20)).pools["default"]
    minute = simulate(lambda_trace(burst, lambda_concurrency=20, ramp_every=60)).pools["default"]
    assert smooth["wait_max"] == 4 + 2, "five at once, then five more a second"
    assert minute["wait_max"] == 4 + 60, "the next ones wait for the minute to pass"


def test_a_run_lasts_until_the_last_invocation_has_ended():
    result = simulate(lambda_trace([{"at": 50, "queue": "default", "duration": 600}]))
    assert result.span >= 50 + 4 + 600
