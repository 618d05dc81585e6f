"""Security headers on every response, set in one place.

The pages run only their own scripts and styles (``static/``; the JSON a page embeds
is ``type="application/json"``, which no browser runs), so the policy allows no
inline code. Their one request elsewhere is the upload straight to the bucket, whose
origin is allowed to ``connect-src``. HSTS is sent only on a request that came over
HTTPS (as ProxyFix reads it behind the load balancer): a plain-HTTP stack must not
pin browsers to a scheme it does not serve.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import current_app, request

from webapp.documents import s3_client

log = logging.getLogger(__name__)
HSTS = "max-age=31536000"
RETRY_SECONDS = 60
FIXED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Same-origin requests keep their Referer: Flask-WTF checks it on HTTPS.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def content_security_policy(upload_origin: str | None) -> str:
    """The pages' policy; ``upload_origin`` is where their scripts may send files."""
    connect = "'self'" + (f" {upload_origin}" if upload_origin else "")
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'",
        "img-src 'self' data:", f"connect-src {connect}", "object-src 'none'",
        "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"])


def init_app(app) -> None:
    app.after_request(add_headers)


def add_headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                content_security_policy(_upload_origin()))
    for name, value in FIXED.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _upload_origin() -> str | None:
    """The origin of the bucket's presigned uploads (presigning sends no request; without
    credentials it fails, and is tried again a minute later rather than on every request)."""
    ext = current_app.extensions
    known = ext.get("jobsys.upload_origin")
    if known is None or (known[0] is None and time.monotonic() - known[1] > RETRY_SECONDS):
        known = ext["jobsys.upload_origin"] = (
            _presign_origin(ext["jobsys.settings"].bucket), time.monotonic())
    return known[0]


def _presign_origin(bucket: str) -> str | None:
    try:
        url = s3_client().generate_presigned_post(Bucket=bucket, Key="origin")["url"]
    except Exception as exc:  # no credentials: uploads cannot work either
        log.warning("uploads are not allowed by the pages' policy for now: %s", exc)
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
