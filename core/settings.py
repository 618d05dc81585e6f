"""Settings read once from the environment into one immutable object.

Each setting is declared once, in ``SETTINGS``: the ``Settings`` fields, ``from_env``,
``to_env`` and the README's configuration table (``python -m core.settings --markdown``)
all come from that table.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from core import csvimport, metrics
from core.declarations import (Setting, listed, markdown, read_env, replace_table, with_fields,
                               write_env)
from core.env import FLAG, INTEGER, MAPPING, NAMES, NUMBER, TEXT, Kind, choice
from core.errors import ConfigurationError
from core.ratelimit import parse_rate

WORKLOADS = ("default", "pdf", "imports", "exports")

# Short enough that a lost worker's job runs again within half a minute; the
# worker's keeper extends a running task's message every third of it.
DEFAULT_VISIBILITY = {"default": 30, "pdf": 30, "imports": 30, "exports": 30}
NOTIFY_KINDS = ("export", "csv_import", "pdf_batch")
MAIL_TRANSPORTS = ("file", "smtp", "ses")
LOG_FORMATS = ("text", "json")
README_HEADING = "## Configuration"
PLAIN_SMTP_LOGIN = ("SMTP_USER is set but SMTP_STARTTLS is off: the password would cross the "
                    "network in clear; turn SMTP_STARTTLS on, or unset SMTP_USER and "
                    "SMTP_PASSWORD for a local catcher that needs no login")


def normalise_database_url(url: str | None) -> str | None:
    """Make a plain ``postgresql://`` URL use the psycopg 3 driver."""
    if url is None:
        return None
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _rate_limits(raw: str) -> dict[str, str]:
    try:
        limits = MAPPING.parse(raw)
        for rate in limits.values():
            parse_rate(rate)
    except ValueError:
        raise ValueError("kind=rate pairs separated by commas (e.g. pdf_batch=600/m)") from None
    return limits


def _rate(raw: str) -> str:
    try:
        parse_rate(raw)
    except ValueError:
        raise ValueError("a rate such as 10/minute, 600/m or 5000/h") from None
    return raw.strip()


DATABASE_URL = Kind(normalise_database_url, strip=False)
RATE = Kind(_rate)
RATE_LIMITS = Kind(_rate_limits, MAPPING.write, MAPPING.type)
_VISIBILITY = "visibility timeout (s) of the `default` queue (5–43200)"

