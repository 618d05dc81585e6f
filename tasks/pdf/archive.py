"""One ZIP of a batch's documents, streamed from S3 to S3.

Each PDF is read from the bucket and written into the ZIP, and the ZIP goes
up as a multipart upload (``tasks.storage``): memory holds one document
and one part, however large the batch.
"""
from __future__ import annotations

import zipfile
from typing import Iterable

from tasks.storage import MultipartWriter


def build(s3, bucket: str, key: str, members: Iterable[tuple[str, str]]) -> dict:
    """Write a ZIP of ``(name in the ZIP, key of a PDF)`` pairs to ``key``; returns figures."""
    out = MultipartWriter(s3, bucket, key)
    count = 0
    try:
        # PDFs are compressed already; deflate at level 1 costs little and keeps
        # the archive readable everywhere (stored entries with data descriptors are not).
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, source in members:
                body = s3.get_object(Bucket=bucket, Key=source)["Body"]
                with zf.open(name, "w", force_zip64=True) as member:
                    for piece in body.iter_chunks(256 * 1024):
                        member.write(piece)
                count += 1
        out.complete()
    except BaseException:
        out.abort()
        raise
    return {"documents": count, "bytes": out.written}
