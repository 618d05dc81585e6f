"""The one place that builds AWS clients, from settings.

An endpoint URL points every client at a local emulator; in AWS there is none.
"""
from __future__ import annotations

import boto3
from botocore.config import Config

from core.settings import Settings

_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})


def client(settings: Settings, service: str, config: Config | None = None):
    """A boto3 client for ``service`` in the configured region and endpoint."""
    return boto3.session.Session().client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_CONFIG.merge(config) if config else _CONFIG,
    )
