import pytest

from core.errors import ConfigurationError
from core.settings import Settings


def test_defaults_need_no_environment():
    s = Settings.from_env({})
    assert s.queue_name("pdf") == "jobsys-pdf"
    assert s.dead_letter_name("pdf") == "jobsys-pdf-dlq"
    assert s.visibility_timeouts["default"] == 30
    assert s.max_receive_count == 5
    assert s.aws_endpoint_url is None


def test_environment_overrides_and_a_plain_postgres_url_gets_the_psycopg_driver():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@h/db", "QUEUE_PREFIX": "prod-",
                           "QUEUE_VISIBILITY_PDF": "900", "WORKER_QUEUES": "pdf, imports",
                           "AWS_DEFAULT_REGION": "ap-northeast-1"})
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.queue_name("default") == "prod-default"
    assert s.visibility_timeouts["pdf"] == 900
    assert s.worker_queues == ("pdf", "imports")
    assert s.aws_region == "ap-northeast-1"


@pytest.mark.parametrize("env, words", [
    ({"MAX_RECEIVE_COUNT": "many"}, "MAX_RECEIVE_COUNT='many' is not a whole number"),
    ({"SQS_WAIT_TIME_SECONDS": "30"}, "SQS_WAIT_TIME_SECONDS=30 is above the maximum of 20"),
    ({"QUEUE_VISIBILITY_DEFAULT": "1"}, "below the minimum of 5"),
    ({"WORKER_QUEUES": "pdf,videos"}, "unknown queue(s) videos"),
])
def test_bad_settings_name_the_variable(env, words):
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env(env)
    assert words in str(error.value)


def test_a_missing_database_url_says_how_to_get_one():
    with pytest.raises(ConfigurationError, match="DATABASE_URL is not set"):
        Settings.from_env({}).require_database()


def test_settings_survive_the_trip_through_the_environment():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@h/db", "QUEUE_VISIBILITY_PDF": "600",
                           "WORKER_QUEUES": "pdf", "WORKER_EXTRA_IMPORTS": "a.b,c.d",
                           "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "RETRY_BACKOFF_BASE": "0.5"})
    assert Settings.from_env(s.to_env()) == s


def test_import_settings_survive_the_trip_through_the_environment():
    s = Settings.from_env({"DATASETS_DIR": "/srv/datasets", "IMPORT_CONCURRENCY": "3",
                           "IMPORT_WAIT_SECONDS": "7", "IMPORT_MAX_BYTES": "1000000",
                           "IMPORT_DIRECT_MAX_BYTES": "2048", "IMPORT_UPLOAD_SECONDS": "60"})
    assert (s.datasets_dir, s.import_concurrency, s.import_wait_seconds) == ("/srv/datasets", 3, 7)
    assert (s.import_max_bytes, s.import_direct_max_bytes, s.import_upload_seconds) == (
        1000000, 2048, 60)
    assert Settings.from_env(s.to_env()) == s
    assert Settings.from_env({}).import_concurrency == 2


def test_export_and_mail_settings_survive_the_trip_through_the_environment():
    s = Settings.from_env({"FILE_RETENTION_DAYS": "3", "EXPORT_LINK_SECONDS": "600",
                           "EXPORT_NEUTRALIZE_FORMULAS": "off", "NOTIFY_KINDS": "export",
                           "NOTIFY_DOMAIN": "corp.example", "MAIL_TRANSPORT": "SMTP",
                           "MAIL_DIR": "/tmp/mail", "MAIL_FROM": "jobs@corp.example",
                           "SMTP_HOST": "mail.corp.example", "SMTP_PORT": "587",
                           "SMTP_USER": "jobs", "SMTP_PASSWORD": "secret", "SMTP_STARTTLS": "on"})
    assert (s.file_retention_days, s.export_neutralize_formulas, s.notify_kinds,
            s.mail_transport, s.smtp_port, s.smtp_starttls) == (3, False, ("export",), "smtp",
                                                                 587, True)
    assert Settings.from_env(s.to_env()) == s
    defaults = Settings.from_env({})
    assert defaults.notify_kinds == ("export", "csv_import", "pdf_batch")
    assert (defaults.mail_transport, defaults.file_retention_days) == ("file", 7)
    assert Settings.from_env(defaults.to_env()) == defaults


def test_an_unknown_mail_transport_lists_the_choices():
    with pytest.raises(ConfigurationError, match="MAIL_TRANSPORT='pigeon' is not one of: "
                                                 "file, smtp, ses"):
        Settings.from_env({"MAIL_TRANSPORT": "pigeon"})


def test_the_default_notified_kinds_are_kinds_that_exist():
    from core import kinds
    assert set(Settings().notify_kinds) <= set(kinds.KINDS)


def test_a_sign_in_limit_that_is_not_a_rate_names_its_variable():
    assert Settings.from_env({}).signin_limit_per_account == "10/minute"
    with pytest.raises(ConfigurationError, match="SIGNIN_LIMIT_PER_ADDRESS='lots'.*10/minute"):
        Settings.from_env({"SIGNIN_LIMIT_PER_ADDRESS": "lots"})
