"""The one place that builds AWS clients, from settings.

An endpoint URL points every client at a local emulator; in AWS there is none.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import boto3
from botocore.config import Config

from core.settings import Settings

_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})
#: botocore still presigns S3 URLs and POSTs with Signature Version 2 by default, which
#: regions opened since 2014 and KMS-encrypted objects refuse; SigV4 works everywhere.
_S3_CONFIG = Config(signature_version="s3v4")


def client(settings: Settings, service: str, config: Config | None = None):
    """A boto3 client for ``service`` in the configured region and endpoint."""
    base = _CONFIG.merge(_S3_CONFIG) if service == "s3" else _CONFIG
    return boto3.session.Session().client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=base.merge(config) if config else base,
    )


def presigned_get(s3, bucket: str, key: str, filename: str, content_type: str,
                  seconds: int) -> tuple[str, str]:
    """A GET URL for ``key`` that downloads as ``filename``; and when it expires (ISO 8601)."""
    url = s3.generate_presigned_url("get_object", ExpiresIn=seconds, Params={
        "Bucket": bucket, "Key": key, "ResponseContentType": content_type,
        "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}"})
    return url, (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()
