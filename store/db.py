"""Database sessions without a web framework: one engine per URL and process,
sessions that keep their rows readable after commit (as the web app's do).

    sessions = db.sessions(settings.require_database())
    with db.unit_of_work(sessions) as session:
        jobstore.touch(session, ids)      # committed when the block ends
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[str, Engine] = {}
_lock = threading.Lock()

#: Server settings of every session, web and worker alike. A killed process's
#: statement would otherwise run on (holding its locks and its import slot) until
#: it next writes to the dead socket; the server now looks every 2 s. A client
#: that hangs inside a transaction loses it after 5 minutes, long past any pause
#: between a task's statements.
SESSION_SETTINGS = {"client_connection_check_interval": "2s",
                    "idle_in_transaction_session_timeout": "5min"}


def session_options(existing: str | None = None) -> str:
    """libpq's ``options``: ours, then any the URL gave (which win where both set one)."""
    ours = " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())
    return f"{ours} {existing}" if existing else ours


def engine_options(url: str) -> dict:
    """``create_engine`` keywords for ``url`` (the web app's Flask-SQLAlchemy takes them too)."""
    existing = make_url(url).query.get("options")
    return {"pool_pre_ping": True, "connect_args": {"options": session_options(existing)}}


def engine(url: str) -> Engine:
    """This process's engine for ``url`` (made on first use, then kept)."""
    with _lock:
        if url not in _engines:
            _engines[url] = create_engine(url, **engine_options(url))
        return _engines[url]


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A plain psycopg connection to ``url`` (either URL form), with the sessions' settings."""
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    existing = conninfo_to_dict(plain).get("options")
    return psycopg.connect(plain, options=session_options(existing), **kwargs)


def sessions(url: str) -> sessionmaker[Session]:
    """A session factory on this process's engine for ``url``."""
    return sessionmaker(engine(url), expire_on_commit=False)


def dispose_all() -> None:
    """Forget inherited connections (a forked pool child must open its own)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose(close=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose changes are committed when the block ends without error
    (and rolled back when it raises)."""
    with factory() as session:
        yield session
        session.commit()
