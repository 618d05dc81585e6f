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
from urllib.parse import urlsplit

from flask import current_app, request

from webapp.documents import s3_client

log = logging.getLogger(__name__)
HSTS = "max-age=31536000"
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
    """The origin of the bucket's presigned uploads (presigning sends no request)."""
    ext = current_app.extensions
    if "jobsys.upload_origin" not in ext:
        try:
            url = s3_client().generate_presigned_post(
                Bucket=ext["jobsys.settings"].bucket, Key="origin")["url"]
        except Exception as exc:  # no credentials yet: uploads cannot work either
            log.warning("uploads are not allowed by the pages' policy: %s", exc)
            return None
        parts = urlsplit(url)
        ext["jobsys.upload_origin"] = f"{parts.scheme}://{parts.netloc}"
    return ext["jobsys.upload_origin"]
