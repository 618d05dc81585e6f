"""Where files live in the bucket: one key prefix per kind of file.

Every key the product makes starts with one of these, and the stack's roles
allow these prefixes only (deploy/names.py), so a new kind of file is added here.
"""
from __future__ import annotations

PDF = "pdf/"
IMPORTS = "imports/"
EXPORTS = "exports/"
REPORTS = "reports/"
#: Every prefix of a file the product keeps.
ALL = (PDF, IMPORTS, EXPORTS, REPORTS)
#: Uploaded recipients files of PDF batches (with their PDFs, under their retention).
RECIPIENTS = PDF + "recipients/"
#: What the web app uploads (and signs browsers' uploads to): import files, recipients files.
UPLOADS = (IMPORTS, RECIPIENTS)
