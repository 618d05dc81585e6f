"""One ZIP of a batch's documents, streamed from S3 to S3.

Each PDF is read from the bucket and written into the ZIP, and the ZIP goes
up as a multipart upload in parts of ``PART_BYTES``: memory holds one document
and one part, however large the batch.
"""
from __future__ import annotations

import io
import zipfile
from typing import Iterable

PART_BYTES = 8 * 1024 * 1024  # S3 parts must be >= 5 MiB, except the last


class MultipartWriter(io.RawIOBase):
    """A write-only stream that uploads itself to S3 in parts; ``close`` completes it."""

    def __init__(self, s3, bucket: str, key: str, part_bytes: int = PART_BYTES,
                 content_type: str = "application/zip", **extra):
        self.s3, self.bucket, self.key, self.part_bytes = s3, bucket, key, part_bytes
        self.upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type, **extra)["UploadId"]
        self.parts: list[dict] = []
        self.buffer = bytearray()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        self.written += len(data)
        while len(self.buffer) >= self.part_bytes:
            with memoryview(self.buffer) as view:  # one copy of the part, not two
                part = bytes(view[:self.part_bytes])
            del self.buffer[:self.part_bytes]
            self._upload(part)
        return len(data)

    def complete(self) -> None:
        """Upload what is left and assemble the object."""
        if self.buffer or not self.parts:
            self._upload(bytes(self.buffer))
            self.buffer.clear()
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                          UploadId=self.upload_id,
                                          MultipartUpload={"Parts": self.parts})

    def abort(self) -> None:
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)

    def _upload(self, data: bytes) -> None:
        number = len(self.parts) + 1
        etag = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                   PartNumber=number, Body=data)["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})


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
