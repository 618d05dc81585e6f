"""The relay: sends the tasks of queued jobs whose send was never confirmed.

A job's pending send is committed with the job (``store.outbox``); its sender
removes it once the message is out. One still there after ``older_than`` seconds
belongs to a process that died between commit and send, or to a send the queue
refused: the relay sends it. Relays in several processes share the work through
row locks (``SKIP LOCKED``), so each pending send is sent by one of them; a
message sent twice anyway (a sender slower than ``older_than``) is harmless, as
the worker's claim runs a job once.

Each web process runs one (``webapp.relay``): the web app is always on, also
while the workers are scaled to zero.
"""
from __future__ import annotations

import logging
import os

from sqlalchemy.orm import Session, sessionmaker

from core import kinds, lifecycle
from core.enqueue import Enqueuer
from core.errors import JobSystemError
from core.periodic import Periodic
from service.submit import give_up
from store import outbox

log = logging.getLogger(__name__)
BATCH = 100


def relay_once(sessions: sessionmaker, enqueuer: Enqueuer, older_than: float,
               batch: int = BATCH) -> int:
    """Send the tasks of up to ``batch`` jobs whose send has been pending longer than
    ``older_than`` seconds; returns how many pending sends it settled (sent, or
    dropped for a job no longer queued). Stops at the first send the queue refuses."""
    with sessions() as session:
        settled = 0
        for job_id, kind, status in outbox.due(session, older_than, batch):
            if status != lifecycle.QUEUED:
                outbox.remove(session, job_id)
            elif not _send(session, enqueuer, job_id, kind):
                break
            settled += 1
        session.commit()
    return settled


def _send(session: Session, enqueuer: Enqueuer, job_id, kind: str) -> bool:
    try:
        enqueuer.send(kinds.lookup(kind), str(job_id))
    except JobSystemError as exc:
        give_up(session, job_id, exc)
        return True
    except Exception as exc:
        log.warning("relay: the queue refused job %s (%s); trying again next round", job_id, exc)
        return False
    outbox.remove(session, job_id)
    log.info("relay: job %s (%s) sent", job_id, kind)
    return True


class Relay:
    """Runs ``relay_once`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, sessions: sessionmaker, enqueuer: Enqueuer, interval: float,
                 older_than: float):
        self.sessions, self.enqueuer, self.older_than = sessions, enqueuer, older_than
        self.pid: int | None = None  # the process it runs in (a fork has no thread)
        self._periodic = Periodic(interval, self._round, name="relay")

    def start(self) -> "Relay":
        """Start the thread; returns self."""
        self.pid = os.getpid()
        self._periodic.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop after the round in progress."""
        self._periodic.stop(timeout)

    def _round(self) -> None:
        # A full batch means more are due: take the next one at once.
        while (relay_once(self.sessions, self.enqueuer, self.older_than) == BATCH
               and not self._periodic.stopping):
            pass
