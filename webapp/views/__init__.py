"""Server-rendered pages for users and operators (the JSON API lives in ``webapp/*.py``)."""
from __future__ import annotations

from flask_login import current_user

# (endpoint, label, operators only) in the order the header shows them.
NAV = [
    ("pages.jobs", "Jobs", False),
    ("start.new_pdf", "New PDF batch", False),
    ("start.new_import", "Import a CSV", False),
    ("start.new_export", "New export", False),
    ("auth.tokens", "API tokens", False),
    ("operator.page", "Operations", True),
]
#: How each job kind is named on the pages (English; translated in the catalog).
KIND_LABELS = {"pdf_batch": "PDF batch", "csv_import": "CSV import", "export": "Export",
               "canary": "Canary"}


def kind_labels() -> dict[str, str]:
    """Every kind's name on the pages, in the page's language."""
    from webapp.i18n import gettext
    return {kind: gettext(label) for kind, label in KIND_LABELS.items()}


def nav_links() -> list[tuple[str, str]]:
    """The header's links for the signed-in user."""
    operator = current_user.is_authenticated and current_user.is_operator
    return [(endpoint, label) for endpoint, label, only_ops in NAV if operator or not only_ops]


def init_app(app) -> None:
    from webapp.views import account, jobs, operator, start
    app.register_blueprint(account.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(start.bp)
    app.register_blueprint(operator.bp)
    app.jinja_env.globals.update(nav_links=nav_links, kind_labels=kind_labels)
