"""Settings read once from the environment into one immutable object.

Every setting is listed, with its default, in the README's configuration table.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from core.errors import ConfigurationError
from core.ratelimit import parse_limits

WORKLOADS = ("default", "pdf", "imports", "exports")

DEFAULT_VISIBILITY = {"default": 60, "pdf": 120, "imports": 120, "exports": 120}
NOTIFY_KINDS = ("export", "csv_import", "pdf_batch")
MAIL_TRANSPORTS = ("file", "smtp", "ses")


@dataclass(frozen=True)
class Settings:
    """Everything the web app, the workers and the tools need to know."""

    database_url: str | None = None
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    queue_prefix: str = "jobsys-"
    visibility_timeouts: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_VISIBILITY))
    max_receive_count: int = 5
    bucket: str = "jobsys-files"
    sqs_wait_time_seconds: int = 10
    sqs_polling_interval: float = 0.01
    task_max_retries: int = 5
    retry_backoff_base: float = 2.0
    retry_backoff_max: float = 300.0
    worker_concurrency: int = 2
    worker_queues: tuple[str, ...] = WORKLOADS
    dlq_sweep_interval: float = 30.0
    worker_idle_exit_seconds: float = 0.0
    worker_protection_minutes: int = 60
    worker_health_file: str = "/tmp/jobsys-worker.health"
    worker_extra_imports: tuple[str, ...] = ()
    max_request_bytes: int = 1 << 20
    worker_events: bool = True
    worker_heartbeat_interval: int = 15
    worker_remote_control: bool = True
    monitoring_lease_seconds: int = 900
    pdf_chunk_size: int = 20
    pdf_link_seconds: int = 3600
    pdf_source_tables: tuple[str, ...] = ()
    worker_rate_limits: Mapping[str, str] = field(default_factory=dict)
    cluster_rate_limits: Mapping[str, str] = field(default_factory=dict)
    datasets_dir: str | None = None
    import_concurrency: int = 2
    import_wait_seconds: int = 5
    import_max_bytes: int = 2 << 30
    import_direct_max_bytes: int = 5 << 20
    import_upload_seconds: int = 900
    file_retention_days: int = 7
    export_link_seconds: int = 86400
    export_neutralize_formulas: bool = True
    notify_kinds: tuple[str, ...] = NOTIFY_KINDS
    notify_domain: str = "localhost"
    mail_transport: str = "file"
    mail_dir: str = ".run/mail"
    mail_from: str = "jobsys@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    secret_key: str | None = None
    cookie_secure: bool = True
    pipeline_check_token: str | None = None
    flower_url: str | None = None
    autoscaler_state_bucket: str | None = None
    autoscaler_state_key: str = "autoscaler/state.json"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        visibility = {
            w: reader.integer(f"QUEUE_VISIBILITY_{w.upper()}", DEFAULT_VISIBILITY[w],
                              low=5, high=43200)
            for w in WORKLOADS
        }
        queues = reader.names("WORKER_QUEUES", WORKLOADS)
        unknown = sorted(set(queues) - set(WORKLOADS))
        if unknown:
            raise ConfigurationError(
                f"WORKER_QUEUES names unknown queue(s) {', '.join(unknown)}; "
                f"choose from {', '.join(WORKLOADS)}")
        return cls(
            database_url=normalise_database_url(env.get("DATABASE_URL") or None),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            queue_prefix=env.get("QUEUE_PREFIX", "jobsys-"),
            visibility_timeouts=visibility,
            max_receive_count=reader.integer("MAX_RECEIVE_COUNT", 5, low=1, high=1000),
            bucket=env.get("BUCKET", "jobsys-files"),
            sqs_wait_time_seconds=reader.integer("SQS_WAIT_TIME_SECONDS", 10, low=0, high=20),
            sqs_polling_interval=reader.number("SQS_POLLING_INTERVAL", 0.01, low=0.001),
            task_max_retries=reader.integer("TASK_MAX_RETRIES", 5, low=0, high=100),
            retry_backoff_base=reader.number("RETRY_BACKOFF_BASE", 2.0, low=0.1),
            retry_backoff_max=reader.number("RETRY_BACKOFF_MAX", 300.0, low=1, high=900),
            worker_concurrency=reader.integer("WORKER_CONCURRENCY", 2, low=1, high=256),
            worker_queues=queues,
            dlq_sweep_interval=reader.number("DLQ_SWEEP_INTERVAL", 30.0, low=0.2),
            worker_idle_exit_seconds=reader.number("WORKER_IDLE_EXIT_SECONDS", 0.0, low=0),
            worker_protection_minutes=reader.integer("WORKER_PROTECTION_MINUTES", 60,
                                                     low=1, high=2880),
            worker_health_file=env.get("WORKER_HEALTH_FILE") or "/tmp/jobsys-worker.health",
            worker_extra_imports=reader.names("WORKER_EXTRA_IMPORTS", ()),
            max_request_bytes=reader.integer("MAX_REQUEST_BYTES", 1 << 20, low=1024),
            worker_events=reader.flag("WORKER_EVENTS", True),
            worker_heartbeat_interval=reader.integer("WORKER_HEARTBEAT_INTERVAL", 15,
                                                     low=0, high=3600),
            worker_remote_control=reader.flag("WORKER_REMOTE_CONTROL", True),
            monitoring_lease_seconds=reader.integer("MONITORING_LEASE_SECONDS", 900,
                                                    low=3, high=86400),
            pdf_chunk_size=reader.integer("PDF_CHUNK_SIZE", 20, low=1, high=1000),
            pdf_link_seconds=reader.integer("PDF_LINK_SECONDS", 3600, low=1, high=604800),
            pdf_source_tables=reader.names("PDF_SOURCE_TABLES", ()),
            worker_rate_limits=parse_limits(reader.names("WORKER_RATE_LIMITS", ()),
                                            "WORKER_RATE_LIMITS"),
            cluster_rate_limits=parse_limits(reader.names("CLUSTER_RATE_LIMITS", ()),
                                             "CLUSTER_RATE_LIMITS"),
            datasets_dir=env.get("DATASETS_DIR") or None,
            import_concurrency=reader.integer("IMPORT_CONCURRENCY", 2, low=1, high=1000),
            import_wait_seconds=reader.integer("IMPORT_WAIT_SECONDS", 5, low=1, high=900),
            import_max_bytes=reader.integer("IMPORT_MAX_BYTES", 2 << 30, low=1),
            import_direct_max_bytes=reader.integer("IMPORT_DIRECT_MAX_BYTES", 5 << 20, low=1),
            import_upload_seconds=reader.integer("IMPORT_UPLOAD_SECONDS", 900, low=1,
                                                 high=604800),
            file_retention_days=reader.integer("FILE_RETENTION_DAYS", 7, low=1, high=3650),
            export_link_seconds=reader.integer("EXPORT_LINK_SECONDS", 86400, low=1, high=604800),
            export_neutralize_formulas=reader.flag("EXPORT_NEUTRALIZE_FORMULAS", True),
            notify_kinds=reader.names("NOTIFY_KINDS", NOTIFY_KINDS),
            notify_domain=env.get("NOTIFY_DOMAIN") or "localhost",
            mail_transport=reader.choice("MAIL_TRANSPORT", "file", MAIL_TRANSPORTS),
            mail_dir=env.get("MAIL_DIR") or ".run/mail",
            mail_from=env.get("MAIL_FROM") or "jobsys@localhost",
            smtp_host=env.get("SMTP_HOST") or "127.0.0.1",
            smtp_port=reader.integer("SMTP_PORT", 25, low=1, high=65535),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_starttls=reader.flag("SMTP_STARTTLS", False),
            secret_key=env.get("SECRET_KEY") or None,
            cookie_secure=reader.flag("COOKIE_SECURE", True),
            pipeline_check_token=env.get("PIPELINE_CHECK_TOKEN") or None,
            flower_url=env.get("FLOWER_URL") or None,
            autoscaler_state_bucket=env.get("AUTOSCALER_STATE_BUCKET") or None,
            autoscaler_state_key=env.get("AUTOSCALER_STATE_KEY") or "autoscaler/state.json",
        )

    def to_env(self) -> dict[str, str]:
        """Environment variables that rebuild these settings in another process."""
        env = {
            "DATABASE_URL": self.database_url,
            "AWS_REGION": self.aws_region,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "QUEUE_PREFIX": self.queue_prefix,
            "MAX_RECEIVE_COUNT": self.max_receive_count,
            "BUCKET": self.bucket,
            "SQS_WAIT_TIME_SECONDS": self.sqs_wait_time_seconds,
            "SQS_POLLING_INTERVAL": self.sqs_polling_interval,
            "TASK_MAX_RETRIES": self.task_max_retries,
            "RETRY_BACKOFF_BASE": self.retry_backoff_base,
            "RETRY_BACKOFF_MAX": self.retry_backoff_max,
            "WORKER_CONCURRENCY": self.worker_concurrency,
            "WORKER_QUEUES": ",".join(self.worker_queues),
            "DLQ_SWEEP_INTERVAL": self.dlq_sweep_interval,
            "WORKER_IDLE_EXIT_SECONDS": self.worker_idle_exit_seconds,
            "WORKER_PROTECTION_MINUTES": self.worker_protection_minutes,
            "WORKER_HEALTH_FILE": self.worker_health_file,
            "WORKER_EXTRA_IMPORTS": ",".join(self.worker_extra_imports),
            "MAX_REQUEST_BYTES": self.max_request_bytes,
            "WORKER_EVENTS": "on" if self.worker_events else "off",
            "WORKER_HEARTBEAT_INTERVAL": self.worker_heartbeat_interval,
            "WORKER_REMOTE_CONTROL": "on" if self.worker_remote_control else "off",
            "MONITORING_LEASE_SECONDS": self.monitoring_lease_seconds,
            "PDF_CHUNK_SIZE": self.pdf_chunk_size,
            "PDF_LINK_SECONDS": self.pdf_link_seconds,
            "PDF_SOURCE_TABLES": ",".join(self.pdf_source_tables),
            "WORKER_RATE_LIMITS": ",".join(f"{k}={v}" for k, v in self.worker_rate_limits.items()),
            "CLUSTER_RATE_LIMITS": ",".join(f"{k}={v}" for k, v in self.cluster_rate_limits.items()),
            "DATASETS_DIR": self.datasets_dir,
            "IMPORT_CONCURRENCY": self.import_concurrency,
            "IMPORT_WAIT_SECONDS": self.import_wait_seconds,
            "IMPORT_MAX_BYTES": self.import_max_bytes,
            "IMPORT_DIRECT_MAX_BYTES": self.import_direct_max_bytes,
            "IMPORT_UPLOAD_SECONDS": self.import_upload_seconds,
            "FILE_RETENTION_DAYS": self.file_retention_days,
            "EXPORT_LINK_SECONDS": self.export_link_seconds,
            "EXPORT_NEUTRALIZE_FORMULAS": "on" if self.export_neutralize_formulas else "off",
            "NOTIFY_KINDS": ",".join(self.notify_kinds),
            "NOTIFY_DOMAIN": self.notify_domain,
            "MAIL_TRANSPORT": self.mail_transport,
            "MAIL_DIR": self.mail_dir,
            "MAIL_FROM": self.mail_from,
            "SMTP_HOST": self.smtp_host,
            "SMTP_PORT": self.smtp_port,
            "SMTP_USER": self.smtp_user,
            "SMTP_PASSWORD": self.smtp_password,
            "SMTP_STARTTLS": "on" if self.smtp_starttls else "off",
            "SECRET_KEY": self.secret_key,
            "COOKIE_SECURE": "on" if self.cookie_secure else "off",
            "PIPELINE_CHECK_TOKEN": self.pipeline_check_token,
            "FLOWER_URL": self.flower_url,
            "AUTOSCALER_STATE_BUCKET": self.autoscaler_state_bucket,
            "AUTOSCALER_STATE_KEY": self.autoscaler_state_key,
        }
        env.update({f"QUEUE_VISIBILITY_{w.upper()}": t for w, t in self.visibility_timeouts.items()})
        return {k: str(v) for k, v in env.items() if v is not None}

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


def normalise_database_url(url: str | None) -> str | None:
    """Make a plain ``postgresql://`` URL use the psycopg 3 driver."""
    if url is None:
        return None
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


class _Reader:
    """Typed reads of environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def _raw(self, name):
        value = self.env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def integer(self, name, default, low=None, high=None):
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None
        return self._in_range(name, value, low, high)

    def number(self, name, default, low=None, high=None):
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name}={raw!r} is not a number") from None
        return self._in_range(name, value, low, high)

    def flag(self, name, default):
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in ("on", "true", "yes", "1"):
            return True
        if raw.lower() in ("off", "false", "no", "0"):
            return False
        raise ConfigurationError(f"{name}={raw!r} is not on or off")

    def choice(self, name, default, choices):
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            raise ConfigurationError(f"{name}={raw!r} is not one of: {', '.join(choices)}")
        return raw.lower()

    def names(self, name, default):
        raw = self._raw(name)
        if raw is None:
            return tuple(default)
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    @staticmethod
    def _in_range(name, value, low, high):
        if low is not None and value < low:
            raise ConfigurationError(f"{name}={value} is below the minimum of {low}")
        if high is not None and value > high:
            raise ConfigurationError(f"{name}={value} is above the maximum of {high}")
        return value
