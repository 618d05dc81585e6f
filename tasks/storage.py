"""What task code shares to reach S3 and SQS: a process's boto3 clients and a
stream that uploads itself as an S3 multipart upload.

Kept apart from the PDF renderer so that a worker taking only exports or
imports never loads WeasyPrint.
"""
from __future__ import annotations

import io

from core import aws
from core.settings import Settings

_clients: dict[str, object] = {}


def client(settings: Settings, service: str):
    """This process's boto3 client for ``service``."""
    # Made on first use, so after the fork: a pool process must not share
    # its parent's connections.
    if service not in _clients:
        _clients[service] = aws.client(settings, service)
    return _clients[service]


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
