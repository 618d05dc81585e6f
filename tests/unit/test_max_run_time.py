"""The longest a job's task may run: each kind's maximum, the check that a runtime's limit
holds them, and the deadlines they make."""
from __future__ import annotations

from dataclasses import replace

import pytest

from core import kinds
from core.deadline import Deadline, earliest
from core.errors import ConfigurationError
from core.settings import Settings


def test_every_kind_but_export_fits_in_a_lambda_run_by_default():
    kinds.check_fits(("default", "pdf", "imports"), 900, "AWS Lambda", Settings())


def test_a_pool_with_exports_is_refused_naming_the_kind_and_what_to_do():
    with pytest.raises(ConfigurationError) as refused:
        kinds.check_fits(("default", "exports"), 900, "AWS Lambda", Settings())
    assert str(refused.value) == (
        "export jobs (queue exports) may run for as long as they take (no maximum run "
        "time), longer than the 900 s a run on AWS Lambda may take: run pool exports on "
        "ECS: POOL_EXPORTS_RUNTIME=ecs")


def test_imports_allowed_longer_than_lambda_runs_are_refused_naming_the_setting():
    settings = replace(Settings(), import_max_run_seconds=1000)
    with pytest.raises(ConfigurationError) as refused:
        kinds.check_fits(("imports",), 900, "AWS Lambda", settings, pool="bulk")
    assert str(refused.value) == (
        "csv_import jobs (queue imports) may run for up to 1000 s (IMPORT_MAX_RUN_SECONDS), "
        "longer than the 900 s a run on AWS Lambda may take: set IMPORT_MAX_RUN_SECONDS to at "
        "most 900, or run pool bulk on ECS: POOL_BULK_RUNTIME=ecs")


@pytest.mark.parametrize("task, workload, kind, seconds", [
    ("canary.run", "default", "canary", 330),
    ("pdf.plan_batch", "pdf", "pdf_batch", 600),
    ("pdf.render_chunk", "pdf", "pdf_batch", 600),  # not an entry task: its queue's kind
    ("imports.run", "imports", "csv_import", 77),
    ("test.sleep", "default", "canary", 330),
])
def test_a_task_is_bounded_by_its_kind_or_else_by_its_queues(task, workload, kind, seconds):
    bound_kind, bound = kinds.task_limit(task, workload, replace(Settings(),
                                                                 import_max_run_seconds=77))
    assert (bound_kind.name, bound) == (kind, seconds)


def test_an_export_and_a_task_of_no_kind_are_unbounded():
    assert kinds.task_limit("export.run", "exports") is None
    assert kinds.task_limit("elsewhere.task", None) is None


def test_every_kind_bounded_by_a_setting_names_a_declared_one():
    for kind in kinds.KINDS.values():
        if kind.max_run_setting:
            assert kinds.max_run(kind, Settings()) == kind.max_run_seconds


def test_an_overrun_says_how_long_the_most_and_what_to_do():
    assert kinds.overrun(kinds.KINDS["csv_import"], 840) == (
        "ran longer than 840 s, the most a csv_import job may run (IMPORT_MAX_RUN_SECONDS); "
        "split the file into smaller files, or raise IMPORT_MAX_RUN_SECONDS where the imports "
        "pool runs on ECS (on AWS Lambda it may be at most 900)")


class Clock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_deadline_passes_at_its_time_and_a_share_of_it_at_that_share():
    clock = Clock()
    deadline = Deadline.after(10, "too long", clock)
    clock.now = 104.9
    assert not deadline.passed(clock=clock) and not deadline.passed(0.5, clock)
    clock.now = 105
    assert deadline.passed(0.5, clock) and not deadline.passed(clock=clock)
    clock.now = 110
    assert deadline.passed(clock=clock) and deadline.left(clock) == 0


def test_the_earliest_deadline_wins_and_none_is_no_deadline():
    soon, late = Deadline(0, 5, "soon"), Deadline(0, 9, "late")
    assert earliest(late, None, soon) is soon
    assert earliest(None) is None
