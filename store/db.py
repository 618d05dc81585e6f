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

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine(url: str) -> Engine:
    """This process's engine for ``url`` (made on first use, then kept)."""
    with _lock:
        if url not in _engines:
            _engines[url] = create_engine(url, pool_pre_ping=True)
        return _engines[url]


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
