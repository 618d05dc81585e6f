"""The abuse bench (bench/abuse.py): its cases run, its clock stops runaway calls,
and its ratios say when an entry point is not linear. Small sizes only: the bench
itself measures; these prove it can."""
from __future__ import annotations

import time

import pytest

from bench import abuse, abuse_measure
from bench.abuse_checks import checks_cases
from bench.abuse_files import recipients, recipients_cases, reader_cases, wide_headers
from bench.abuse_measure import measure


def _pure_cases():
    return reader_cases(quick=True) + checks_cases(quick=True) + recipients_cases(quick=True)


@pytest.mark.parametrize("case", _pure_cases(), ids=lambda c: f"{c.entry}: {c.name}")
def test_every_file_and_check_case_runs_at_a_small_size(case, monkeypatch):
    monkeypatch.setattr(abuse_measure, "REPEAT_BUDGET", 0)  # one run of each is enough here
    for build in (case.worst, case.ordinary):
        result = measure(build, 3000, deadline=30)
        assert result["seconds"] is not None, result["outcome"]
        assert not result["outcome"].startswith("the bench failed"), result["outcome"]


def test_a_call_past_its_deadline_is_killed_and_reported_as_timed_out():
    began = time.monotonic()
    result = measure(lambda _: (lambda: time.sleep(60)), 0, deadline=0.5)
    assert result["timed_out"] and result["seconds"] is None
    assert time.monotonic() - began < 30


def test_memory_a_call_holds_is_counted_in_its_peak_growth():
    result = measure(lambda n: (lambda: len(b"x" * n)), 64 << 20, deadline=30)
    assert result["peak_growth_mb"] >= 60


def test_a_recipients_header_of_long_names_is_refused_before_a_row_is_stored():
    outcome = recipients(wide_headers(16 << 10))
    assert "stored_per_input_byte" not in outcome
    assert outcome["outcome"].startswith("refused after 0 rows: recipients.csv line 1, column 1")


@pytest.mark.parametrize("worst, ordinary, growth, over, linear, near", [
    ([0.1, 0.2], [0.05, 0.1], 2.0, 2.0, True, True),
    ([0.1, 0.4], [0.05, 0.1], 4.0, 4.0, False, False),
    ([0.001, 0.004], [0.001, 0.001], 4.0, 4.0, True, True),  # under the noise floor
    ([0.5, None], [0.05, 0.1], ">40.0", ">200.0", False, False),
    ([None, None], [0.05, 0.1], None, ">200.0", False, False),
])
def test_ratios_name_quadratic_growth_and_timeouts(worst, ordinary, growth, over, linear, near):
    runs = lambda seconds: [{"seconds": s} for s in seconds]  # noqa: E731
    found = abuse.ratios(runs(worst), runs(ordinary), deadline=20)
    assert (found["growth"], found["worst_over_ordinary"]) == (growth, over)
    assert found["goals"] == {"linear": linear, "within_2x_ordinary": near}
