"""What a job may name: the one check every way of starting a job goes through.

A job's params may name things its owner must be allowed to read: an uploaded
file (a csv_import's ``key``, a pdf_batch's ``csv``), a table of everyone's
records (a pdf_batch's ``table``), a dataset of everyone's records (an
``operators_only`` export). Operators may name any of them; a user only their
own uploads and the datasets meant for users. ``service.submit`` calls ``check``
for every job it records, whoever asks (the API, the upload notification, a
schedule), and a worker may call it again before it reads.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy.orm import Session

from core import csvimport, exports, pdfbatch
from core.errors import Forbidden
from core.exportspecs import load_export_spec
from store import accounts, uploadstore


def check(session: Session, kind: str, owner: str, params: dict) -> None:
    """Raise ``Forbidden`` when ``params`` (validated) name what ``owner`` may not read."""
    rule = _RULES.get(kind)
    if rule is not None and not accounts.is_operator(session, owner):
        rule(session, owner, params)


def _pdf_batch(session: Session, owner: str, params: dict) -> None:
    if "table" in params:
        raise Forbidden("params.table", "only operators may start a batch from a table: it "
                        "holds every user's records; upload a CSV of your recipients "
                        "(POST /api/pdf/uploads) and name it in params.csv")
    own = pdfbatch.recipients_prefix(owner)
    if "csv" in params and not params["csv"].startswith(own):
        raise Forbidden("params.csv", f"a batch may read only recipients files you uploaded "
                        f"(keys under {own}; POST /api/pdf/uploads gives one)")


def _csv_import(session: Session, owner: str, params: dict) -> None:
    record = uploadstore.upload(session, params["key"])
    if record is None or record.owner != owner:
        raise Forbidden("params.key", "an import may read only a file you uploaded; "
                        "POST /api/imports/uploads gives you a key")


def _export(session: Session, owner: str, params: dict) -> None:
    if load_export_spec(params["dataset"]).operators_only:
        raise Forbidden("params.dataset", f"only operators may export "
                        f"{params['dataset']!r}: it holds every user's records")


_RULES: dict[str, Callable[[Session, str, dict], None]] = {
    pdfbatch.KIND: _pdf_batch,
    csvimport.KIND: _csv_import,
    exports.KIND: _export,
}
