"""One ZIP of a batch's documents, streamed from S3 to S3.

Each PDF is read from the bucket and written into the ZIP, and the ZIP goes
up as a multipart upload (``tasks.storage``): memory holds a few documents
and one part, however large the batch. The next documents are read while
one is written (``AHEAD`` reads at once), so a batch of 50,000 is bound by
S3's throughput rather than by 50,000 round trips one after another.
"""
from __future__ import annotations

import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

from tasks.storage import MultipartWriter

AHEAD = 8


def build(s3, bucket: str, key: str, members: Iterable[tuple[str, str]],
          check: Callable[[], None] = lambda: None) -> dict:
    """Write a ZIP of ``(name in the ZIP, key of a PDF)`` pairs to ``key``; returns figures.

    ``check`` is called before each document; what it raises (time is up) aborts the upload.
    """
    out = MultipartWriter(s3, bucket, key)
    count = 0
    try:
        # PDFs are compressed already; deflate at level 1 costs little and keeps
        # the archive readable everywhere (stored entries with data descriptors are not).
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
                ThreadPoolExecutor(AHEAD, thread_name_prefix="zip-read") as reads:
            for name, body in _read_ahead(s3, bucket, members, reads):
                check()
                with zf.open(name, "w", force_zip64=True) as member:
                    member.write(body)
                count += 1
        out.complete()
    except BaseException:
        out.abort()
        raise
    return {"documents": count, "bytes": out.written}


def _read_ahead(s3, bucket: str, members: Iterable[tuple[str, str]],
                reads: ThreadPoolExecutor) -> Iterator[tuple[str, bytes]]:
    """``(name, PDF bytes)`` in the members' order, up to ``AHEAD`` reads in flight."""
    pending: deque = deque()
    for name, source in members:
        pending.append((name, reads.submit(_read, s3, bucket, source)))
        if len(pending) >= AHEAD:
            first, read = pending.popleft()
            yield first, read.result()
    while pending:
        first, read = pending.popleft()
        yield first, read.result()


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
