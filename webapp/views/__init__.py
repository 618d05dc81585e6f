"""Server-rendered pages for users and operators (the JSON API lives in ``webapp/*.py``)."""
from __future__ import annotations

from flask_login import current_user

# (endpoint, label, operators only) in the order the header shows them.
NAV = [
    ("pages.jobs", "Jobs", False),
    ("auth.tokens", "API tokens", False),
    ("operator.page", "Operations", True),
]


def nav_links() -> list[tuple[str, str]]:
    """The header's links for the signed-in user."""
    operator = current_user.is_authenticated and current_user.is_operator
    return [(endpoint, label) for endpoint, label, only_ops in NAV if operator or not only_ops]


def init_app(app) -> None:
    from webapp.views import account, jobs, operator
    app.register_blueprint(account.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(operator.bp)
    app.jinja_env.globals["nav_links"] = nav_links
