"""gunicorn's own lines in LOG_FORMAT like the app's: with ``json`` its master's (boot,
worker timeouts and crashes) too, not only its workers' (``gunicorn.conf.py`` names it)."""
from __future__ import annotations

from gunicorn.glogging import Logger as GunicornLogger

from core import logs
from core.settings import Settings


class Logger(GunicornLogger):
    """gunicorn's logger, pointed at the one JSON handler when ``LOG_FORMAT=json``."""

    def setup(self, cfg):
        super().setup(cfg)
        settings = Settings.from_env()
        if settings.log_format == "json":
            logs.configure(settings, "web", loggers=(self.error_log.name, self.access_log.name))
