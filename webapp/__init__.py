"""The Flask web app: a JSON API that records jobs and queues them in milliseconds."""
from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core import logs
from core.settings import Settings
from store.db import engine_options
from webapp.extensions import db, migrate


def create_app(test_config: dict | None = None, *, settings: Settings | None = None,
               enqueuer=None) -> Flask:
    """Build the app from settings (read from the environment unless given)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.require_database(),
        # The workers' session settings: a request whose process is killed (a
        # server's worker timeout) must not leave its statement running either.
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.require_database()),
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
    )
    if settings.trusted_proxies:
        # The client's address and scheme as the load balancer saw them; with no proxy
        # configured, a client's own X-Forwarded-For is ignored.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    if test_config:
        app.config.update(test_config)
    app.extensions["jobsys.settings"] = settings
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())

    from broker.enqueue import CeleryEnqueuer
    app.extensions["jobsys.enqueuer"] = enqueuer or CeleryEnqueuer(settings)

    from webapp import (api, auth, cli, documents, errors, exports, headers, health, i18n,
                        imports, jobstats, openapi, queues, relay, requestids, uploads,
                        views)
    requestids.init_app(app)  # first, so that every later hook's lines carry the id
    headers.init_app(app)
    auth.init_app(app, settings)
    i18n.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(queues.bp)
    app.register_blueprint(jobstats.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    views.init_app(app)
    errors.init_app(app)
    relay.init_app(app, settings)
    app.cli.add_command(cli.users)
    if not app.debug:
        # gunicorn's access and error lines go through the same handler.
        logs.configure(settings, "web", loggers=("gunicorn.access", "gunicorn.error"))
    return app


def _migrations_dir() -> str:
    import os
    return os.path.join(os.path.dirname(__file__), "migrations")
