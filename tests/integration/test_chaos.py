"""The chaos benchmark's experiments, small: each kills, poisons or duplicates once
and checks that no job is lost, none runs twice and every result is right.

The same code as ``python -m bench.chaos``, on the test fixtures' moto and
PostgreSQL, with a few hundred rows and a few documents.
"""
from __future__ import annotations

import contextlib
import random
import signal

import pytest
from sqlalchemy import text

from bench import chaos_kills, chaos_messages
from bench.chaos_rig import Rig
from core.datasets import spec_named
from tasks.imports import samples

SLOW_ROWS = """
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(0.01); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION slow_row();
"""


@pytest.fixture
def rig(settings, queue_urls, tmp_path):
    with contextlib.ExitStack() as stack:
        yield Rig(stack, settings, tmp_path / "logs")


def slow_customers(rig: Rig) -> None:
    """A customers table whose rows take 10 ms each: an import long enough to kill."""
    chaos_kills.drop_customers(rig)
    with rig.engine.begin() as conn:
        conn.execute(text(spec_named("customers").create_table_sql()))
        conn.execute(text("DROP FUNCTION IF EXISTS slow_row() CASCADE"))
        conn.exec_driver_sql(SLOW_ROWS)


def no_holes(outcome) -> None:
    assert outcome.holes() == {}, outcome


@pytest.mark.settings(visibility=6)
def test_an_import_killed_midway_finishes_once_with_exactly_its_rows(
        rig, clean_imports, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(samples.customers_csv(300))
    point = chaos_kills.after_seconds(random.uniform(0.5, 1.5))

    outcome = chaos_kills.import_under_kills(rig, path, 300, [point], timeout=90,
                                             prepare=slow_customers)

    assert outcome.raw["kills"], "the import ended before the kill"
    no_holes(outcome)


@pytest.mark.settings(visibility=10, pdf_chunk_size=4, worker_concurrency=2)
def test_a_batch_whose_worker_is_killed_renders_each_document_once(rig):
    point = chaos_kills.at_fraction(0.25, 16)

    outcome = chaos_kills.batch_under_signal(rig, 16, signal.SIGKILL, point, timeout=120)

    assert outcome.raw["struck"]
    no_holes(outcome)


@pytest.mark.settings(visibility=5, max_receive_count=2)
def test_a_task_that_kills_its_process_is_dead_lettered_and_its_job_failed(rig):
    no_holes(chaos_messages.crashing_task(rig, timeout=90))


@pytest.mark.settings(visibility=5, max_receive_count=2)
def test_malformed_messages_reach_the_dead_letter_queue_and_spare_good_jobs(rig):
    no_holes(chaos_messages.malformed_messages(rig))


@pytest.mark.settings(visibility=10)
def test_a_message_delivered_twice_runs_its_job_once(rig):
    no_holes(chaos_messages.duplicate_delivery(rig, timeout=60))
