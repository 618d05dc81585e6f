"""The ZIP of a batch, built from PDFs in moto's S3: read ahead in order, and given up
cleanly when its time is up."""
from __future__ import annotations

import io
import zipfile

import pytest

from core.errors import RanTooLong
from tasks.pdf import archive


@pytest.fixture
def bucket(settings, s3, queue_urls):
    keys = [f"pdf/job/{n:06d}.pdf" for n in range(archive.AHEAD * 2 + 3)]
    for n, key in enumerate(keys):
        s3.put_object(Bucket=settings.bucket, Key=key, Body=f"%PDF document {n}".encode())
    return settings.bucket, keys


def test_the_zip_holds_every_document_in_order_however_far_it_reads_ahead(s3, bucket):
    name, keys = bucket
    figures = archive.build(s3, name, "pdf/job/all.zip",
                            ((f"{n:06d}.pdf", key) for n, key in enumerate(keys)))
    assert figures["documents"] == len(keys)
    body = s3.get_object(Bucket=name, Key="pdf/job/all.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.namelist() == [f"{n:06d}.pdf" for n in range(len(keys))]
        assert [zf.read(m) for m in zf.namelist()] == [
            f"%PDF document {n}".encode() for n in range(len(keys))]


def test_a_zip_out_of_time_leaves_no_object_and_no_upload_behind(s3, bucket):
    name, keys = bucket
    looked = []

    def check():
        looked.append(1)
        if len(looked) > 3:
            raise RanTooLong("ran longer than 600 s, the most a pdf_batch job may run")

    with pytest.raises(RanTooLong):
        archive.build(s3, name, "pdf/job/late.zip",
                      ((f"{n:06d}.pdf", key) for n, key in enumerate(keys)), check=check)
    assert "Contents" not in s3.list_objects_v2(Bucket=name, Prefix="pdf/job/late.zip")
    assert not s3.list_multipart_uploads(Bucket=name).get("Uploads")