# The README's order; a run of settings with the same description is one row there.
SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "DATABASE_URL", DATABASE_URL, None,
            "PostgreSQL URL; `postgresql://` is used with psycopg 3",
            shown="— (required by the web app and workers; `make run` provides one)"),
    Setting("secret_key", "SECRET_KEY", TEXT, None,
            "signs the web app's session cookies and CSRF tokens; the same long random string "
            "for every web process",
            shown="— (a random one per process, with a warning; `make run` keeps one in "
                  "`.run/secret_key`)"),
    Setting("flower_url", "FLOWER_URL", TEXT, None,
            "Flower's address, linked from the operator page (`make run` sets its own)",
            shown="— (the operator page says it is not set)"),
    Setting("pipeline_check_token", "PIPELINE_CHECK_TOKEN", TEXT, None,
            "a shared secret a monitor sends as `X-Pipeline-Token` to run `/healthz/pipeline` "
            "without an account", shown="— (operators only)"),
    Setting("cookie_secure", "COOKIE_SECURE", FLAG, True,
            "session cookies only over HTTPS; `off` for plain-HTTP local runs "
            "(`make run` sets it)"),
    Setting("trusted_proxies", "TRUSTED_PROXIES", INTEGER, 0,
            "proxies in front of the web app that add `X-Forwarded-For` and "
            "`X-Forwarded-Proto` (the load balancer: `1`); `0` believes no such header",
            low=0, high=5),
    Setting("signin_limit_per_account", "SIGNIN_LIMIT_PER_ACCOUNT", RATE, "10/minute",
            "sign-in attempts per user name, across all web processes (a full burst at once, "
            "then refilled at this rate); more are answered 429 with `Retry-After`"),
    Setting("signin_limit_per_address", "SIGNIN_LIMIT_PER_ADDRESS", RATE, "30/minute",
            "sign-in attempts per client address (see `TRUSTED_PROXIES`), the same way"),
    Setting("aws_region", "AWS_REGION", TEXT, "us-east-1", "region of SQS and S3",
            also=("AWS_DEFAULT_REGION",)),
    Setting("aws_endpoint_url", "AWS_ENDPOINT_URL", TEXT, None,
            "endpoint of a local emulator for SQS, SNS and S3", shown="— (AWS itself)"),
    *(listed(name, "boto3's usual chain", "credentials; the emulator accepts any "
             "(`make run` and the tests set placeholders)")
      for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
    # An empty prefix is a prefix: queues named after the workloads alone.
    Setting("queue_prefix", "QUEUE_PREFIX", TEXT, "jobsys-", "prefix of every queue name",
            keep_empty=True),
    *(Setting("visibility_timeouts", f"QUEUE_VISIBILITY_{w.upper()}", INTEGER,
              DEFAULT_VISIBILITY[w],
              _VISIBILITY if w == "default" else "the same for the other queues",
              low=5, high=43200, key=w) for w in WORKLOADS),
    Setting("max_receive_count", "MAX_RECEIVE_COUNT", INTEGER, 5,
            "receives before a message goes to its dead-letter queue", low=1, high=1000),
    Setting("worker_loss_budget", "WORKER_LOSS_BUDGET", INTEGER, 10,
            "attempts of a job that may be lost with their whole worker (killed, its "
            "container or host gone) before the job fails; they spend none of `MAX_RECEIVE_COUNT`",
            low=0, high=1000),
    Setting("bucket", "BUCKET", TEXT, "jobsys-files", "S3 bucket for uploads and generated files"),
    Setting("sqs_wait_time_seconds", "SQS_WAIT_TIME_SECONDS", INTEGER, 10,
            "long-poll wait of each receive (0–20)", low=0, high=20),
    Setting("sqs_polling_interval", "SQS_POLLING_INTERVAL", NUMBER, 0.01,
            "pause (s) before a worker polls again after an empty receive or while its "
            "prefetch is full (≥ 0.001; it sets the queue wait of back-to-back jobs, see "
            "docs/benchmarks.md)", low=0.001),
    Setting("task_max_retries", "TASK_MAX_RETRIES", INTEGER, 5,
            "retries of a transient error before the job fails", low=0, high=100),
    Setting("retry_backoff_base", "RETRY_BACKOFF_BASE", NUMBER, 2.0,
            "first retry's ceiling (s); doubles each retry", low=0.1),
    Setting("retry_backoff_max", "RETRY_BACKOFF_MAX", NUMBER, 300.0,
            "largest retry delay (s; at most 900, SQS's limit)", low=1, high=900),
    Setting("relay_interval", "RELAY_INTERVAL", NUMBER, 10.0,
            "seconds between a web process's looks for queued jobs whose task was never "
            "confirmed sent (the relay); `0`: none in that process", low=0),
    Setting("relay_after_seconds", "RELAY_AFTER_SECONDS", NUMBER, 30.0,
            "a queued job whose task has not been confirmed sent for this long is sent by the "
            "relay (longer than a send takes; a duplicate is harmless, a claim stops it)",
            low=0.1),
    Setting("worker_concurrency", "WORKER_CONCURRENCY", INTEGER, 2,
            "task processes per worker", low=1, high=256),
    Setting("worker_queues", "WORKER_QUEUES", NAMES, WORKLOADS, "queues a worker consumes"),
    Setting("lambda_concurrency", "LAMBDA_CONCURRENCY", INTEGER, 2,
            "invocations `python -m worker.lambda_pool` (the local stand-in for a Lambda "
            "pool's event source) runs at once", low=1, high=1000),
    listed("WORKER_NAME", "`worker-<pid>`", "the worker's node name (`<name>@<host>`)"),
    Setting("dlq_sweep_interval", "DLQ_SWEEP_INTERVAL", NUMBER, 30.0,
            "seconds between a worker's sweeps of its dead-letter queues", low=0.2),
    Setting("worker_idle_exit_seconds", "WORKER_IDLE_EXIT_SECONDS", NUMBER, 0.0,
            "a worker exits after this long without a task (for ECS RunTask workers)",
            shown="`0` (never)", low=0),
    Setting("worker_protection_minutes", "WORKER_PROTECTION_MINUTES", INTEGER, 60,
            "expiry of the ECS scale-in protection a busy worker renews while it runs tasks",
            low=1, high=2880),
    Setting("worker_health_file", "WORKER_HEALTH_FILE", TEXT, "/tmp/jobsys-worker.health",
            "where a worker records its heartbeat for `python -m worker.health`"),
    listed("ECS_AGENT_URI", "set by ECS", "the ECS agent, for scale-in protection; unset "
           "outside ECS (no protection needed)"),
    Setting("worker_extra_imports", "WORKER_EXTRA_IMPORTS", NAMES, (),
            "more task modules for a worker to load (comma-separated)"),
    Setting("pdf_chunk_size", "PDF_CHUNK_SIZE", INTEGER, 20,
            "documents per `pdf.render_chunk` message (1–1000)", low=1, high=1000),
    Setting("pdf_link_seconds", "PDF_LINK_SECONDS", INTEGER, 3600,
            "lifetime of presigned download URLs (1–604800 s)", low=1, high=604800),
    Setting("pdf_source_tables", "PDF_SOURCE_TABLES", NAMES, (),
            "tables of the app's database a batch may read recipients from (comma-separated; "
            "operators' batches only)", shown="— (none)"),
    Setting("pdf_recipients_max_rows", "PDF_RECIPIENTS_MAX_ROWS", INTEGER, 50_000,
            "recipients one batch may have, from any source (inline rows, a CSV, a table)",
            low=1),
    Setting("pdf_recipients_max_bytes", "PDF_RECIPIENTS_MAX_BYTES", INTEGER, 50 << 20,
            "largest recipients CSV a batch reads (and its presigned upload allows)", low=1),
    Setting("pdf_recipients_max_columns", "PDF_RECIPIENTS_MAX_COLUMNS", INTEGER, 100,
            "columns a recipients CSV may have", low=1, high=10_000),
    Setting("pdf_recipients_max_header_chars", "PDF_RECIPIENTS_MAX_HEADER_CHARS", INTEGER, 100,
            "characters of one column name of a recipients CSV", low=1, high=10_000),
    # csv's own field limit is 131,072 characters: a longer value is refused by this one.
    Setting("pdf_recipients_max_value_chars", "PDF_RECIPIENTS_MAX_VALUE_CHARS", INTEGER,
            20_000, "characters of one value of a recipients CSV (at most 131072)", low=1,
            high=131_072),
    Setting("worker_rate_limits", "WORKER_RATE_LIMITS", RATE_LIMITS, {},
            "per-worker limits, `kind=rate` comma-separated (e.g. `pdf_batch=600/m`; "
            "documents per worker)", shown="— (none)"),
    Setting("cluster_rate_limits", "CLUSTER_RATE_LIMITS", RATE_LIMITS, {},
            "cluster-wide limits shared by every worker, same format (e.g. `pdf_batch=600/m`)",
            shown="— (none)"),
    Setting("max_request_bytes", "MAX_REQUEST_BYTES", INTEGER, 1 << 20,
            "largest request body the web app accepts", low=1024),
    Setting("datasets_dir", "DATASETS_DIR", TEXT, None,
            "folder of dataset spec files (`*.toml`) that imports read; exports read the "
            "import specs in `datasets/`", shown="`datasets/` in the code"),
    Setting("import_concurrency", "IMPORT_CONCURRENCY", INTEGER, 2,
            "imports running at once per database, across all workers", low=1, high=1000),
    Setting("import_wait_seconds", "IMPORT_WAIT_SECONDS", INTEGER, 5,
            "how long an import waiting for a free slot stays in its queue before it tries "
            "again", low=1, high=900),
    Setting("import_max_bytes", "IMPORT_MAX_BYTES", INTEGER, 2 << 30,
            "largest file an import accepts (and a presigned upload allows)", low=1),
    Setting("import_max_record_chars", "IMPORT_MAX_RECORD_CHARS", INTEGER,
            csvimport.MAX_RECORD_CHARS,
            "most characters one CSV record (a row, line breaks in quoted values included) "
            "and so any one value may hold; a longer record fails the import naming its line",
            low=1024, high=1 << 30),
    Setting("import_max_problems", "IMPORT_MAX_PROBLEMS", INTEGER, csvimport.MAX_PROBLEMS,
            "problems an import's error report lists; once it holds as many and more rows "
            "are bad than the import's `max_bad_rows` allows, the import stops reading and "
            "fails naming the line", low=1, high=csvimport.MAX_BAD_ROWS),
    Setting("import_max_run_seconds", "IMPORT_MAX_RUN_SECONDS", INTEGER,
            csvimport.MAX_RUN_SECONDS,
            "the longest an import may run (s); a longer one fails having written nothing. "
            "At most 900 where the imports pool runs on AWS Lambda (a worker Lambda refuses "
            "to start otherwise)", low=1),
    Setting("import_direct_max_bytes", "IMPORT_DIRECT_MAX_BYTES", INTEGER, 5 << 20,
            "largest CSV that `POST /api/imports/direct` accepts", low=1),
    Setting("import_upload_seconds", "IMPORT_UPLOAD_SECONDS", INTEGER, 900,
            "how long a presigned upload stays valid", low=1, high=604800),
    listed("LOG_LEVEL", "`INFO`", "worker log level"),
    Setting("log_format", "LOG_FORMAT", choice(*LOG_FORMATS), "text",
            "`text`: plain lines; `json`: one JSON object a line from every process, with "
            "the job's `job_id`, `kind`, `attempt` and `task_id` on the lines of its work "
            "(README, \"Logs\"; the images and the deployment set `json`)"),
    Setting("metrics", "METRICS", choice(*metrics.MODES), "off",
            "`emf`: workers print a CloudWatch Embedded Metric Format line on stdout per job "
            "end (queue wait, run time, outcome by kind) and the autoscaler one per pool "
            "decision; `off`: none (the AWS stack sets `emf`)"),
    Setting("metrics_namespace", "METRICS_NAMESPACE", TEXT, metrics.NAMESPACE,
            "CloudWatch namespace of those metrics (the AWS stack: `<QueuePrefix>metrics`, which "
            "its dashboard reads)"),
    Setting("worker_events", "WORKER_EVENTS", FLAG, True,
            "workers send task events (over SNS) for Flower and `celery events`; `off` saves "
            "their cost"),
    Setting("worker_heartbeat_interval", "WORKER_HEARTBEAT_INTERVAL", INTEGER, 15,
            "seconds between worker heartbeats (Flower marks a worker offline after two "
            "missed); `0`: none", low=0, high=3600),
    Setting("worker_remote_control", "WORKER_REMOTE_CONTROL", FLAG, True,
            "workers answer `celery inspect` and Flower's worker pages (one pidbox queue per "
            "worker)"),
    Setting("monitoring_lease_seconds", "MONITORING_LEASE_SECONDS", INTEGER, 900,
            "a monitoring queue whose owner has not renewed it for this long is swept as "
            "abandoned", low=3, high=86400),
    *(listed(name, shown, "Flower's defaults here (set by `worker.flower`): it does not "
             "broadcast \"enable events\" every 5 s, and waits 5 s for inspect replies")
      for name, shown in (("FLOWER_ENABLE_EVENTS", "`false`"),
                          ("FLOWER_INSPECT_TIMEOUT", "`5000`"))),
    Setting("file_retention_days", "FILE_RETENTION_DAYS", INTEGER, 7,
            "generated files (`exports/`, `pdf/`) expire after this many days (bucket "
            "lifecycle rule); download links never outlive them", low=1, high=3650),
    Setting("export_link_seconds", "EXPORT_LINK_SECONDS", INTEGER, 86400,
            "lifetime of an export's download link (at most 604800 and `FILE_RETENTION_DAYS`)",
            low=1, high=604800),
    Setting("export_neutralize_formulas", "EXPORT_NEUTRALIZE_FORMULAS", FLAG, True,
            "default of an export's `neutralize_formulas`"),
    # Empty means no e-mail at all, not the default kinds.
    Setting("notify_kinds", "NOTIFY_KINDS", NAMES, NOTIFY_KINDS,
            "job kinds whose owner is e-mailed when a job ends (empty: none)", keep_empty=True),
    Setting("notify_domain", "NOTIFY_DOMAIN", TEXT, "localhost",
            "an owner without `@` is e-mailed at `<owner>@NOTIFY_DOMAIN`"),
    Setting("mail_transport", "MAIL_TRANSPORT", choice(*MAIL_TRANSPORTS), "file",
            "`file`, `smtp` or `ses`"),
    Setting("mail_from", "MAIL_FROM", TEXT, "jobsys@localhost", "sender of notifications"),
    Setting("mail_dir", "MAIL_DIR", TEXT, ".run/mail",
            "where the `file` transport writes `.eml` files"),
    Setting("smtp_host", "SMTP_HOST", TEXT, "127.0.0.1", "the `smtp` transport's server"),
    Setting("smtp_port", "SMTP_PORT", INTEGER, 25, "the `smtp` transport's server",
            low=1, high=65535),
    Setting("smtp_user", "SMTP_USER", TEXT, None, "login, when set"),
    Setting("smtp_password", "SMTP_PASSWORD", TEXT, None, "login, when set"),
    Setting("smtp_starttls", "SMTP_STARTTLS", FLAG, True,
            "upgrade the connection with STARTTLS before anything is sent (a server without "
            "it is refused); `off` only for a local catcher with no login (`SMTP_USER` "
            "unset)"),
    *(Setting(attr, name, TEXT, default, "where the autoscaler keeps the pools' cooldown state "
              "and last decisions, which the operator page shows (required by the Lambda; "
              "`make run` sets the files bucket)", shown=shown, table="autoscaler")
      for attr, name, default, shown in (
          ("autoscaler_state_bucket", "AUTOSCALER_STATE_BUCKET", None,
           "— (memory; the web app reads `BUCKET`)"),
          ("autoscaler_state_key", "AUTOSCALER_STATE_KEY", "autoscaler/state.json", None))),
)


