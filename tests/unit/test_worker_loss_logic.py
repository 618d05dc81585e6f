"""The decisions about lost workers and the database sessions' settings, without a server."""
from datetime import datetime, timezone

import pytest

from core import lifecycle, losses
from core.settings import DEFAULT_VISIBILITY, Settings
from store import db

BEAT = datetime(2026, 12, 3, 4, 31, 7, 250000, tzinfo=timezone.utc)


@pytest.mark.parametrize("kind, attempt, lost_before, budget, status, reset", [
    ("csv_import", 1, 0, 10, lifecycle.QUEUED, True),
    ("export", 4, 9, 10, lifecycle.QUEUED, True),      # the tenth loss is still in budget
    ("export", 5, 10, 10, lifecycle.FAILED, False),    # the eleventh is not
    ("pdf_batch", 2, 0, 10, lifecycle.QUEUED, False),  # its counts are its documents' rows
    ("canary", 1, 0, 0, lifecycle.FAILED, False),      # no budget: the first loss fails it
])
def test_a_lost_attempt_runs_again_until_the_budget_is_spent(
        kind, attempt, lost_before, budget, status, reset):
    after = losses.after_loss(kind, attempt, lost_before, budget, "w1@host:42", BEAT)

    assert (after.status, after.reset_progress) == (status, reset)
    assert after.error.startswith(f"attempt {attempt} was lost with its worker w1@host:42 "
                                  "(no heartbeat since 2026-12-03 04:31:07 UTC)")


def test_the_messages_say_what_comes_next():
    again = losses.after_loss("csv_import", 2, 1, 10, "w1@h:1", BEAT)
    spent = losses.after_loss("csv_import", 11, 10, 10, "w1@h:1", BEAT)

    assert again.error.endswith("; the job runs again as attempt 3")
    assert spent.error.endswith("; 11 attempts were lost with their workers, more than "
                                "WORKER_LOSS_BUDGET (10): the job failed")


def test_a_worker_that_never_beat_is_named_without_a_time():
    after = losses.after_loss("export", 1, 0, 10, None, None)
    assert after.error.startswith("attempt 1 was lost with its worker (no heartbeat); ")


@pytest.mark.parametrize("existing, options", [
    (None, "-c client_connection_check_interval=2s "
           "-c idle_in_transaction_session_timeout=5min"),
    ("-c search_path=app", "-c client_connection_check_interval=2s "
                           "-c idle_in_transaction_session_timeout=5min -c search_path=app"),
])
def test_sessions_add_their_settings_before_any_the_url_gives(existing, options):
    assert db.session_options(existing) == options


@pytest.mark.parametrize("url, existing", [
    ("postgresql+psycopg://u@h/db", None),
    ("postgresql+psycopg://u@h/db?options=-c%20search_path%3Dapp", "-c search_path=app"),
])
def test_the_engine_options_keep_the_urls_own_options(url, existing):
    options = db.engine_options(url)
    assert options["connect_args"] == {"options": db.session_options(existing)}
    assert options["pool_pre_ping"] is True


def test_every_queue_comes_back_within_half_a_minute_of_a_lost_worker():
    assert max(DEFAULT_VISIBILITY.values()) <= 30
    assert Settings.from_env({}).worker_loss_budget == 10
