"""Fixtures: a real PostgreSQL, a real moto server over HTTP, real worker processes.

PostgreSQL: TEST_DATABASE_URL or DATABASE_URL names a server to use (a scratch
database is created on it and dropped afterwards); without either, an embedded
PostgreSQL is started for the session.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core import aws
from core.provision import apply as provision
from core.settings import WORKLOADS, Settings
from stack import services
from webapp import create_app
from core.enqueue import MemoryEnqueuer
from tests.support.accounts import signed_in

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_admin_url():
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    # Not under pytest's basetemp: another pytest run of the same user may
    # rotate that away while this session's server still lives in it.
    with tempfile.TemporaryDirectory(prefix="jobsys-test-pg-") as scratch:
        server = services.EmbeddedPostgres(Path(scratch) / "pgdata")
        yield server.start()
        server.stop()


@pytest.fixture(scope="session")
def database_url(pg_admin_url):
    name, url = services.scratch_database(pg_admin_url)
    services.migrate(url)
    engine = create_engine(_psycopg(url))
    with engine.begin() as conn:
        from tests.support.tasks import EXECUTIONS_DDL
        conn.execute(text(EXECUTIONS_DDL))
    from tests.support.accounts import seed
    seed(engine)
    engine.dispose()
    yield _psycopg(url)
    services.drop_database(pg_admin_url, name)


def _psycopg(url: str) -> str:
    from core.settings import normalise_database_url
    return normalise_database_url(url)


@pytest.fixture(scope="session")
def engine(database_url):
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE jobs, pending_sends, test_executions"))
    return engine


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    child, endpoint = services.start_moto(services.free_port(),
                                          tmp_path_factory.mktemp("moto-log"))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "emulator")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "emulator")
    yield endpoint
    child.stop()


@pytest.fixture
def settings(request, database_url, moto_endpoint, clean_db, tmp_path):
    """Settings for one test: its own queues (a fresh prefix), short timings.

    ``@pytest.mark.settings(visibility=6, max_receive_count=2, ...)`` changes
    them for one test (``visibility`` sets every queue's visibility timeout).
    """
    marker = request.node.get_closest_marker("settings")
    changes = dict(marker.kwargs) if marker else {}
    if "visibility" in changes:
        seconds = changes.pop("visibility")
        changes["visibility_timeouts"] = {w: seconds for w in WORKLOADS}
    base = Settings(
        database_url=database_url,
        aws_endpoint_url=moto_endpoint,
        queue_prefix=f"t{uuid.uuid4().hex[:8]}-",
        bucket=f"t{uuid.uuid4().hex[:8]}-files",
        sqs_wait_time_seconds=1,
        sqs_polling_interval=0.05,
        dlq_sweep_interval=0.5,
        worker_concurrency=1,
        worker_extra_imports=("tests.support.tasks",),
        mail_dir=str(tmp_path / "mail"),
        relay_interval=0,  # a test that wants the web app's relay turns it on
    )
    return replace(base, **changes)


@pytest.fixture
def sqs(settings):
    return aws.client(settings, "sqs")


@pytest.fixture
def queue_urls(settings, sqs):
    return provision(settings, sqs, aws.client(settings, "s3"))


@pytest.fixture
def app(settings):
    return create_app({"TESTING": True}, settings=settings, enqueuer=MemoryEnqueuer())


@pytest.fixture
def client(app):
    """A client of the API signed in as ``local`` (by API token)."""
    return signed_in(app.test_client())


@pytest.fixture
def anonymous(app):
    """A client with no token and no session."""
    return app.test_client()


@pytest.fixture
def live_client(settings, queue_urls):
    """A test client of the web app with its real enqueuer (SQS), as ``local``."""
    return signed_in(create_app({"TESTING": True}, settings=settings).test_client())


@pytest.fixture
def s3(settings):
    return aws.client(settings, "s3")


@pytest.fixture
def start_worker(settings, queue_urls, tmp_path):
    """Start ``python -m worker`` processes; all are stopped after the test."""
    started = []

    def start(name: str | None = None, wait: bool = True, **env_overrides):
        name = name or f"w{len(started) + 1}"
        env = services.python_env(**{**settings.to_env(), "WORKER_NAME": name,
                                     "WORKER_HEALTH_FILE": str(tmp_path / f"{name}.health"),
                                     **env_overrides})
        child = services.spawn(name, [sys.executable, "-m", "worker"], env=env,
                               log_dir=tmp_path / "logs", cwd=str(ROOT))
        started.append(child)
        if wait:
            services.wait_for(lambda: _ready(child), 60, f"worker {name} to be ready")
        return child

    yield start
    for child in started:
        child.stop(timeout=15)


def _ready(child):
    if not child.alive():
        raise services.ChildExited(f"worker {child.name} exited:\n{child.tail()}")
    return " ready." in (child.log_path.read_text(errors="replace") if child.log_path else "")


def _drop_customers(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS customers"))
        conn.execute(text("DROP TABLE IF EXISTS flights"))
        conn.execute(text("DROP FUNCTION IF EXISTS slow_row() CASCADE"))
        conn.execute(text("TRUNCATE import_uploads"))


@pytest.fixture
def clean_imports(engine):
    """No customers or flights table and no recorded uploads, before and after the test."""
    _drop_customers(engine)
    yield
    _drop_customers(engine)  # the schema test compares tables with the models


@pytest.fixture
def root_logger():
    """The root logger, given back as it was (JSON logging takes it over)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