@dataclass(frozen=True)
@with_fields(SETTINGS)
class Settings:
    """Everything the web app, the workers and the tools need to know."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        settings = cls(**read_env(SETTINGS, env, ConfigurationError))
        unknown = sorted(set(settings.worker_queues) - set(WORKLOADS))
        if unknown:
            raise ConfigurationError(
                f"WORKER_QUEUES names unknown queue(s) {', '.join(unknown)}; "
                f"choose from {', '.join(WORKLOADS)}")
        if settings.mail_transport == "smtp" and settings.smtp_user and not settings.smtp_starttls:
            raise ConfigurationError(PLAIN_SMTP_LOGIN)
        return settings

    def to_env(self) -> dict[str, str]:
        """Environment variables that rebuild these settings in another process."""
        return write_env(SETTINGS, self)

    def queue_name(self, workload: str) -> str:
        """The SQS name of a workload's queue, prefix included."""
        return f"{self.queue_prefix}{workload}"

    def dead_letter_name(self, workload: str) -> str:
        """The SQS name of a workload's dead-letter queue."""
        return f"{self.queue_prefix}{workload}-dlq"

    def autoscaler_state(self) -> tuple[str, str]:
        """Bucket and key of the autoscaler's state (its decisions): the files bucket
        unless ``AUTOSCALER_STATE_BUCKET`` names another."""
        return self.autoscaler_state_bucket or self.bucket, self.autoscaler_state_key

    def link_seconds(self, wanted: int) -> int:
        """How long a download link may live: never past the files' retention."""
        return max(1, min(wanted, self.file_retention_days * 86400))

    def require_database(self) -> str:
        """The database URL, or a clear error when none is configured."""
        if not self.database_url:
            raise ConfigurationError(
                "DATABASE_URL is not set; set it to a PostgreSQL URL such as "
                "postgresql://postgres@127.0.0.1:5432/jobsys (`make run` starts one for you)")
        return self.database_url


def readme_table() -> list[str]:
    """The lines of the README's configuration table, as the declarations give them."""
    return markdown(SETTINGS)


def main(argv: list[str]) -> int:
    """``--markdown`` prints the README's table; ``--update README.md`` rewrites it there."""
    if argv[:1] == ["--markdown"]:
        print("\n".join(readme_table()))
        return 0
    if len(argv) == 2 and argv[0] == "--update":
        path = Path(argv[1])
        path.write_text(replace_table(path.read_text(), README_HEADING, readme_table()))
        return 0
    print("usage: python -m core.settings --markdown | --update README.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
