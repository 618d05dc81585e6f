"""Start a Celery worker wired for SQS: the keeper, the dead-letter sweep, warm pool,
reports to the autoscaler."""
from __future__ import annotations

import logging
import os
import signal
import socket

from celery import signals

from core import aws, logs, queues, reports, wake
from core.errors import ConfigurationError
from core.periodic import Periodic
from core.settings import Settings
from store import db, jobstore
from tasks import deadletter
from tasks.app import create_worker_celery, task_modules
from tasks.pdf.preflight import check_worker as pdf_preflight
from tasks.runtime import JobTask
from worker import protection
from worker.keeper import VisibilityKeeper
from worker.request import KeptRequest

log = logging.getLogger("worker")


def build(settings: Settings):
    """The Celery app and the keeper, wired together."""
    sqs = aws.client(settings, "sqs")
    urls = queues.resolve_urls(settings, sqs)
    celery = create_worker_celery(settings, urls, include=task_modules(settings.worker_queues))
    in_session = units_of_work(settings)
    keeper = keeper_for(
        settings, sqs, in_session,
        protection=protection.for_environment(os.environ.get("ECS_AGENT_URI"),
                                              settings.worker_protection_minutes),
        health_file=settings.worker_health_file)
    KeptRequest.keeper = keeper
    KeptRequest.timeouts = dict(settings.visibility_timeouts)
    KeptRequest.on_worker_lost = staticmethod(
        lambda job_id, reason: jobstore.as_uuid(job_id) and in_session(
            jobstore.release, jobstore.as_uuid(job_id), reason))
    reporter = _reporter(settings, sqs)
    celery.loader.import_default_modules()
    for task in celery.tasks.values():
        task.Request = KeptRequest
        if isinstance(task, JobTask):
            task.reporter = reporter
    _dead_letter_what_cannot_run(celery)

    dlq_urls = queues.dead_letter_urls(settings, sqs, settings.worker_queues)
    sweeper = Periodic(settings.dlq_sweep_interval,
                       lambda: in_session(lambda s: deadletter.sweep(settings, sqs, s, dlq_urls)),
                       name="dead-letter-sweep")
    idle_exit = _idle_exit(settings, keeper)

    @signals.setup_logging.connect(weak=False)
    def _logging(loglevel=None, **_):
        # Connected, it keeps Celery from setting up logging its own way.
        logs.configure(settings, "worker", level=loglevel or logging.INFO)

    @signals.worker_ready.connect(weak=False)
    def _start(**_):
        keeper.start()
        sweeper.start()
        if idle_exit:
            idle_exit.start()
        reporter.ready(settings.worker_queues)

    @signals.worker_process_init.connect(weak=False)
    def _fresh_connections(**_):
        # A pool child must not share the parent's database connections.
        db.dispose_all()

    @signals.worker_shutting_down.connect(weak=False)
    def _stop(**_):
        sweeper.stop()
        if idle_exit:
            idle_exit.stop()

    @signals.worker_process_shutdown.connect(weak=False)  # a pool child
    @signals.worker_shutdown.connect(weak=False)  # the main process, its tasks done
    def _last_reports(**_):
        reporter.close()

    return celery, keeper


def _reporter(settings: Settings, sqs) -> reports.Reporter:
    """Reports to the autoscaler on its wake queue; none without one."""
    url = wake.find_queue(sqs, settings.queue_prefix,
                          without="this worker sends the autoscaler no reports")
    if url is None:
        return reports.Reporter()
    return reports.SqsReporter(lambda: aws.client(settings, "sqs"), url)


def units_of_work(settings: Settings):
    """``in_session(fn, *args)``: ``fn(session, *args)`` in one unit of work (committed)."""
    sessions = db.sessions(settings.require_database())

    def in_session(fn, *args):
        with db.unit_of_work(sessions) as session:
            return fn(session, *args)

    return in_session


def keeper_for(settings: Settings, sqs, in_session, **options) -> VisibilityKeeper:
    """The keeper of a worker of ``WORKER_QUEUES``: it beats every third of their shortest
    visibility timeout, renewing the claims of the jobs it holds."""
    return VisibilityKeeper(
        sqs, renew_jobs=lambda ids: in_session(jobstore.touch, ids),
        interval=min(settings.visibility_timeouts[w] for w in settings.worker_queues) / 3,
        **options)


def _dead_letter_what_cannot_run(celery) -> None:
    """Messages naming a task this worker lacks, or that Celery refuses, go to the
    dead-letter queue at once (broker.dead_letter, worker.consumer)."""
    names = sorted(n for n in celery.tasks if not n.startswith("celery."))
    celery.conf.broker_transport_options = {**celery.conf.broker_transport_options,
                                            "task_names": names}
    celery.conf.worker_consumer = "worker.consumer:DeadLetteringConsumer"


def _idle_exit(settings: Settings, keeper: VisibilityKeeper):
    """In RunTask mode a worker leaves once idle for WORKER_IDLE_EXIT_SECONDS."""
    limit = settings.worker_idle_exit_seconds
    if not limit:
        return None

    def check():
        if keeper.idle_for() >= limit:
            log.info("idle for %.0fs: shutting down", keeper.idle_for())
            os.kill(os.getpid(), signal.SIGTERM)

    return Periodic(min(5.0, limit / 4), check, name="idle-exit")


def argv(settings: Settings, name: str | None = None) -> list[str]:
    """The ``celery worker`` arguments for these settings."""
    node = name or os.environ.get("WORKER_NAME") or f"worker-{os.getpid()}"
    beat = settings.worker_heartbeat_interval
    return [
        # Celery's banner is lines of text on stdout: none where lines are JSON.
        *(["--quiet"] if settings.log_format == "json" else []),
        "worker",
        "--queues", ",".join(settings.worker_queues),
        "--concurrency", str(settings.worker_concurrency),
        "--hostname", f"{node}@{socket.gethostname()}",
        "--loglevel", os.environ.get("LOG_LEVEL", "INFO"),
        # Gossip and mingle make every worker broadcast and answer at start,
        # which SNS would bill for nothing here; task events follow WORKER_EVENTS.
        "--without-gossip", "--without-mingle",
        # Heartbeats tell Flower the worker is alive (offline after 2 missed).
        *(["--heartbeat-interval", str(beat)] if beat else ["--without-heartbeat"]),
    ]


def settings_or_none(process: str) -> Settings | None:
    """The settings from the environment, or None with the reason logged (exit 2)."""
    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        logs.configure(None, process)
        log.error("%s", exc)
        return None


def main() -> int:
    settings = settings_or_none("worker")
    if settings is None:
        return 2
    logs.configure(settings, "worker")
    try:
        pdf_preflight(settings.worker_queues)
        celery, _ = build(settings)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    celery.worker_main(argv(settings))
    return 0
