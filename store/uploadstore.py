"""Uploads the API handed out for import: who may import a key, into which dataset, how.

The upload notification and the client's own "upload complete" call both find
the import's owner and options here by the object's key. Nothing here commits.
"""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import ImportUpload


def record_upload(session: Session, *, key: str, owner: str, dataset: str,
                  options: dict) -> None:
    """Remember who may import ``key``, into which dataset, with which options."""
    session.execute(insert(ImportUpload).values(key=key, owner=owner, dataset=dataset,
                                                options=options)
                    .on_conflict_do_nothing(index_elements=["key"]))


def upload(session: Session, key: str) -> ImportUpload | None:
    """The recorded upload of ``key``, or None."""
    return session.get(ImportUpload, key)
