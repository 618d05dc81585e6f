"""The pages that start jobs: a PDF batch, a CSV import, an export.

Each page is a form its script (``static/start.js``) sends to the JSON API:
files go straight to the bucket through a presigned POST (with a progress
bar), then the job is created and the browser moves to the job's page.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user, login_required

from core import csvimport, exports, pdfbatch
from core.errors import ConfigurationError
from core.exportspecs import available, load_export_spec

bp = Blueprint("start", __name__)

#: The columns each template's recipients CSV needs (a test keeps them equal to the
#: templates' sample data); ``items_json`` holds the statement's table as JSON.
TEMPLATE_COLUMNS = {
    "letter": ("name", "date", "subject", "body"),
    "statement": ("name", "address", "invoice_number", "issue_date", "due_date", "items_json"),
}
IMPORT_ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932")


@bp.get("/pdf/new")
@login_required
def new_pdf():
    """Start a PDF batch: a template and recipients from a CSV file or a table."""
    settings = current_app.extensions["jobsys.settings"]
    # A table holds every user's records: only operators' batches may read one.
    tables = settings.pdf_source_tables if current_user.is_operator else ()
    return render_template("start/pdf.html", templates=pdfbatch.TEMPLATES,
                           columns=TEMPLATE_COLUMNS, tables=tables)


@bp.get("/imports/new")
@login_required
def new_import():
    """Upload a CSV file for import into a dataset."""
    settings = current_app.extensions["jobsys.settings"]
    return render_template("start/import.html", encodings=IMPORT_ENCODINGS,
                           max_bytes=settings.import_max_bytes,
                           max_bad_rows=csvimport.MAX_BAD_ROWS)


@bp.get("/exports/new")
@login_required
def new_export():
    """Export a dataset to a CSV file: columns, filters, encoding, gzip."""
    return render_template("start/export.html", datasets=export_datasets(),
                           encodings=exports.ENCODINGS)


def export_datasets() -> list[dict]:
    """What the export form offers: each dataset's columns, types and filters."""
    out = []
    for name in available():
        try:
            spec = load_export_spec(name)
        except ConfigurationError:
            continue  # a broken spec file is reported when an export names it
        if spec.operators_only and not current_user.is_operator:
            continue
        out.append({"name": spec.name, "description": spec.description,
                    "columns": [{"name": c.name, "type": c.type, "filters": list(c.filters)}
                                for c in spec.columns]})
    return out
