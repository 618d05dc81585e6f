"""The relay (``service.relay``) in each web process.

The web app's processes are always on, also while the workers are scaled to zero,
and already reach both PostgreSQL and SQS: each runs a relay thread, so that a
job whose task was never sent is sent within ``RELAY_AFTER_SECONDS +
RELAY_INTERVAL``. The thread starts with the process's first request, not in
``create_app``: a forked server process (gunicorn) must start its own, and
commands and tests that build an app serve no requests.
"""
from __future__ import annotations

import os
import threading

from flask import Flask
from sqlalchemy.orm import sessionmaker

from core.settings import Settings
from service.relay import Relay
from webapp.extensions import db

KEY = "jobsys.relay"


def init_app(app: Flask, settings: Settings) -> None:
    """Start the relay at this process's first request (unless ``RELAY_INTERVAL`` is 0)."""
    if settings.relay_interval <= 0:
        return
    lock = threading.Lock()

    def running() -> bool:
        relay = app.extensions.get(KEY)
        return relay is not None and relay.pid == os.getpid()

    @app.before_request
    def start_relay():
        if running():
            return
        with lock:
            if not running():
                sessions = sessionmaker(db.engine, expire_on_commit=False)
                app.extensions[KEY] = Relay(sessions, app.extensions["jobsys.enqueuer"],
                                            settings.relay_interval,
                                            settings.relay_after_seconds).start()
