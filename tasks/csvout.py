"""The bytes of an export on their way to S3: re-encoding, gzip, parts uploaded in the background.

PostgreSQL writes the CSV (UTF-8); these turn it into what the user asked for
a block at a time, so memory holds a few parts whatever the row count.
"""
from __future__ import annotations

import codecs
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from tasks.storage import MultipartWriter

BOM = codecs.BOM_UTF8
# Characters that Japanese text often holds in their JIS form but that CP932
# (Windows' Shift_JIS) stores as the Microsoft variant: map them, so that a
# wave dash or a minus sign does not count as unwritable.
CP932_VARIANTS = str.maketrans({
    "\u301c": "\uff5e",  # 〜 wave dash → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − minus → －
    "\u00a2": "\uffe0",  # ¢ → ￠
    "\u00a3": "\uffe1",  # £ → ￡
    "\u00ac": "\uffe2",  # ¬ → ￢
    "\u2014": "\u2015",  # — em dash → ―
})


class Encoder:
    """UTF-8 in, the target encoding out (UTF-8 passes through untouched)."""

    def __init__(self, encoding: str, errors: str = "strict"):
        self.encoding, self.errors = encoding, errors
        self._decoder = codecs.getincrementaldecoder("utf-8")() if encoding == "cp932" else None

    def start(self) -> bytes:
        return BOM if self.encoding == "utf-8-sig" else b""

    def encode(self, data: bytes, final: bool = False) -> bytes:
        if self._decoder is None:
            return data
        return to_cp932(self._decoder.decode(data, final), self.errors)


def to_cp932(text: str, errors: str = "strict") -> bytes:
    """Text in CP932; ``errors="strict"`` raises ``UnicodeEncodeError`` at the first unwritable character."""
    return text.translate(CP932_VARIANTS).encode("cp932", errors)


class Gzip:
    """A gzip stream, a block at a time."""

    def __init__(self, level: int = 6):
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def encode(self, data: bytes, final: bool = False) -> bytes:
        out = self._z.compress(data)
        return out + self._z.flush() if final else out


class Passthrough:
    def encode(self, data: bytes, final: bool = False) -> bytes:
        return data


class BackgroundUpload(MultipartWriter):
    """A multipart upload whose parts go up on a thread while the caller makes the next.

    At most ``ahead`` parts wait in memory; a failed part surfaces at the next write.
    """

    def __init__(self, *args, ahead: int = 1, **kwargs):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-part")
        self._pending: deque = deque()
        self.ahead = ahead
        super().__init__(*args, **kwargs)

    def _upload(self, data: bytes) -> None:
        number = len(self.parts) + len(self._pending) + 1
        future = self._pool.submit(self.s3.upload_part, Bucket=self.bucket, Key=self.key,
                                   UploadId=self.upload_id, PartNumber=number, Body=data)
        self._pending.append((number, future))
        while len(self._pending) > self.ahead:
            self._collect()

    def _collect(self) -> None:
        number, future = self._pending.popleft()
        self.parts.append({"PartNumber": number, "ETag": future.result()["ETag"]})

    def complete(self) -> None:
        if self.buffer or not (self.parts or self._pending):
            self._upload(bytes(self.buffer))
            self.buffer.clear()
        while self._pending:
            self._collect()
        self._pool.shutdown()
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                          UploadId=self.upload_id,
                                          MultipartUpload={"Parts": self.parts})

    def abort(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._pending.clear()
        super().abort()
