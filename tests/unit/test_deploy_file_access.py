"""Every key the code writes in the bucket is one its role may write, and the web app
may read (presign, HEAD) every file it hands out: the keys come from the code itself."""
from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from core import csvimport, exports, filekeys, pdfbatch
from deploy.names import BUCKET_NAME
from tests.support.stack import listed, statements

JOB = "0f8b4c1e-2f53-4f6e-9d64-1a7e7c5b2a90"
#: The workers write these (documents, archives, exports, import error reports).
GENERATED = {"document": pdfbatch.document_key(JOB, 7), "archive": pdfbatch.archive_key(JOB),
             "export": exports.export_key(JOB, "customers", gzip=True),
             "error report": csvimport.report_key(JOB)}
#: The web app writes these, or signs a browser's upload of them; workers read them.
UPLOADED = {"import upload": csvimport.upload_key("customers", "list.csv"),
            "recipients": pdfbatch.recipients_key("people.csv", "alice@example.com")}


def may(role: str, action: str, key: str) -> bool:
    """Whether ``role`` may do the S3 ``action`` on ``key`` in the files bucket."""
    for s in statements(role):
        if action not in listed(s["Action"]):
            continue
        for resource in listed(s["Resource"]):
            text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else resource
            _, sep, pattern = text.partition(BUCKET_NAME + "/")
            if sep and fnmatchcase(key, pattern):
                return True
    return False


def test_every_key_starts_with_a_prefix_the_code_declares():
    for key in {**GENERATED, **UPLOADED}.values():
        assert key.startswith(filekeys.ALL), key


@pytest.mark.parametrize("what", sorted(GENERATED))
def test_the_worker_writes_and_the_web_app_reads_each_generated_file(what):
    key = GENERATED[what]
    assert may("WorkerTaskRole", "s3:PutObject", key), key
    assert may("WorkerTaskRole", "s3:GetObject", key), key
    assert may("WebTaskRole", "s3:GetObject", key), key
    assert not may("WebTaskRole", "s3:PutObject", key), key


@pytest.mark.parametrize("what", sorted(UPLOADED))
def test_the_web_app_writes_and_the_worker_reads_each_upload(what):
    key = UPLOADED[what]
    assert may("WebTaskRole", "s3:PutObject", key), key
    assert may("WebTaskRole", "s3:GetObject", key), key
    assert may("WorkerTaskRole", "s3:GetObject", key), key


def test_the_import_lambda_reads_no_file():
    # It finds the upload's record in the database; the worker reads the file.
    assert not may("ImportUploadRole", "s3:GetObject", UPLOADED["import upload"])
    assert not may("ImportUploadRole", "s3:GetObject", UPLOADED["recipients"])
    assert not may("ImportUploadRole", "s3:GetObject", GENERATED["error report"])


def test_no_role_reaches_outside_the_declared_prefixes():
    for role in ("WorkerTaskRole", "WebTaskRole", "ImportUploadRole"):
        assert not may(role, "s3:GetObject", "elsewhere/file.csv"), role
        assert not may(role, "s3:PutObject", "elsewhere/file.csv"), role
